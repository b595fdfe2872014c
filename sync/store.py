"""Persistence of sync: apply a push through the merge engine, page the change feed, conflicts.

Tables live on `SyncBase`: stored verdicts by `mutation_id` (idempotent replay), the conflict
queue, purged ids (tombstones that outlive their rows), blob metadata and device clock skew.
Nothing here commits: the request (or the caller's unit of work) is the commit point.
"""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    TypeDecorator,
    and_,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from sync.changes import Change, SyncBase, pull_horizon
from sync.entities import RejectionError
from sync.merge import (
    MergeResult,
    Resolution,
    ServerRecord,
    Writes,
    merge,
    resolve_conflict,
    unknown_entity,
)
from sync.protocol import (
    FieldConflict,
    Mutation,
    PushBatch,
    RejectReason,
    Verdict,
    VerdictKind,
    format_time,
    parse_time,
)
from sync.registry import EntityAdapter, Registry, SyncActor

# A device clock further off than this is corrected (and the correction flagged).
SKEW_TOLERANCE = timedelta(seconds=30)
MAX_PULL_LIMIT = 1000


class UTCTime(TypeDecorator[datetime]):
    """Aware UTC timestamps on both backends (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SyncError(Exception):
    """A request the sync service refuses as a whole; rendered as problem+json."""

    def __init__(self, status: int, slug: str, title: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail, self.extra = (
            status,
            slug,
            title,
            detail,
            extra,
        )


class StoredMutation(SyncBase):
    """The verdict of one mutation, kept so a replay gets the same answer."""

    __tablename__ = "sync_mutations"

    mutation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    device: Mapped[str] = mapped_column(String(120), index=True)
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(36), index=True)
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCTime())
    device_occurred_at: Mapped[datetime | None] = mapped_column(UTCTime())
    clock_corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCTime())


class SyncConflict(SyncBase):
    """A field (or set key) both sides changed to different values; the server value stands."""

    __tablename__ = "sync_conflicts"
    __table_args__ = (Index("ix_sync_conflicts_status_department", "status", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(36), index=True)
    field: Mapped[str] = mapped_column(String(128))
    key: Mapped[str | None] = mapped_column(String(64))
    server_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    client_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    mutation_id: Mapped[str] = mapped_column(String(36), index=True)
    device: Mapped[str] = mapped_column(String(120))
    department_id: Mapped[int | None] = mapped_column(Integer)
    crew_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCTime())
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolved_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCTime())

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form."""
        return {
            "id": self.id,
            "entity": self.entity,
            "record_id": self.record_id,
            "field": self.field,
            "key": self.key,
            "server": self.server_value,
            "client": self.client_value,
            "mutation_id": self.mutation_id,
            "device": self.device,
            "status": self.status,
            "created_at": format_time(self.created_at),
            "resolution": self.resolution,
            "resolved_value": self.resolved_value,
            "resolved_by": self.resolved_by,
            "resolved_at": None if self.resolved_at is None else format_time(self.resolved_at),
        }


class Tombstone(SyncBase):
    """An id whose row was purged: a stale device's create or update must not bring it back."""

    __tablename__ = "sync_tombstones"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purged_at: Mapped[datetime] = mapped_column(UTCTime())
    purged_by: Mapped[str] = mapped_column(String(120))


class BlobRecord(SyncBase):
    """A content-addressed blob: how much has arrived, and what was read from it."""

    __tablename__ = "sync_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCTime())
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCTime())
    updated_at: Mapped[datetime] = mapped_column(UTCTime())


class DeviceClock(SyncBase):
    """One clock-skew estimate: server receive time minus the device's `sent_at`."""

    __tablename__ = "sync_device_clocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(120), index=True)
    batch_id: Mapped[str] = mapped_column(String(36))
    sent_at: Mapped[datetime] = mapped_column(UTCTime())
    received_at: Mapped[datetime] = mapped_column(UTCTime())
    skew_seconds: Mapped[float] = mapped_column(Float)
    corrected: Mapped[bool] = mapped_column(Boolean)


