"""The change feed: every change to a synced record gets a version and a row in `sync_changes`.

Versions come from one counter (a PostgreSQL sequence; a one-row table on SQLite, whose single
writer keeps it in commit order). On PostgreSQL each change row also records its transaction
id, so a pull can read only changes of transactions older than the oldest one still running:
a slow transaction that commits late can never be skipped (see `pull_horizon`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sync.columns import NAMING_CONVENTION, UTCDateTime

# What a pull page reads of each feed row (the feed indexes include them on PostgreSQL).
FEED_COLUMNS = ["entity", "record_id", "op"]

# Beyond every real PostgreSQL transaction id: on SQLite all changes are already in order.
NO_HORIZON = 2**62


class SyncBase(DeclarativeBase):
    """Declarative base of the sync tables (kept apart so `sync` never imports `backend`)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Change(SyncBase):
    """One change of one synced record, in the scope it was visible in."""

    __tablename__ = "sync_changes"
    __table_args__ = (
        Index("ix_sync_changes_txid_id", "txid", "id"),
        # The pull reads each scope from its own index in feed order (sync.store.feed); on
        # PostgreSQL the page's columns ride along, so the page is an index-only scan.
        Index("ix_sync_changes_crew_feed", "scope_crew_id", "txid", "id",
              postgresql_include=FEED_COLUMNS),
        Index("ix_sync_changes_department_feed", "scope_department_id", "txid", "id",
              postgresql_include=FEED_COLUMNS),
        # A crew's station-wide rows (no crew): a partial index, or a crew would walk past
        # every other crew's rows of its station to find them.
        Index("ix_sync_changes_station_feed", "scope_department_id", "txid", "id",
              postgresql_include=FEED_COLUMNS, postgresql_where=text("scope_crew_id IS NULL"),
              sqlite_where=text("scope_crew_id IS NULL")),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(64))  # not indexed: read with its page only
    # upsert: the record is new or changed; delete: tombstone; leave: it left this scope.
    op: Mapped[str] = mapped_column(String(8))
    scope_department_id: Mapped[int | None] = mapped_column(Integer)
    scope_crew_id: Mapped[int | None] = mapped_column(Integer)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class VersionCounter(SyncBase):
    """The version counter on SQLite (PostgreSQL uses the sequence `sync_version_seq`)."""

    __tablename__ = "sync_version_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Synced:
    """Mixin for records that handhelds sync: a version, per-field versions, a change feed.

    Subclasses set `__sync_entity__` and name the columns that decide who sees the record in
    `__sync_scope__ = ("department_id", "crew_id")` (either may be absent).
    """

    __sync_entity__: ClassVar[str]
    __sync_scope__: ClassVar[tuple[str, str | None]] = ("department_id", None)
    __sync_ignore__: ClassVar[frozenset[str]] = frozenset({"version", "field_versions"})

    version: Mapped[int] = mapped_column(BigInteger, default=0)
    field_versions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    deleted: Mapped[bool] = mapped_column(default=False)


def next_versions(session: Session, count: int) -> list[int]:
    """Take `count` new versions from the counter."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text("SELECT nextval('sync_version_seq') FROM generate_series(1, :n)"), {"n": count}
        )
        return [int(r[0]) for r in rows]
    last = session.execute(
        text("UPDATE sync_version_counter SET value = value + :n WHERE id = 1 RETURNING value"),
        {"n": count},
    ).scalar_one()
    return list(range(int(last) - count + 1, int(last) + 1))


def current_txid(session: Session) -> int:
    """Return this transaction's id on PostgreSQL (0 on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
    return 0


# The op of a feed row that carries a record's current version to an audience its own scope
# columns do not route to: pulled as an upsert, but no new change (the live feed skips it).
REACH = "reach"
# Feed rows that route a record rather than record a change of it.
ROUTING_OPS = ("leave", REACH)


