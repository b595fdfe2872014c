"""Apply a push batch through the merge engine; purge records behind tombstones."""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from sync.changes import (
    bulk_insert,
    insert_new_records,
    json_text,
    on_version,
    pending_version_callbacks,
)
from sync.entities import RejectionError
from sync.merge import MergeResult, ServerRecord, Writes, merge, unknown_entity
from sync.protocol import Mutation, Op, PushBatch, RejectReason, Verdict, VerdictKind, storable
from sync.registry import EntityAdapter, Registry, SyncActor
from sync.store.plans import plan_of
from sync.store.prefetch import among, forget_push_memo, uuid_order
from sync.store.records import (
    column_problem,
    from_wire,
    note_writer,
    record_scope,
    server_record,
    visible_ids,
    writer_mark,
)
from sync.store.tables import DeviceClock, StoredMutation, SyncConflict, Tombstone

# A device clock further off than this is corrected (and the correction flagged).
SKEW_TOLERANCE = timedelta(seconds=30)


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
    # Whether new records of bulk-append entities take the compiled path (`_append`).
    compiled: bool = True
    # In order: a stored verdict (replay), what was decided, or a new appended record;
    # finished after the flush.
    entries: list["dict[str, object] | tuple[Mutation, MergeResult, Any] | _Appended"] = field(
        default_factory=list
    )
    permits: dict[tuple[str, Op], str | None] = field(default_factory=dict)
    batch_name: str = field(init=False)  # the batch id as stored

    def __post_init__(self) -> None:
        self.batch_name = str(self.batch.batch_id)

    stored: dict[str, dict[str, Any]] = field(default_factory=dict)  # verdicts kept for replays
    loaded: dict[tuple[str, str], Any] = field(default_factory=dict)
    tombstones: set[tuple[str, str]] = field(default_factory=set)
    touched: set[tuple[str, str]] = field(default_factory=set)
    verdict_rows: list[dict[str, object]] = field(default_factory=list)
    pending: list["_Pending"] = field(default_factory=list)  # new bulk-append records
    # Each mutation's occurred_at on the server clock (None: not representable).
    times: dict[str, datetime | None] = field(default_factory=dict)


def push(
    session: Session,
    actor: SyncActor,
    batch: PushBatch,
    *,
    registry: Registry,
    now: datetime,
    compiled: bool = True,
) -> PushOutcome:
    """Apply a validated batch mutation by mutation; the caller commits all of it or nothing.

    Records, stored verdicts and tombstones are read in one query each and written in one
    flush; a record touched twice in a batch is flushed before its second merge. New records
    of bulk-append entities are judged by their entity's compiled plan (`compiled=False`:
    through the merge engine like the others; the tests compare both).
    """
    skew = now - batch.sent_at
    corrected = abs(skew) > SKEW_TOLERANCE
    clock = {
        "device": actor.name,
        "batch_id": str(batch.batch_id),
        "sent_at": batch.sent_at,
        "received_at": now,
        "skew_seconds": skew.total_seconds(),
        "corrected": corrected,
    }
    # A plain INSERT: an ORM object would make the batch's first query flush a unit of work.
    session.execute(insert(cast(Table, DeviceClock.__table__)), clock)
    ctx = _Context(session, actor, registry, batch, now, skew, corrected, compiled)
    try:
        _prefetch(ctx)
        for mutation in batch.mutations:
            _apply_one(ctx, mutation)
        _flush(ctx)
        verdicts = [_finish(ctx, entry) for entry in ctx.entries]
        if ctx.verdict_rows:  # kept for replays, all in one statement
            bulk_insert(session, cast(Table, StoredMutation.__table__), ctx.verdict_rows)
        session.flush()
    finally:
        forget_push_memo(session)
        pending_version_callbacks(session)  # after a failure: nothing stays for the next flush
    return PushOutcome(tuple(verdicts), round(skew.total_seconds(), 3), corrected)