# ---------------------------------------------------------------------------- wire <-> columns


def to_wire(value: object) -> object:
    """Return a column value as JSON data (UUIDs and times as strings)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    return value


def _python_type(adapter: EntityAdapter, name: str) -> type[Any] | None:
    column_type = adapter.model.__table__.columns[name].type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        python_type: type[Any] = column_type.python_type
    except NotImplementedError:
        return None
    return python_type


def from_wire(adapter: EntityAdapter, name: str, value: object) -> object:
    """Return a normalised wire value as the column's Python value."""
    if value is None:
        return None
    python_type = _python_type(adapter, name)
    if python_type is uuid.UUID:
        return uuid.UUID(str(value))
    if python_type is datetime:
        return parse_time(value)
    return value


def record_fields(adapter: EntityAdapter, record: Any) -> dict[str, object]:
    """Return the spec fields of a record as wire values."""
    if adapter.read is not None:
        return adapter.read(record)
    return {name: to_wire(getattr(record, name)) for name in adapter.spec.fields}


def record_scope(adapter: EntityAdapter, record: Any) -> tuple[int | None, int | None]:
    """Return the (department, crew) a record is visible in."""
    dept_col, crew_col = adapter.scope_columns
    dept = getattr(record, dept_col, None) if dept_col else None
    crew = getattr(record, crew_col, None) if crew_col else None
    return dept, crew


def server_record(adapter: EntityAdapter, record: Any, writer: str | None) -> ServerRecord:
    """Build the merge engine's view of a stored record.

    `field_versions` holds, beside the plain field versions written by the change feed,
    `field.key` versions of set keys and `@field` / `@field.key` writers. A field last written
    by the same `writer` counts as unchanged: a device's own earlier write is not a concurrent
    change (that write was itself merged against everything before it).
    """
    stored: Mapping[str, Any] = record.field_versions or {}
    versions: dict[str, int] = {}
    keys: dict[str, dict[str, int]] = {}
    for name, value in stored.items():
        if name.startswith("@"):
            continue
        own = writer is not None and stored.get("@" + name) == writer
        version = 0 if own else int(value)
        if "." in name:
            field_name, key = name.split(".", 1)
            keys.setdefault(field_name, {})[key] = version
        else:
            versions[name] = version
    return ServerRecord(
        id=record.id,
        version=int(record.version),
        fields=record_fields(adapter, record),
        field_versions=versions,
        key_versions=keys,
        deleted=bool(record.deleted),
    )


def store_writes(
    session: Session, adapter: EntityAdapter, record: Any, writes: Writes, writer: str
) -> None:
    """Write merged values into a record and note the writer of each field and set key."""
    for name, value in writes.values.items():
        setattr(record, name, from_wire(adapter, name, value))
    session.flush()  # the change feed assigns the version here
    extra: dict[str, object] = {"@" + name: writer for name in writes.values}
    for name, changed in writes.changed_keys.items():
        for key in changed:
            extra[f"{name}.{key}"] = record.version
            extra[f"@{name}.{key}"] = writer
    record.field_versions = {**(record.field_versions or {}), **extra}


# --------------------------------------------------------------------------------------- push