def add_scoped_changes(
    session: Session, rows: list[tuple[str, Any, str, tuple[int | None, int | None]]]
) -> None:
    """Add feed rows (entity, record id, op, (department, crew)) to this transaction, once each.

    For feed rows a domain derives itself, beside the records' own versions: who works near a
    record (the archive's premises, the network's lines) decides which crews' feeds carry it.
    """
    rows = list(dict.fromkeys(rows))
    if not rows:
        return
    numbers = next_versions(session, len(rows))
    txid = current_txid(session)
    now = datetime.now(UTC)
    for number, (entity, record_id, op, (department, crew)) in zip(numbers, rows, strict=True):
        session.add(
            Change(
                id=number,
                txid=txid,
                entity=entity,
                record_id=str(record_id),
                op=op,
                scope_department_id=department,
                scope_crew_id=crew,
                changed_at=now,
            )
        )


def pull_horizon(session: Session) -> int:
    """Return the transaction id below which every transaction has finished.

    Changes with a txid below the horizon are all committed (or rolled back) and no new change
    can get such a txid, so reading (txid, id) in order up to the horizon never skips one.
    """
    if session.get_bind().dialect.name == "postgresql":
        return int(
            session.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar_one()
        )
    return NO_HORIZON


def scope_of(obj: Any, values: dict[str, Any] | None = None) -> tuple[int | None, int | None]:
    """Return the (department, crew) a synced record is visible in (`values` override)."""
    dept_col, crew_col = type(obj).__sync_scope__
    source = values if values is not None else {}
    dept = source.get(dept_col, getattr(obj, dept_col, None)) if dept_col else None
    crew = source.get(crew_col, getattr(obj, crew_col, None)) if crew_col else None
    return dept, crew


def _changed_columns(obj: Any) -> tuple[list[str], dict[str, Any]]:
    """Return the changed column keys and the previous values of the scope columns."""
    state = inspect(obj)
    changed, previous = [], {}
    for attr in state.mapper.column_attrs:
        history = state.attrs[attr.key].history
        if history.has_changes() and attr.key not in type(obj).__sync_ignore__:
            changed.append(attr.key)
            if history.deleted:
                previous[attr.key] = history.deleted[0]
    return changed, previous


# session.info key: what to run once the next flush gives a record its version (see on_version).
_ON_VERSION = "sync.on_version"


def on_version(session: Session, obj: Any, callback: Callable[[], None]) -> None:
    """Run `callback` when the next flush has versioned `obj`, before its row is written.

    The sync store notes who wrote which field at which version this way, in the same INSERT
    or UPDATE rather than a second one. Callbacks the flush did not run (the record did not
    change) are the caller's to run: see `pending_version_callbacks`.
    """
    session.info.setdefault(_ON_VERSION, {})[id(obj)] = (obj, callback)


def pending_version_callbacks(session: Session) -> list[Callable[[], None]]:
    """Return (and forget) the callbacks no flush has run, in the order they were given."""
    pending = session.info.pop(_ON_VERSION, {})
    return [callback for _obj, callback in pending.values()]


_SYNCED_COLUMNS: dict[type[Any], list[str]] = {}


def synced_columns(model: type[Any]) -> list[str]:
    """Return the columns whose changes the feed versions (all but `__sync_ignore__`)."""
    columns = _SYNCED_COLUMNS.get(model)
    if columns is None:
        ignore = model.__sync_ignore__
        columns = [a.key for a in inspect(model).column_attrs if a.key not in ignore]
        _SYNCED_COLUMNS[model] = columns
    return columns