def _prefetch(ctx: _Context) -> None:
    session, mutations = ctx.session, ctx.batch.mutations
    ids = [m.mutation_text for m in mutations]
    # Only this principal's verdicts: another device's mutation id is not a replay of ours.
    query = select(StoredMutation.mutation_id, StoredMutation.verdict).where(
        StoredMutation.device == ctx.actor.name, among(session, StoredMutation.mutation_id, ids)
    )
    ctx.stored = {mutation_id: verdict for mutation_id, verdict in session.execute(query)}
    lock = session.get_bind().dialect.name == "postgresql"
    by_entity: dict[str, set[uuid.UUID]] = {}
    for mutation in mutations:
        if ctx.registry.get(mutation.entity) is not None:
            by_entity.setdefault(mutation.entity, set()).add(mutation.id)
    for entity, record_ids in by_entity.items():
        adapter = ctx.registry.adapters[entity]
        if adapter.prefetch is not None:  # what its hooks look up, for the whole batch
            values = [m.fields for m in mutations if m.entity == entity and m.defect is None]
            adapter.prefetch(session, ctx.actor, values)
        model = adapter.model
        in_order = sorted(record_ids, key=uuid_order)
        records: Any = select(model).where(among(session, model.id, in_order))
        records = records.execution_options(populate_existing=True).order_by(model.id)
        # Locked in id order, so two concurrent pushes cannot deadlock on the same records.
        for record in session.scalars(records.with_for_update() if lock else records):
            ctx.loaded[(entity, str(record.id))] = record
        missing = [i for i in map(str, record_ids) if (entity, i) not in ctx.loaded]
        if missing:
            gone = select(Tombstone.record_id).where(
                Tombstone.entity == entity, among(session, Tombstone.record_id, missing)
            )
            ctx.tombstones.update((entity, r) for r in session.scalars(gone))


def _flush(ctx: _Context) -> None:
    """Flush: the change feed numbers the writes and notes set-key versions and writers.

    Writers are noted as each record gets its version, so its row is written once; a record
    the flush did not version (nothing changed) has them noted now, as of its version.
    """
    ctx.session.flush()
    for note in pending_version_callbacks(ctx.session):
        note()
    _insert_pending(ctx)


def _server_time(ctx: _Context, mutation: Mutation) -> datetime | None:
    """Return the mutation's time on the server clock, never later than now.

    None when the skew correction moves it before year 1 (it is then rejected).
    """
    if mutation.occurred_at is None:
        return ctx.now
    try:
        moment = mutation.occurred_at + ctx.skew if ctx.corrected else mutation.occurred_at
    except OverflowError:
        return None if ctx.skew < timedelta(0) else ctx.now
    return min(moment, ctx.now)


def _occurred(ctx: _Context, mutation: Mutation) -> datetime:
    moment = ctx.times.get(mutation.mutation_text)
    return ctx.now if moment is None else moment


def _corrected(ctx: _Context, mutation: Mutation) -> bool:
    """Return whether the device's time was shifted (skew) or clamped (ahead of the server)."""
    return mutation.occurred_at is not None and _occurred(ctx, mutation) != mutation.occurred_at


def _defect(ctx: _Context, mutation: Mutation) -> MergeResult | None:
    """Reject a mutation that no backend could store, before anything of it is written."""
    if mutation.defect is not None:
        return MergeResult.rejected(RejectReason.INVALID_VALUE, mutation.defect)
    moment = _server_time(ctx, mutation)
    if moment is None:
        detail = "occurred_at corrected by the device's clock skew falls before year 1"
        return MergeResult.rejected(RejectReason.INVALID_VALUE, detail)
    ctx.times[mutation.mutation_text] = moment
    return None


def _apply_one(ctx: _Context, mutation: Mutation) -> None:
    stored = ctx.stored.get(mutation.mutation_text)
    if stored is not None:
        original = stored["verdict"]
        ctx.entries.append({**stored, "verdict": VerdictKind.DUPLICATE.value, "original": original})
        return
    adapter = ctx.registry.get(mutation.entity)
    if (
        adapter is not None
        and adapter.bulk_append
        and ctx.compiled
        and _append(ctx, adapter, mutation)
    ):
        return
    record: Any = None
    defect = _defect(ctx, mutation)
    if defect is not None:
        result = defect
    elif adapter is None:
        result = unknown_entity(mutation)
    else:
        record, result = _judge(ctx, adapter, mutation)
    if adapter is not None and result.kind is not VerdictKind.REJECTED:
        try:
            record = _write(ctx, adapter, mutation, record, result)
        except RejectionError as exc:
            result = MergeResult.rejected(exc.reason, exc.detail)
        else:
            ctx.touched.add((mutation.entity, mutation.id_text))
    ctx.entries.append((mutation, result, record))