@dataclass(frozen=True)
class PushOutcome:
    """The verdicts of a push and the clock estimate it was applied with."""

    verdicts: tuple[Verdict | dict[str, object], ...]
    skew_seconds: float
    clock_corrected: bool

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready reply."""
        return {
            "verdicts": [v if isinstance(v, dict) else v.to_wire() for v in self.verdicts],
            "clock": {"skew_seconds": self.skew_seconds, "corrected": self.clock_corrected},
        }


@dataclass
class _Context:
    session: Session
    actor: SyncActor
    registry: Registry
    batch: PushBatch
    now: datetime
    skew: timedelta
    corrected: bool
    # In order: a stored verdict (replay) or what was decided, finished after the flush.
    entries: list[dict[str, object] | tuple[Mutation, MergeResult, Any]] = field(
        default_factory=list
    )
    stored: dict[str, StoredMutation] = field(default_factory=dict)
    loaded: dict[tuple[str, str], Any] = field(default_factory=dict)
    tombstones: set[tuple[str, str]] = field(default_factory=set)
    touched: set[tuple[str, str]] = field(default_factory=set)
    key_writes: list[tuple[Any, Writes]] = field(default_factory=list)


def push(
    session: Session, actor: SyncActor, batch: PushBatch, *, registry: Registry, now: datetime
) -> PushOutcome:
    """Apply a validated batch mutation by mutation; the caller commits all of it or nothing.

    Records, stored verdicts and tombstones are read in one query each and written in one
    flush; a record touched twice in a batch is flushed before its second merge.
    """
    skew = now - batch.sent_at
    corrected = abs(skew) > SKEW_TOLERANCE
    session.add(
        DeviceClock(
            device=actor.name,
            batch_id=str(batch.batch_id),
            sent_at=batch.sent_at,
            received_at=now,
            skew_seconds=skew.total_seconds(),
            corrected=corrected,
        )
    )
    ctx = _Context(session, actor, registry, batch, now, skew, corrected)
    _prefetch(ctx)
    for mutation in batch.mutations:
        _apply_one(ctx, mutation)
    _flush(ctx)
    verdicts = [_finish(ctx, entry) for entry in ctx.entries]
    session.flush()
    return PushOutcome(tuple(verdicts), round(skew.total_seconds(), 3), corrected)


def _prefetch(ctx: _Context) -> None:
    session, mutations = ctx.session, ctx.batch.mutations
    ids = [str(m.mutation_id) for m in mutations]
    query = select(StoredMutation).where(StoredMutation.mutation_id.in_(ids))
    ctx.stored = {s.mutation_id: s for s in session.scalars(query)}
    lock = session.get_bind().dialect.name == "postgresql"
    by_entity: dict[str, set[uuid.UUID]] = {}
    for mutation in mutations:
        if ctx.registry.get(mutation.entity) is not None:
            by_entity.setdefault(mutation.entity, set()).add(mutation.id)
    for entity, record_ids in by_entity.items():
        adapter = ctx.registry.adapters[entity]
        model = adapter.model
        records: Any = select(model).where(model.id.in_(sorted(record_ids)))
        records = records.execution_options(populate_existing=True).order_by(model.id)
        # Locked in id order, so two concurrent pushes cannot deadlock on the same records.
        for record in session.scalars(records.with_for_update() if lock else records):
            ctx.loaded[(entity, str(record.id))] = record
        missing = [str(i) for i in record_ids if (entity, str(i)) not in ctx.loaded]
        if missing:
            gone = select(Tombstone.record_id).where(
                Tombstone.entity == entity, Tombstone.record_id.in_(missing)
            )
            ctx.tombstones.update((entity, r) for r in session.scalars(gone))


def _flush(ctx: _Context) -> None:
    """Flush (the change feed numbers the writes), then note set-key versions."""
    ctx.session.flush()
    for record, writes in ctx.key_writes:
        extra: dict[str, object] = {}
        for name, changed in writes.changed_keys.items():
            for key in changed:
                extra[f"{name}.{key}"] = record.version
        record.field_versions = {**(record.field_versions or {}), **extra}
    ctx.key_writes.clear()


def _occurred(ctx: _Context, mutation: Mutation) -> datetime:
    """Return the mutation's time on the server clock; never later than now."""
    if mutation.occurred_at is None:
        return ctx.now
    moment = mutation.occurred_at + ctx.skew if ctx.corrected else mutation.occurred_at
    return min(moment, ctx.now)