def version_synced_records(session: Session, flush_context: Any, instances: Any) -> None:
    """Give every new or changed synced record a version and its rows in the feed."""
    pending: list[tuple[Any, str, list[str], dict[str, Any]]] = []
    for obj in session.new:
        if isinstance(obj, Synced):
            if getattr(obj, "id", None) is None:  # the change row needs the id before insert
                obj.id = uuid.uuid4()  # type: ignore[attr-defined]
            pending.append((obj, "upsert", synced_columns(type(obj)), {}))
    for obj in session.dirty:
        if isinstance(obj, Synced) and session.is_modified(obj, include_collections=False):
            changed, previous = _changed_columns(obj)
            if changed:
                pending.append((obj, "delete" if obj.deleted else "upsert", changed, previous))
    if not pending:
        return
    versions = next_versions(session, len(pending) * 2)
    txid = current_txid(session)
    now = datetime.now(UTC)
    callbacks = session.info.get(_ON_VERSION, {})
    rows: list[dict[str, Any]] = []  # the feed's rows, written in one statement
    for index, (obj, op, changed, previous) in enumerate(pending):
        version = versions[index * 2]
        obj.version = version
        obj.field_versions = {**(obj.field_versions or {}), **dict.fromkeys(changed, version)}
        waiting = callbacks.pop(id(obj), None)
        if waiting is not None and waiting[0] is obj:
            waiting[1]()
        new_scope = scope_of(obj)
        old_scope = scope_of(obj, previous) if previous else new_scope
        entity, record_id = type(obj).__sync_entity__, str(obj.id)
        row = {"txid": txid, "entity": entity, "record_id": record_id, "changed_at": now}
        rows.append(
            row | {"id": version, "op": op, "scope_department_id": new_scope[0],
                   "scope_crew_id": new_scope[1]}
        )  # fmt: skip
        if old_scope != new_scope:  # tell devices of the old scope that the record left them
            rows.append(
                row | {"id": versions[index * 2 + 1], "op": "leave",
                       "scope_department_id": old_scope[0], "scope_crew_id": old_scope[1]}
            )  # fmt: skip
    bulk_insert(session, cast(Table, Change.__table__), rows)


def insert_new_records(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    stamp: Callable[[int, dict[str, Any]], None] | None = None,
) -> None:
    """Insert new records of a synced model without ORM objects, as a flush would store them.

    The twin of the flush hook for many new records at once: each row gets a version, every
    column's field version and an `upsert` in the feed; then one INSERT per set of columns
    and one for the feed rows. `stamp(index, row)` may add to a row once it is versioned.
    Only for models no other flush hook must see (no audit, no announcements).
    """
    if not rows:
        return
    versions = next_versions(session, len(rows))
    txid = current_txid(session)
    now = datetime.now(UTC)
    columns = synced_columns(model)
    entity = model.__sync_entity__
    department, crew = model.__sync_scope__
    feed: list[dict[str, Any]] = []
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for index, (row, version) in enumerate(zip(rows, versions, strict=True)):
        row["version"] = version
        row["field_versions"] = dict.fromkeys(columns, version)
        if stamp is not None:
            stamp(index, row)
        row["field_versions"] = json_text(row["field_versions"])  # names and numbers only
        feed.append({
            "id": version, "txid": txid, "entity": entity, "record_id": str(row["id"]),
            "op": "upsert", "scope_department_id": row.get(department) if department else None,
            "scope_crew_id": row.get(crew) if crew else None, "changed_at": now,
        })  # fmt: skip
        by_columns.setdefault(frozenset(row), []).append(row)
    for same_columns in by_columns.values():  # one statement needs the same keys in each row
        bulk_insert(session, cast(Table, model.__table__), same_columns)
    bulk_insert(session, cast(Table, Change.__table__), feed)


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows (dicts with the same keys) at the driver's bulk speed, as `insert()` would.

    The columns' own bind processing (UTC times, UUIDs, JSON) and the Python defaults of the
    columns the rows leave out (values, or functions called per row) are applied as
    SQLAlchemy applies them, once per column rather than through a parameter dict per row;
    then PostgreSQL gets one COPY (psycopg pipelines an executemany as one INSERT per row)
    and SQLite one driver `executemany`.
    Rows of a table whose left-out columns default to SQL expressions, or whose types rewrite
    the SQL (`bind_expression`), go through `insert()` unchanged.
    """
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    names = list(rows[0])
    first = rows[0].keys()
    if any(row.keys() != first for row in rows):
        raise ValueError(f"bulk_insert into {table.name}: rows with different columns")
    by_column: list[list[Any]] = [[row[n] for row in rows] for n in names]
    columns = [table.columns[n] for n in names]
    for column in table.columns:  # what insert() fills in: the left-out columns' defaults
        default: Any = column.default
        if column.key in first or default is None:
            continue
        if not (default.is_scalar or default.is_callable):  # a SQL expression or sequence
            session.execute(insert(table), _decoded(rows))
            return
        columns.append(column)
        if default.is_scalar:
            by_column.append([default.arg] * len(rows))
        else:  # called per row, as insert() does, with the row as its context
            by_column.append([default.arg(_RowContext(row, column)) for row in rows])
    if any(c.type._has_bind_expression for c in columns):
        session.execute(insert(table), _decoded(rows))
        return
    # Column by column: each column's processor over its values, then the rows as tuples.
    for index, column in enumerate(columns):
        one_step = getattr(column.type, "bulk_processor", None)  # sync.columns.UTCDateTime
        processor = (one_step and one_step(dialect)) or (
            column.type.dialect_impl(dialect).bind_processor(dialect)
        )
        if processor is None:
            continue
        process = _keeping_json_text(processor) if isinstance(column.type, JSON) else processor
        column_values = by_column[index]
        first_value = column_values[0]
        if all(value is first_value for value in column_values):  # a batch's time, its device
            by_column[index] = [process(first_value)] * len(column_values)
        else:
            by_column[index] = [process(value) for value in column_values]
    values = list(zip(*by_column, strict=True))
    quoted = ", ".join(dialect.identifier_preparer.quote(c.name) for c in columns)
    target = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql":
        _copy(connection, f"COPY {target} ({quoted}) FROM STDIN", values)
    else:
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {target} ({quoted}) VALUES ({marks})"  # noqa: S608 - metadata names
        connection.exec_driver_sql(sql, values)


class JSONText(str):
    """A JSON column's value already serialized: `bulk_insert` stores the text as it is."""