def _finish(
    ctx: _Context, entry: "dict[str, object] | tuple[Mutation, MergeResult, Any] | _Appended"
) -> Verdict | dict[str, object]:
    if isinstance(entry, dict):
        return entry
    if isinstance(entry, _Appended):
        mutation, pending = entry
        # What `MergeResult.verdict(...).to_wire()` gives for an applied new record.
        wire: dict[str, object] = {
            "mutation_id": mutation.mutation_text,
            "verdict": VerdictKind.APPLIED.value,
            "entity": mutation.entity,
            "id": mutation.id_text,
            "version": pending.version,
            "conflicts": [],
            "problem": None,
            "applied_fields": list(pending.written),
            "original": None,
        }
        _keep_verdict(ctx, mutation, wire, plain=True)
        return wire
    mutation, result, record = entry
    verdict = result.verdict(mutation, None if record is None else int(record.version))
    wire = verdict.to_wire()
    # A rejection's detail or a conflict's values may quote a NUL or lone surrogate the client
    # sent; store (and answer) it replaced, so the stored verdict and its replay are the same
    # on both backends. Other verdicts hold only ids, numbers and the spec's names.
    plain = not verdict.conflicts and verdict.problem is None
    cleaned = wire if plain else storable(wire)
    _keep_verdict(ctx, mutation, cleaned, plain=plain)
    return verdict if cleaned == wire else cast(dict[str, object], cleaned)


def _keep_verdict(ctx: _Context, mutation: Mutation, wire: object, *, plain: bool) -> None:
    """Add the verdict's row for replays; a plain one (no client values) as orjson's text."""
    ctx.verdict_rows.append(
        {
            "mutation_id": mutation.mutation_text,
            "batch_id": ctx.batch_name,
            "device": ctx.actor.name,
            "entity": mutation.entity,
            "record_id": mutation.id_text,
            "verdict": json_text(wire) if plain else wire,
            "occurred_at": _occurred(ctx, mutation),
            "device_occurred_at": mutation.occurred_at,
            "clock_corrected": _corrected(ctx, mutation),
            "received_at": ctx.now,
        }
    )


def _permit(ctx: _Context, adapter: EntityAdapter, op: Op) -> str | None:
    """The role's answer to pushing `op` of the entity, asked once per push (one caller)."""
    key = (adapter.spec.name, op)
    if key not in ctx.permits:
        ctx.permits[key] = adapter.permit(ctx.actor, op.value)
    return ctx.permits[key]


def _judge(ctx: _Context, adapter: EntityAdapter, mutation: Mutation) -> tuple[Any, MergeResult]:
    if not adapter.pushable:
        detail = f"{adapter.spec.name} records change through their own API, not sync pushes"
        return None, MergeResult.rejected(RejectReason.OP_NOT_ALLOWED, detail)
    refusal = _permit(ctx, adapter, mutation.op)
    if refusal is not None:  # the role may not push this at all: nothing is loaded or merged
        detail = f"{adapter.spec.name} {mutation.id}: {refusal}"
        return None, MergeResult.rejected(RejectReason.FORBIDDEN, detail)
    key = (mutation.entity, mutation.id_text)
    if key in ctx.touched:
        _flush(ctx)  # an earlier mutation of this batch changed it: merge against that
        if isinstance(ctx.loaded.get(key), _Pending):  # inserted in bulk: read it back
            ctx.loaded[key] = ctx.session.get(adapter.model, mutation.id)
    record = ctx.loaded.get(key)
    name = f"{adapter.spec.name} {mutation.id}"
    server: ServerRecord | None
    if record is not None:
        if record.id not in visible_ids(ctx.session, adapter, ctx.actor, [record]):
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
    unfit = column_problem(adapter, result.writes.values)
    if unfit is not None:
        return record, MergeResult.rejected(RejectReason.INVALID_VALUE, unfit)
    return record, _authorized(ctx, adapter, mutation, record, result)


def _authorized(
    ctx: _Context, adapter: EntityAdapter, mutation: Mutation, record: Any, result: MergeResult
) -> MergeResult:
    """Return `result`, or its refusal by the entity's authorizer or the blob check."""
    try:
        refusal = adapter.authorize(ctx.session, ctx.actor, record, mutation.fields) or (
            _foreign_blob(ctx, adapter, result.writes.values)
        )
    except RejectionError as exc:  # an authorizer that judges the values, not the scope
        return MergeResult.rejected(exc.reason, exc.detail)
    if refusal is not None:
        detail = f"{adapter.spec.name} {mutation.id}: {refusal}"
        return MergeResult.rejected(RejectReason.OUT_OF_SCOPE, detail)
    return result


class _Appended(NamedTuple):
    """A new record of a bulk-append entity, judged by its compiled plan (`_append`)."""

    mutation: Mutation
    pending: "_Pending"