def _apply_one(ctx: _Context, mutation: Mutation) -> None:
    stored = ctx.stored.get(str(mutation.mutation_id))
    if stored is not None:
        original = stored.verdict["verdict"]
        ctx.entries.append(
            {**stored.verdict, "verdict": VerdictKind.DUPLICATE.value, "original": original}
        )
        return
    adapter = ctx.registry.get(mutation.entity)
    record: Any = None
    if adapter is None:
        result = unknown_entity(mutation)
    else:
        record, result = _judge(ctx, adapter, mutation)
    if adapter is not None and result.kind is not VerdictKind.REJECTED:
        try:
            record = _write(ctx, adapter, mutation, record, result)
        except RejectionError as exc:
            result = MergeResult.rejected(exc.reason, exc.detail)
        else:
            ctx.touched.add((mutation.entity, str(mutation.id)))
    ctx.entries.append((mutation, result, record))


def _finish(
    ctx: _Context, entry: dict[str, object] | tuple[Mutation, MergeResult, Any]
) -> Verdict | dict[str, object]:
    if isinstance(entry, dict):
        return entry
    mutation, result, record = entry
    verdict = result.verdict(mutation, None if record is None else int(record.version))
    ctx.session.add(
        StoredMutation(
            mutation_id=str(mutation.mutation_id),
            batch_id=str(ctx.batch.batch_id),
            device=ctx.actor.name,
            entity=mutation.entity,
            record_id=str(mutation.id),
            verdict=verdict.to_wire(),
            occurred_at=_occurred(ctx, mutation),
            device_occurred_at=mutation.occurred_at,
            clock_corrected=ctx.corrected and mutation.occurred_at is not None,
            received_at=ctx.now,
        )
    )
    return verdict


def _load(session: Session, adapter: EntityAdapter, record_id: uuid.UUID) -> Any:
    lock = session.get_bind().dialect.name == "postgresql"
    return session.get(adapter.model, record_id, with_for_update=lock, populate_existing=True)


def _judge(ctx: _Context, adapter: EntityAdapter, mutation: Mutation) -> tuple[Any, MergeResult]:
    if not adapter.pushable:
        detail = f"{adapter.spec.name} records change through their own API, not sync pushes"
        return None, MergeResult.rejected(RejectReason.OP_NOT_ALLOWED, detail)
    key = (mutation.entity, str(mutation.id))
    if key in ctx.touched:
        _flush(ctx)  # an earlier mutation of this batch changed it: merge against that
    record = ctx.loaded.get(key)
    name = f"{adapter.spec.name} {mutation.id}"
    server: ServerRecord | None
    if record is not None:
        if not ctx.actor.sees(*record_scope(adapter, record)):
            detail = (
                f"{name} is outside your scope (it belongs to another crew or department, "
                "or was reassigned); the change was not applied"
            )
            return record, MergeResult.rejected(RejectReason.OUT_OF_SCOPE, detail)
        server = server_record(adapter, record, ctx.actor.name)
    elif key in ctx.tombstones:
        server = ServerRecord(id=mutation.id, version=0, fields={}, deleted=True)
    else:
        server = None
    result = merge(adapter.spec, server, mutation)
    if result.kind is VerdictKind.REJECTED:
        return record, result
    refusal = adapter.authorize(ctx.session, ctx.actor, record, mutation.fields)
    if refusal is not None:
        return record, MergeResult.rejected(RejectReason.OUT_OF_SCOPE, f"{name}: {refusal}")
    return record, result


