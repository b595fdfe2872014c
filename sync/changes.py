"""The change feed: every change to a synced record gets a version and a row in `sync_changes`.

Versions come from one counter (a PostgreSQL sequence; a one-row table on SQLite, whose single
writer keeps it in commit order). On PostgreSQL each change row also records its transaction
id, so a pull can read only changes of transactions older than the oldest one still running:
a slow transaction that commits late can never be skipped (see `pull_horizon`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    MetaData,
    String,
    event,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sync.columns import NAMING_CONVENTION, UTCDateTime

# Beyond every real PostgreSQL transaction id: on SQLite all changes are already in order.
NO_HORIZON = 2**62


class SyncBase(DeclarativeBase):
    """Declarative base of the sync tables (kept apart so `sync` never imports `backend`)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Change(SyncBase):
    """One change of one synced record, in the scope it was visible in."""

    __tablename__ = "sync_changes"
    __table_args__ = (Index("ix_sync_changes_txid_id", "txid", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(64), index=True)
    # upsert: the record is new or changed; delete: tombstone; leave: it left this scope.
    op: Mapped[str] = mapped_column(String(8))
    scope_department_id: Mapped[int | None] = mapped_column(Integer, index=True)
    scope_crew_id: Mapped[int | None] = mapped_column(Integer, index=True)
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


def version_synced_records(session: Session, flush_context: Any, instances: Any) -> None:
    """Give every new or changed synced record a version and its rows in the feed."""
    pending: list[tuple[Any, str, list[str], dict[str, Any]]] = []
    for obj in session.new:
        if isinstance(obj, Synced):
            if getattr(obj, "id", None) is None:  # the change row needs the id before insert
                obj.id = uuid.uuid4()  # type: ignore[attr-defined]
            columns = [
                a.key
                for a in inspect(obj).mapper.column_attrs
                if a.key not in type(obj).__sync_ignore__
            ]
            pending.append((obj, "upsert", columns, {}))
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
    for index, (obj, op, changed, previous) in enumerate(pending):
        version = versions[index * 2]
        obj.version = version
        obj.field_versions = {**(obj.field_versions or {}), **dict.fromkeys(changed, version)}
        new_scope = scope_of(obj)
        old_scope = scope_of(obj, previous) if previous else new_scope
        entity, record_id = type(obj).__sync_entity__, str(obj.id)
        session.add(
            Change(
                id=version,
                txid=txid,
                entity=entity,
                record_id=record_id,
                op=op,
                scope_department_id=new_scope[0],
                scope_crew_id=new_scope[1],
                changed_at=now,
            )
        )
        if old_scope != new_scope:  # tell devices of the old scope that the record left them
            session.add(
                Change(
                    id=versions[index * 2 + 1],
                    txid=txid,
                    entity=entity,
                    record_id=record_id,
                    op="leave",
                    scope_department_id=old_scope[0],
                    scope_crew_id=old_scope[1],
                    changed_at=now,
                )
            )


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