def _append(ctx: _Context, adapter: EntityAdapter, mutation: Mutation) -> bool:
    """Judge and stage a new record of a bulk-append entity by its plan; False: not this path.

    The same decisions as `_judge` and `_write` for an `append` of an unknown id that the
    plan accepts as sent (`EntityPlan.appended`); the same role check and authorizer, asked
    the same way. Anything else (a replay, a tombstone, an earlier mutation of this batch on
    the id, a value the merge engine would refuse) takes the general path.
    """
    if mutation.op is not Op.APPEND or mutation.defect is not None or not adapter.pushable:
        return False
    key = (mutation.entity, mutation.id_text)
    if key in ctx.loaded or key in ctx.tombstones or key in ctx.touched:
        return False
    if _permit(ctx, adapter, mutation.op) is not None:
        return False
    values = plan_of(adapter).appended(mutation.fields)
    if values is None:
        return False
    moment = _server_time(ctx, mutation)
    if moment is None:
        return False
    ctx.times[mutation.mutation_text] = moment
    applied = MergeResult(VerdictKind.APPLIED, Writes(values), applied_fields=tuple(values))
    result = _authorized(ctx, adapter, mutation, None, applied)
    if result is applied:
        try:
            pending = _pending(ctx, adapter, mutation, result, as_columns=values)
        except RejectionError as exc:
            result = MergeResult.rejected(exc.reason, exc.detail)
        else:
            ctx.loaded[key] = pending
            ctx.touched.add(key)
            ctx.entries.append(_Appended(mutation, pending))
            return True
    ctx.entries.append((mutation, result, None))
    return True


def _foreign_blob(
    ctx: _Context, adapter: EntityAdapter, values: Mapping[str, object]
) -> str | None:
    """Refuse naming a blob someone else holds and the caller may not read (a hijack)."""
    from sync.blobs.scope import may_reference  # sync.blobs builds on this package

    for name in adapter.blob_fields:
        sha = values.get(name)
        if isinstance(sha, str) and not may_reference(ctx.session, ctx.actor, ctx.registry, sha):
            return f"{name} {sha} is a blob of someone else's you may not read; upload it yourself"
    return None


def _write(
    ctx: _Context, adapter: EntityAdapter, mutation: Mutation, record: Any, result: MergeResult
) -> Any:
    if record is None and adapter.create is not None:
        with guarded(ctx.session):  # a refusal undoes what the service wrote
            record = adapter.create(
                ctx.session,
                ctx.actor,
                mutation.id,
                result.writes.values,
                ctx.skew if ctx.corrected else timedelta(0),
            )
        ctx.loaded[(mutation.entity, mutation.id_text)] = record
        return record
    if record is None and adapter.bulk_append:
        pending = _pending(ctx, adapter, mutation, result)
        ctx.loaded[(mutation.entity, mutation.id_text)] = pending
        return pending
    if record is None:
        record = _create(ctx, adapter, mutation)
        ctx.loaded[(mutation.entity, mutation.id_text)] = record
    if result.delete:
        record.deleted = True
    elif result.writes.values:
        if adapter.update is not None:
            with guarded(ctx.session):  # a refusal undoes what the service wrote
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
        # Writers and key versions are noted once the change feed has numbered the write.
        writes, writer = result.writes, ctx.actor.name
        on_version(ctx.session, record, lambda: note_writer(record, writes, writer))
        if adapter.after_write is not None:  # refuses before it writes (see `AfterWrite`)
            adapter.after_write(ctx.session, ctx.actor, record)
    dept, crew = record_scope(adapter, record) if result.conflicts else (None, None)
    for conflict in result.conflicts:
        ctx.session.add(
            SyncConflict(
                entity=adapter.spec.name,
                record_id=mutation.id_text,
                field=conflict.field,
                key=conflict.key,
                server_value=conflict.server,
                client_value=conflict.client,
                mutation_id=mutation.mutation_text,
                device=ctx.actor.name,
                department_id=dept,
                crew_id=crew,
                created_at=ctx.now,
            )
        )
    return record


def write_values(
    session: Session,
    adapter: EntityAdapter,
    actor: SyncActor,
    record: Any,
    values: Mapping[str, object],
    mutation_id: uuid.UUID,
    occurred: datetime,
) -> None:
    """Write merged values into a stored record as a push does, for a conflict resolution.

    Through the entity's domain service when it has one (its rules, its history), else into
    the columns; then the entity's after-write hook. Either may raise `RejectionError`: run
    it inside `guarded` so the refusal undoes what was written.
    """
    if adapter.update is not None:
        adapter.update(session, actor, record, values, mutation_id, occurred)
    else:
        for name, value in values.items():
            setattr(record, name, from_wire(adapter, name, value))
    if adapter.after_write is not None:
        adapter.after_write(session, actor, record)