def _write(
    ctx: _Context, adapter: EntityAdapter, mutation: Mutation, record: Any, result: MergeResult
) -> Any:
    if record is None and adapter.create is not None:
        with ctx.session.begin_nested():  # a refusal undoes what the service wrote
            record = adapter.create(
                ctx.session,
                ctx.actor,
                mutation.id,
                result.writes.values,
                ctx.skew if ctx.corrected else timedelta(0),
            )
        ctx.loaded[(mutation.entity, str(mutation.id))] = record
        return record
    if record is None:
        record = _create(ctx, adapter, mutation)
        ctx.loaded[(mutation.entity, str(mutation.id))] = record
    if result.delete:
        record.deleted = True
    elif result.writes.values:
        if adapter.update is not None:
            with ctx.session.begin_nested():  # a refusal undoes what the service wrote
                adapter.update(
                    ctx.session,
                    ctx.actor,
                    record,
                    result.writes.values,
                    mutation.mutation_id,
                    _occurred(ctx, mutation),
                )
        else:
            for name, value in result.writes.values.items():
                setattr(record, name, from_wire(adapter, name, value))
        writers = dict.fromkeys(("@" + n for n in result.writes.values), ctx.actor.name)
        for name, changed in result.writes.changed_keys.items():
            writers.update(dict.fromkeys((f"@{name}.{k}" for k in changed), ctx.actor.name))
        # The change feed merges its versions into these on flush; key versions follow it.
        record.field_versions = {**(record.field_versions or {}), **writers}
        if result.writes.changed_keys:
            ctx.key_writes.append((record, result.writes))
    dept, crew = record_scope(adapter, record)
    for conflict in result.conflicts:
        ctx.session.add(
            SyncConflict(
                entity=adapter.spec.name,
                record_id=str(mutation.id),
                field=conflict.field,
                key=conflict.key,
                server_value=conflict.server,
                client_value=conflict.client,
                mutation_id=str(mutation.mutation_id),
                device=ctx.actor.name,
                department_id=dept,
                crew_id=crew,
                created_at=ctx.now,
            )
        )
    return record


def _create(ctx: _Context, adapter: EntityAdapter, mutation: Mutation) -> Any:
    dept_col, crew_col = adapter.scope_columns
    values: dict[str, object] = {"id": mutation.id, dept_col: ctx.actor.department_id}
    if crew_col:
        values[crew_col] = ctx.actor.crew_id
    if adapter.time_field:
        values[adapter.time_field] = _occurred(ctx, mutation)
        if ctx.corrected and "clock_corrected" in adapter.model.__table__.columns:
            values["clock_corrected"] = True
    if "created_by" in adapter.model.__table__.columns:
        values["created_by"] = ctx.actor.name
    record = adapter.model(**values)
    ctx.session.add(record)
    return record


def purge(session: Session, adapter: EntityAdapter, record_id: uuid.UUID, actor: str) -> None:
    """Delete a record's row for good, keeping its id as a tombstone."""
    record = session.get(adapter.model, record_id)
    if record is not None and not record.deleted:
        record.deleted = True  # the change feed tells devices before the row goes
        session.flush()
    if record is not None:
        session.delete(record)
    if session.get(Tombstone, (adapter.spec.name, str(record_id))) is None:
        session.add(
            Tombstone(
                entity=adapter.spec.name,
                record_id=str(record_id),
                purged_at=datetime.now(UTC),
                purged_by=actor,
            )
        )
    session.flush()


# --------------------------------------------------------------------------------------- pull


@dataclass(frozen=True)
class Cursor:
    """A position in the change feed: the last (txid, id) delivered."""

    txid: int = 0
    id: int = 0

    def encode(self) -> str:
        """Return the opaque wire form."""
        return f"v1.{self.txid}.{self.id}"

    @classmethod
    def decode(cls, text: str | None) -> "Cursor":
        """Parse a wire cursor; None or empty starts from the beginning."""
        if not text:
            return cls()
        parts = text.split(".")
        valid = len(parts) == 3 and parts[0] == "v1" and all(p.isdigit() for p in parts[1:])
        if not valid or any(int(p) >= 2**63 for p in parts[1:]):
            raise SyncError(400, "sync-bad-cursor", "Invalid cursor", f"cursor {text!r} is invalid")
        return cls(int(parts[1]), int(parts[2]))