def json_text(value: object) -> JSONText:
    """Serialize a JSON value without floats (verdicts, field versions) for `bulk_insert`.

    orjson, about ten times faster than the json module on these small documents; text it
    refuses (a lone surrogate) goes through the json module as the column would. Not for
    floats: orjson writes NaN as null where the column would write NaN.
    """
    try:
        return JSONText(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:
        return JSONText(json.dumps(value))


def _decoded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with `JSONText` values as JSON values again, for `insert()` to serialize."""
    return [
        {k: json.loads(v) if isinstance(v, JSONText) else v for k, v in row.items()} for row in rows
    ]


def _keeping_json_text(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def process_unless_text(value: Any) -> Any:
        return value if isinstance(value, JSONText) else process(value)

    return process_unless_text


class _RowContext:
    """What a context-sensitive column default reads: the row being inserted."""

    def __init__(self, row: dict[str, Any], column: Any) -> None:
        self.current_parameters = row
        self.current_column = column

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return self.current_parameters


def _copy(connection: Any, sql: str, values: list[Any]) -> None:
    """COPY rows on the session's psycopg connection; its errors become SQLAlchemy's.

    A connection the server dropped is invalidated as for every other statement, so the
    caller's retry of a database outage applies.
    """
    import psycopg  # PostgreSQL only
    from sqlalchemy.exc import DBAPIError, OperationalError

    driver = connection.connection.driver_connection
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for row_values in values:
                copy.write_row(row_values)
    except psycopg.Error as exc:
        wrapped = DBAPIError.instance(sql, None, exc, psycopg.Error, connection_invalidated=False)
        if isinstance(wrapped, OperationalError) or driver.closed:
            connection.invalidate(exc)
        raise wrapped from exc


def install_listeners() -> None:
    """Register the versioning flush hook on every Session (the backend's wiring calls it)."""
    if not event.contains(Session, "before_flush", version_synced_records):
        event.listen(Session, "before_flush", version_synced_records)


def touch(session: Session, obj: Any) -> None:
    """Give a synced record a new version and an `upsert` in the feed, no field changed.

    For news that lives beside the record, such as a referenced blob having arrived: devices
    pull the record again and see it.
    """
    [version] = next_versions(session, 1)
    obj.version = version  # only ignored columns change: the flush hook adds no second row
    dept, crew = scope_of(obj)
    session.add(
        Change(
            id=version,
            txid=current_txid(session),
            entity=type(obj).__sync_entity__,
            record_id=str(obj.id),
            op="upsert",
            scope_department_id=dept,
            scope_crew_id=crew,
            changed_at=datetime.now(UTC),
        )
    )
