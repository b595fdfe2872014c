"""Add-only history: create a head with version 1, append versions, list and diff them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from geoalchemy2 import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import ArchiveVersion, VersionedHead
from backend.archive.vocab import Source
from backend.db import utcnow
from backend.errors import Conflict, NotFound, field_error


def plain(value: Any) -> Any:
    """Return a column value as JSON data; points as {"lat", "lon"}."""
    if isinstance(value, WKBElement | WKTElement):
        point = to_shape(value)
        return {"lat": point.y, "lon": point.x}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def snapshot(head: VersionedHead, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the archived fields of a head (with `overrides` applied) as JSON data."""
    values = overrides or {}
    return {
        name: plain(values[name] if name in values else getattr(head, name))
        for name in head.__archive_fields__
    }


def _check_source(source: str) -> str:
    if source not in set(Source):
        raise field_error("source", f"Unknown source {source!r}; one of {', '.join(Source)}.")
    return source


def _customer_of(head: VersionedHead) -> uuid.UUID:
    customer_id = getattr(head, "customer_id", None) or head.id
    assert isinstance(customer_id, uuid.UUID)  # noqa: S101 - every head names its file
    return customer_id


def create(
    session: Session, head: VersionedHead, *, actor: str, reason: str, source: str
) -> VersionedHead:
    """Store a new head as version 1 of its record."""
    now = utcnow()
    head.id = head.id or uuid.uuid4()
    head.version_no, head.updated_at, head.updated_by = 1, now, actor
    session.add(head)
    session.flush()
    session.add(
        ArchiveVersion(
            entity=head.__archive_entity__,
            record_id=head.id,
            customer_id=_customer_of(head),
            version_no=1,
            data=snapshot(head),
            changed_by=actor,
            changed_at=now,
            reason=reason,
            source=_check_source(source),
        )
    )
    session.flush()
    return head


def append(
    session: Session,
    head: VersionedHead,
    changes: dict[str, Any],
    *,
    actor: str,
    reason: str,
    source: str,
    base_version: int | None = None,
) -> ArchiveVersion | None:
    """Append a version holding `changes` and move the head to it.

    Returns None when nothing would change (no empty versions). `base_version` is the version
    the caller edited: an edit of an older one is refused with 409 and the current version.
    """
    _check_source(source)
    if base_version is not None and base_version != head.version_no:
        raise Conflict(
            f"You edited version {base_version}, but the file is at version {head.version_no}; "
            "reload it and apply your change again.",
            current_version=head.version_no,
        )
    before = snapshot(head)
    after = snapshot(head, changes)
    if after == before:
        return None
    now = utcnow()
    version = ArchiveVersion(
        entity=head.__archive_entity__,
        record_id=head.id,
        customer_id=_customer_of(head),
        version_no=head.version_no + 1,
        data=after,
        changed_by=actor,
        changed_at=now,
        reason=reason,
        source=source,
    )
    # The version is written first: the head's guard lets it move only to a stored version.
    session.add(version)
    session.flush()
    for name, value in changes.items():
        setattr(head, name, value)
    head.version_no, head.updated_at, head.updated_by = version.version_no, now, actor
    session.flush()
    return version


def history(
    session: Session, *, entity: str | None = None, record_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
) -> list[ArchiveVersion]:  # fmt: skip
    """Return versions of one record, or of a whole file (all its records), oldest first."""
    statement = select(ArchiveVersion).order_by(ArchiveVersion.changed_at, ArchiveVersion.id)
    if entity is not None:
        statement = statement.where(ArchiveVersion.entity == entity)
    if record_id is not None:
        statement = statement.where(ArchiveVersion.record_id == record_id)
    if customer_id is not None:
        statement = statement.where(ArchiveVersion.customer_id == customer_id)
    return list(session.scalars(statement))


def version(session: Session, entity: str, record_id: uuid.UUID, number: int) -> ArchiveVersion:
    """Load one version or raise 404."""
    found = session.scalar(
        select(ArchiveVersion).where(
            ArchiveVersion.entity == entity,
            ArchiveVersion.record_id == record_id,
            ArchiveVersion.version_no == number,
        )
    )
    if found is None:
        raise NotFound(f"{entity} {record_id} has no version {number}.")
    return found


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the fields that differ between two snapshots, in field order."""
    names = list(dict.fromkeys([*before, *after]))
    return [
        {"field": n, "before": before.get(n), "after": after.get(n)}
        for n in names
        if before.get(n) != after.get(n)
    ]