@dataclass(frozen=True)
class PullPage:
    """Changes after a cursor, within the caller's scope."""

    changes: tuple[dict[str, object], ...]
    cursor: Cursor
    has_more: bool

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready reply."""
        return {
            "changes": list(self.changes),
            "cursor": self.cursor.encode(),
            "has_more": self.has_more,
        }


def _scope_clause(actor: SyncActor) -> Any:
    if actor.kind == "device":
        return or_(
            Change.scope_crew_id.in_(sorted(actor.crew_ids)),
            and_(
                Change.scope_crew_id.is_(None),
                Change.scope_department_id.in_(sorted(actor.department_ids)),
            ),
        )
    return Change.scope_department_id.in_(sorted(actor.department_ids))


def pull(
    session: Session, actor: SyncActor, *, registry: Registry, cursor: Cursor, limit: int
) -> PullPage:
    """Return the next page of changes in scope; never skips a late-committing transaction."""
    limit = max(1, min(limit, MAX_PULL_LIMIT))
    horizon = pull_horizon(session)
    after = or_(Change.txid > cursor.txid, and_(Change.txid == cursor.txid, Change.id > cursor.id))
    rows = session.execute(
        select(Change.txid, Change.id, Change.entity, Change.record_id, Change.op)
        .where(after, Change.txid < horizon, _scope_clause(actor))
        .order_by(Change.txid, Change.id)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return PullPage((), cursor, False)
    last: dict[tuple[str, str], tuple[int, str]] = {}
    for _txid, change_id, entity, record_id, op in rows:
        last.pop((entity, record_id), None)  # keep the latest entry, in feed order
        last[(entity, record_id)] = (change_id, op)
    adapters = registry.by_model_entity()
    records = _load_records(session, adapters, last)
    changes = []
    for (entity, record_id), (change_id, op) in last.items():
        adapter = adapters.get(entity)
        if adapter is None:
            continue
        entry = _entry(session, actor, adapter, records.get((entity, record_id)), record_id, op)
        if entry is not None:
            changes.append({**entry, "change": change_id})
    return PullPage(tuple(changes), Cursor(rows[-1][0], rows[-1][1]), has_more)


def _load_records(
    session: Session,
    adapters: Mapping[str, EntityAdapter],
    wanted: Iterable[tuple[str, str]],
) -> dict[tuple[str, str], Any]:
    by_entity: dict[str, list[uuid.UUID]] = {}
    for entity, record_id in wanted:
        if entity in adapters:
            by_entity.setdefault(entity, []).append(uuid.UUID(record_id))
    found: dict[tuple[str, str], Any] = {}
    for entity, ids in by_entity.items():
        model = adapters[entity].model
        for record in session.scalars(select(model).where(model.id.in_(ids))):
            found[(entity, str(record.id))] = record
    return found


def _entry(
    session: Session,
    actor: SyncActor,
    adapter: EntityAdapter,
    record: Any,
    record_id: str,
    op: str,
) -> dict[str, object] | None:
    head = {"entity": adapter.spec.name, "id": record_id}
    if record is None or record.deleted or op == "delete":
        return {**head, "op": "delete", "version": None if record is None else record.version}
    if not actor.sees(*record_scope(adapter, record)):
        # A record that left the scope; an earlier upsert of it is withheld, the leave says so.
        return {**head, "op": "leave", "version": record.version} if op == "leave" else None
    entry: dict[str, object] = {
        **head,
        "op": "upsert",
        "version": record.version,
        "fields": record_fields(adapter, record),
    }
    if adapter.blob_fields:
        entry["blobs"] = blob_states(
            session, [getattr(record, f) for f in adapter.blob_fields if getattr(record, f)]
        )
    return entry


def blob_states(session: Session, hashes: Sequence[str]) -> dict[str, str]:
    """Return `stored` or `pending` (not arrived yet) for each referenced blob."""
    if not hashes:
        return {}
    complete = set(
        session.scalars(
            select(BlobRecord.sha256).where(
                BlobRecord.sha256.in_(list(hashes)), BlobRecord.complete.is_(True)
            )
        )
    )
    return {sha: "stored" if sha in complete else "pending" for sha in hashes}


# ---------------------------------------------------------------------------------- conflicts


def list_conflicts(
    session: Session, actor: SyncActor, *, status: str | None, limit: int = 200
) -> list[SyncConflict]:
    """Return queued conflicts in the caller's scope, oldest first."""
    query = select(SyncConflict).where(SyncConflict.department_id.in_(sorted(actor.department_ids)))
    if status:
        query = query.where(SyncConflict.status == status)
    return list(session.scalars(query.order_by(SyncConflict.id).limit(limit)))


