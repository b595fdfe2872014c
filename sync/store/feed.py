"""Page the change feed: cursors, scope and the entries a device pulls."""

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Uuid,
    and_,
    any_,
    bindparam,
    case,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from sync.changes import Change, pull_horizon
from sync.registry import EntityAdapter, Registry, SyncActor
from sync.store.errors import SyncError
from sync.store.records import record_fields, visible_ids, wire_fields
from sync.store.tables import BlobRecord
from sync.wire import ascii_int

MAX_PULL_LIMIT = 1000


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
        version, _, rest = text.partition(".")
        txid_text, _, id_text = rest.partition(".")
        txid, row = ascii_int(txid_text), ascii_int(id_text)
        if version != "v1" or txid is None or row is None:
            raise SyncError(400, "sync-bad-cursor", "Invalid cursor", "the cursor is invalid")
        return cls(txid, row)


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


def scope_clause(actor: SyncActor, department: Any, crew: Any) -> Any:
    """WHERE clause for rows scoped by (department, crew) columns, as `SyncActor.sees` rules."""
    if actor.kind == "device" or actor.crew_scoped:
        return or_(
            crew.in_(sorted(actor.crew_ids)),
            and_(crew.is_(None), department.in_(sorted(actor.department_ids))),
        )
    return department.in_(sorted(actor.department_ids))


def _scope_branches(actor: SyncActor) -> list[Any]:
    """One condition per scope the caller sees (`scope_clause`, split), each an index prefix.

    Crews by `ix_sync_changes_crew_feed`, a crew-bound caller's station-wide rows by the
    partial `ix_sync_changes_station_feed`, a department by `ix_sync_changes_department_feed`.
    """
    department, crew = Change.scope_department_id, Change.scope_crew_id
    if actor.kind == "device" or actor.crew_scoped:
        return [crew == c for c in sorted(actor.crew_ids)] + [
            and_(crew.is_(None), department == d) for d in sorted(actor.department_ids)
        ]
    return [department == d for d in sorted(actor.department_ids)]


def feed_page(actor: SyncActor, cursor: Cursor, horizon: int, limit: int) -> Any:
    """The page's feed rows: each scope read in feed order from its index, then merged.

    Every branch walks its own index from the cursor and stops after `limit` rows, so a page
    reads about as many index entries as it returns, however many changes other crews and
    stations made; on PostgreSQL the indexes carry the selected columns (index-only scans).
    """
    after = tuple_(Change.txid, Change.id) > tuple_(literal(cursor.txid), literal(cursor.id))
    columns = (Change.txid, Change.id, Change.entity, Change.record_id, Change.op)
    branches = [
        select(*columns)
        .where(condition, after, Change.txid < horizon)
        .order_by(Change.txid, Change.id)
        .limit(limit)
        .subquery()
        for condition in _scope_branches(actor)
    ]
    if not branches:
        return None
    merged = union_all(*(select(*b.c) for b in branches)).subquery()
    return select(*merged.c).order_by(merged.c.txid, merged.c.id).limit(limit)


def pull(
    session: Session, actor: SyncActor, *, registry: Registry, cursor: Cursor, limit: int
) -> PullPage:
    """Return the next page of changes in scope; never skips a late-committing transaction."""
    limit = max(1, min(limit, MAX_PULL_LIMIT))
    horizon = pull_horizon(session)
    statement = feed_page(actor, cursor, horizon, limit + 1)
    rows = [] if statement is None else session.execute(statement).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return PullPage((), cursor, False)
    last: dict[tuple[str, str], tuple[int, str]] = {}
    for _txid, change_id, entity, record_id, op in rows:
        last.pop((entity, record_id), None)  # keep the latest entry, in feed order
        last[(entity, record_id)] = (change_id, op)
    adapters = registry.by_model_entity()
    records, visible = _load_records(session, actor, adapters, last)
    plans = {entity: _row_plan(a) for entity, a in adapters.items() if _plain_columns(a)}
    # One query for the whole page's photo/reading blobs, not one per record.
    stored = _complete(
        session,
        [
            h
            for (entity, _), r in records.items()
            for h in _blobs(adapters.get(entity), r, plans.get(entity))
        ],
    )
    changes = []
    for (entity, record_id), (change_id, op) in last.items():
        adapter = adapters.get(entity)
        if adapter is None:
            continue
        record = records.get((entity, record_id))
        entry = _entry(adapter, record, record_id, op, stored, visible, plans.get(entity))
        if entry is not None:
            entry["change"] = change_id
            changes.append(entry)
    return PullPage(tuple(changes), Cursor(rows[-1][0], rows[-1][1]), has_more)