@dataclass
class _Pending:
    """A new record of a `bulk_append` entity, inserted with the others at the flush."""

    adapter: EntityAdapter
    values: dict[str, Any]
    written: tuple[str, ...]  # the fields this push wrote, for the writer marks
    version: int | None = None


def _pending(
    ctx: _Context,
    adapter: EntityAdapter,
    mutation: Mutation,
    result: MergeResult,
    *,
    as_columns: Mapping[str, object] | None = None,
) -> _Pending:
    """Prepare a new record's row (the hook sees it as a transient instance first).

    `as_columns`: the written values as column values already (`EntityPlan.appended`).
    """
    plan = plan_of(adapter)
    values = _new_values(ctx, adapter, mutation)
    values.update(plan.from_wire(result.writes.values) if as_columns is None else as_columns)
    if adapter.after_write is not None and result.writes.values:
        # The hook reads and may set columns: a plain object with the record's attributes
        # (every field present, unsent ones None), cheaper than a model instance.
        record = SimpleNamespace(**(plan.blank | values))
        before = dict(vars(record))
        adapter.after_write(ctx.session, ctx.actor, record)  # refuses before it writes
        columns = plan.columns
        values = {
            k: v
            for k, v in vars(record).items()
            if k in columns and (k in values or before.get(k, v) is not v or k not in before)
        }
    pending = _Pending(adapter, values, tuple(result.writes.values))
    ctx.pending.append(pending)
    return pending


def _insert_pending(ctx: _Context) -> None:
    """Insert the batch's new bulk-append records: one statement per entity (and the feed)."""
    by_model: dict[type[Any], list[_Pending]] = {}
    for pending in ctx.pending:
        by_model.setdefault(pending.adapter.model, []).append(pending)
    ctx.pending.clear()
    writer = ctx.actor.name
    for model, group in by_model.items():

        def stamp(index: int, row: dict[str, Any], group: list[_Pending] = group) -> None:
            # What `note_writer` notes after a flush: this writer wrote each field it sent.
            group[index].version = row["version"]
            mark = writer_mark(writer, row["version"])
            row["field_versions"].update({"@" + name: mark for name in group[index].written})

        insert_new_records(ctx.session, model, [p.values for p in group], stamp)


def _new_values(ctx: _Context, adapter: EntityAdapter, mutation: Mutation) -> dict[str, Any]:
    """The columns the store sets on a record it creates: id, scope, times, author."""
    plan = plan_of(adapter)
    values: dict[str, Any] = {"id": mutation.id, plan.department: ctx.actor.department_id}
    if plan.crew:
        values[plan.crew] = ctx.actor.crew_id
    if plan.time_field:
        values[plan.time_field] = _occurred(ctx, mutation)
        if plan.clock_corrected and _corrected(ctx, mutation):
            values["clock_corrected"] = True
            if plan.device_time:
                values["device_time"] = mutation.occurred_at
    if plan.created_by:
        values["created_by"] = ctx.actor.name
    return values


def _create(ctx: _Context, adapter: EntityAdapter, mutation: Mutation) -> Any:
    record = adapter.model(**_new_values(ctx, adapter, mutation))
    ctx.session.add(record)
    return record


@contextmanager
def guarded(session: Session) -> Iterator[None]:
    """Run domain code in a savepoint: a refusal (or a time it cannot shift) undoes it."""
    try:
        with session.begin_nested():
            yield
    except OverflowError as exc:  # a device time plus the clock correction beyond year 9999
        detail = "a time shifted by the device's clock correction is outside years 1-9999"
        raise RejectionError(RejectReason.INVALID_VALUE, detail) from exc


def purge(session: Session, adapter: EntityAdapter, record_id: uuid.UUID, actor: str) -> None:
    """Delete a record's row for good, keeping its id as a tombstone."""
    record = session.get(adapter.model, record_id)
    if record is not None and not record.deleted:
        record.deleted = True  # the change feed tells devices before the row goes
        session.flush()
    if record is not None:
        session.delete(record)
    if session.get(Tombstone, (str(record_id), adapter.spec.name)) is None:  # key order
        session.add(
            Tombstone(
                entity=adapter.spec.name,
                record_id=str(record_id),
                purged_at=datetime.now(UTC),
                purged_by=actor,
            )
        )
    session.flush()