def get_conflict(session: Session, actor: SyncActor, conflict_id: int) -> SyncConflict:
    """Load one conflict in the caller's scope or raise a 404."""
    conflict = session.get(SyncConflict, conflict_id)
    if conflict is None or not actor.sees(conflict.department_id, None):
        raise SyncError(404, "not-found", "Not found", f"conflict {conflict_id} does not exist")
    return conflict


def resolve(
    session: Session,
    actor: SyncActor,
    *,
    registry: Registry,
    conflict_id: int,
    resolution: Resolution,
    value: object = None,
    now: datetime,
) -> SyncConflict:
    """Settle a queued conflict: keep the server value, take the client's, or store an edit."""
    if not actor.can_resolve:
        raise SyncError(403, "forbidden", "Not allowed", "only dispatchers resolve conflicts")
    conflict = get_conflict(session, actor, conflict_id)
    if conflict.status != "open":
        raise SyncError(
            409,
            "sync-conflict-resolved",
            "Conflict already resolved",
            f"conflict {conflict_id} was resolved by {conflict.resolved_by}",
        )
    adapter = registry.get(conflict.entity)
    record = None if adapter is None else _load(session, adapter, uuid.UUID(conflict.record_id))
    if adapter is None or record is None:
        raise SyncError(
            409,
            "sync-conflict-unresolvable",
            "Conflict cannot be resolved",
            f"{conflict.entity} {conflict.record_id} no longer exists",
        )
    server = server_record(adapter, record, None)
    queued = FieldConflict(
        conflict.field, conflict.server_value, conflict.client_value, conflict.key
    )
    try:
        writes = resolve_conflict(adapter.spec, server, queued, resolution, value)
    except RejectionError as exc:  # pragma: no cover - resolve_conflict wraps these
        raise SyncError(422, "sync-conflict-unresolvable", "Invalid value", exc.detail) from exc
    except Exception as exc:
        slug = getattr(exc, "type", None)
        if not isinstance(slug, str):
            raise
        status = 409 if slug == "sync-conflict-stale" else 422
        raise SyncError(status, slug, getattr(exc, "title", "Conflict"), str(exc)) from exc
    if writes.values:
        store_writes(session, adapter, record, writes, actor.name)
    stored = record_fields(adapter, record)[conflict.field]
    if conflict.key is not None and isinstance(stored, Mapping):
        stored = stored.get(conflict.key)
    conflict.status = "resolved"
    conflict.resolution = resolution.value
    conflict.resolved_value = stored
    conflict.resolved_by = actor.name
    conflict.resolved_at = now
    session.flush()
    return conflict


def verdict_counts(verdicts: Iterable[Verdict | dict[str, object]]) -> dict[str, int]:
    """Count verdict kinds (for logs and the benchmark)."""
    counts: dict[str, int] = {}
    for verdict in verdicts:
        kind = verdict["verdict"] if isinstance(verdict, dict) else verdict.kind.value
        counts[str(kind)] = counts.get(str(kind), 0) + 1
    return counts