def _load_records(
    session: Session,
    actor: SyncActor,
    adapters: Mapping[str, EntityAdapter],
    wanted: Iterable[tuple[str, str]],
) -> tuple[dict[tuple[str, str], Any], set[tuple[str, str]]]:
    """Load the page's records, one query per entity; return them and the visible ones.

    A plain-column entity with a read scope answers whether the caller may see each row in
    the same query (its scope clause as a selected column), instead of a second query with
    the page's thousand ids again.
    """
    by_entity: dict[str, dict[uuid.UUID, str]] = {}
    for entity, record_id in wanted:
        if entity in adapters:
            by_entity.setdefault(entity, {})[uuid.UUID(record_id)] = record_id
    found: dict[tuple[str, str], Any] = {}
    seen: set[tuple[str, str]] = set()
    postgres = session.get_bind().dialect.name == "postgresql"
    for entity, names in by_entity.items():
        adapter = adapters[entity]
        model = adapter.model
        ids = list(names)
        # One array parameter on PostgreSQL: a thousand-item IN list costs more to bind and
        # plan than the lookups themselves.
        as_array = bindparam("ids", ids, type_=ARRAY(Uuid))
        matching = model.id == any_(as_array) if postgres else model.id.in_(ids)
        loaded: list[Any] = []
        if _plain_columns(adapter):
            # Plain column records: the row's columns are all a page needs (no ORM objects).
            columns = list(_row_plan(adapter).columns)
            if adapter.scope is not None:
                columns = [*columns, case((adapter.scope(actor), True), else_=False)]
            for row in session.execute(select(*columns).where(matching)):
                key = (entity, names[row.id])
                found[key] = row
                if adapter.scope is None:
                    loaded.append(row)
                elif row[-1]:
                    seen.add(key)
        else:
            for record in session.scalars(select(model).where(matching)):
                found[(entity, names[record.id])] = record
                loaded.append(record)
        if loaded:
            seen.update((entity, str(i)) for i in visible_ids(session, adapter, actor, loaded))
    return found, seen


def _plain_columns(adapter: EntityAdapter) -> bool:
    """Whether a row of columns can stand in for the record (no reader, no visibility rule).

    Fields named like a tuple's attributes (`count`, `index`) would read the row's methods.
    """
    names = (*adapter.spec.fields, *adapter.blob_fields, *adapter.scope_columns)
    return adapter.read is None and adapter.visible is None and _TUPLE_NAMES.isdisjoint(names)


_TUPLE_NAMES = frozenset(dir(tuple))


@dataclass(frozen=True)
class _RowPlan:
    """A plain-column entity's page columns, and where each wire field sits in a row.

    Rows are read by position: naming a row's attribute costs more than converting its value.
    The row starts with id, version, deleted.
    """

    columns: tuple[Any, ...]
    fields: tuple[tuple[str, int, Callable[[Any], object] | None], ...]
    blobs: tuple[int, ...]

    def fields_of(self, row: Sequence[Any]) -> dict[str, object]:
        """Return the row's spec fields as wire values (`records.record_fields`)."""
        return {
            name: value if value is None or convert is None else convert(value)
            for name, index, convert in self.fields
            for value in (row[index],)
        }

    def blobs_of(self, row: Sequence[Any]) -> list[str]:
        """Return the blob hashes the row references."""
        return [row[i] for i in self.blobs if row[i]]


_ROW_PLANS: dict[type[Any], _RowPlan] = {}


def _row_plan(adapter: EntityAdapter) -> _RowPlan:
    """The columns a pulled record shows (id, version, tombstone, scope, fields, blobs), once."""
    plan = _ROW_PLANS.get(adapter.model)
    if plan is None:
        model = adapter.model
        names = ["id", "version", "deleted", *(c for c in adapter.scope_columns if c)]
        names += [n for n in (*adapter.spec.fields, *adapter.blob_fields) if n not in names]
        index = {name: i for i, name in enumerate(names)}
        plan = _ROW_PLANS[adapter.model] = _RowPlan(
            columns=tuple(getattr(model, n) for n in names),
            fields=tuple((name, index[name], convert) for name, convert in wire_fields(adapter)),
            blobs=tuple(index[name] for name in adapter.blob_fields),
        )
    return plan


def _blobs(adapter: EntityAdapter | None, record: Any, plan: _RowPlan | None) -> list[str]:
    """Return the blob hashes a loaded record (or row, read by its plan) references."""
    if adapter is None or record is None:
        return []
    if plan is not None:
        return plan.blobs_of(record)
    return [getattr(record, f) for f in adapter.blob_fields if getattr(record, f)]


def _entry(
    adapter: EntityAdapter,
    record: Any,
    record_id: str,
    op: str,
    stored: set[str],
    visible: set[tuple[str, str]],
    plan: _RowPlan | None,
) -> dict[str, object] | None:
    """The page's entry of a record: a record, or a row of its columns read by `plan`."""
    head = {"entity": adapter.spec.name, "id": record_id}
    if record is None:
        return {**head, "op": "delete", "version": None}
    version, deleted = (
        (record[1], record[2]) if plan is not None else (record.version, record.deleted)
    )
    if (adapter.model.__sync_entity__, record_id) not in visible:
        # A record that left the scope (or never was in it: a feed row routes by department
        # and crew only); an earlier upsert of it is withheld, the leave says so.
        return {**head, "op": "leave", "version": version} if op == "leave" else None
    if deleted or op == "delete":
        return {**head, "op": "delete", "version": version}
    fields = record_fields(adapter, record) if plan is None else plan.fields_of(record)
    entry: dict[str, object] = {**head, "op": "upsert", "version": version, "fields": fields}
    if adapter.blob_fields:
        entry["blobs"] = {
            sha: "stored" if sha in stored else "pending" for sha in _blobs(adapter, record, plan)
        }
    return entry


def blob_states(session: Session, hashes: Sequence[str]) -> dict[str, str]:
    """Return `stored` or `pending` (not arrived yet) for each referenced blob."""
    complete = _complete(session, hashes)
    return {sha: "stored" if sha in complete else "pending" for sha in hashes}


def _complete(session: Session, hashes: Sequence[str]) -> set[str]:
    """Return which of these blobs have fully arrived."""
    if not hashes:
        return set()
    return set(
        session.scalars(
            select(BlobRecord.sha256).where(
                BlobRecord.sha256.in_(list(set(hashes))), BlobRecord.complete.is_(True)
            )
        )
    )
