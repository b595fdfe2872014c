"""Append-only audit log written by one session hook for every audited model."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from geoalchemy2 import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from sqlalchemy import String, event, insert, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.db import Base, utcnow


class Audited:
    """Mixin: inserts, updates and deletes of this model are recorded in `audit_log`."""

    __audit_exclude__: ClassVar[frozenset[str]] = frozenset()


# Models that cannot inherit the mixin (the sync tables may not import backend) join here.
_registered: set[type] = set()


def audit_model(model: type) -> None:
    """Record this model's changes in `audit_log` like an `Audited` one."""
    _registered.add(model)


def _audited(obj: object) -> bool:
    return isinstance(obj, Audited) or type(obj) in _registered


def _excluded(obj: Any) -> frozenset[str]:
    return getattr(type(obj), "__audit_exclude__", frozenset())


class AuditLog(Base):
    """Who changed what and when, with the values before and after; never updated."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120), index=True)
    action: Mapped[str] = mapped_column(String(16))
    entity: Mapped[str] = mapped_column(String(64), index=True)
    entity_id: Mapped[str] = mapped_column(String(64), index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()


def _plain(value: Any) -> Any:
    """Turn a column value into something JSON can hold."""
    if isinstance(value, WKBElement | WKTElement):
        return to_shape(value).wkt
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    return value


def _columns(obj: Any) -> list[str]:
    mapper = inspect(obj).mapper
    excluded = _excluded(obj)
    return [attr.key for attr in mapper.column_attrs if attr.key not in excluded]


def _snapshot(obj: Any) -> dict[str, Any]:
    return {key: _plain(getattr(obj, key)) for key in _columns(obj)}


def _changes(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    state = inspect(obj)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for key in _columns(obj):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if _plain(old) == _plain(new):
            continue
        before[key], after[key] = _plain(old), _plain(new)
    excluded_changed = [
        k for k in _excluded(obj) if k in state.attrs and state.attrs[k].history.has_changes()
    ]
    for key in excluded_changed:  # record that a secret changed, never its value
        before[key], after[key] = "***", "*** changed ***"
    return before, after


def _entity_id(obj: Any) -> str:
    identity = inspect(obj).identity
    if identity:
        return ",".join(str(v) for v in identity)
    return str(getattr(obj, "id", "?"))


def write_audit_rows(session: Session, flush_context: Any) -> None:
    """Write one audit row per audited insert, update and delete (an after_flush hook)."""
    # After the flush, generated ids exist while new/dirty/deleted still hold this flush's objects.
    actor = str(session.info.get("actor", "system"))
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for obj in session.new:
        if _audited(obj):
            rows.append({"action": "create", "before": None, "after": _snapshot(obj), "obj": obj})
    for obj in session.dirty:
        if _audited(obj) and session.is_modified(obj, include_collections=False):
            before, after = _changes(obj)
            if after:
                rows.append({"action": "update", "before": before, "after": after, "obj": obj})
    for obj in session.deleted:
        if _audited(obj):
            rows.append({"action": "delete", "before": _snapshot(obj), "after": None, "obj": obj})
    if not rows:
        return
    values = [
        {
            "at": now,
            "actor": actor,
            "action": row["action"],
            "entity": type(row["obj"]).__tablename__,
            "entity_id": _entity_id(row["obj"]),
            "before": row["before"],
            "after": row["after"],
        }
        for row in rows
    ]
    session.connection().execute(insert(AuditLog.__table__), values)


def install_listeners() -> None:
    """Register the audit flush hook on every Session (called by `backend.wiring`)."""
    if not event.contains(Session, "after_flush", write_audit_rows):
        event.listen(Session, "after_flush", write_audit_rows)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write one audit row for an event that is not a row change (a revoked login session)."""
    row = {"at": utcnow(), "actor": actor, "action": action, "entity": entity}
    values = {**row, "entity_id": entity_id, "before": before, "after": after}
    session.connection().execute(insert(AuditLog.__table__), [values])
