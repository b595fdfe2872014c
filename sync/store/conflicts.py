"""The conflict queue: list, load and resolve conflicts in the caller's scope."""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from sync.entities import RejectionError
from sync.merge import Resolution, resolve_conflict
from sync.protocol import REJECT_TITLES, FieldConflict, RejectReason, storable, unstorable_text
from sync.registry import Registry, SyncActor
from sync.store.apply import guarded, write_values
from sync.store.errors import SyncError
from sync.store.records import (
    _load,
    column_problem,
    note_writer,
    record_fields,
    server_record,
    visible_ids,
)
from sync.store.tables import SyncConflict


def conflicts_query(
    actor: SyncActor, *, status: str | None, record_id: uuid.UUID | None = None
) -> Select[Any]:
    """Return the select of queued conflicts in the caller's scope, oldest first (to page)."""
    query = select(SyncConflict).where(_scope(actor))
    if status:
        query = query.where(SyncConflict.status == status)
    if record_id is not None:
        query = query.where(SyncConflict.record_id == str(record_id))
    return query.order_by(SyncConflict.id)


def _scope(actor: SyncActor) -> Any:
    """Conflicts a caller sees: a resolver its departments'; others their crews' and their own.

    A conflict quotes both values of a field, so it is shown no wider than the record: the
    archivist or the call center (department scope, but no field-record reads) and the crews
    of a station see only the conflicts of their own crews and pushes, never an inspector's.
    """
    if actor.can_resolve:
        # Nor wider than the entity: a dispatcher reads no collection visit, so sees none of
        # its conflicts.
        return and_(
            SyncConflict.department_id.in_(sorted(actor.department_ids)),
            SyncConflict.entity.not_in(sorted(actor.unreadable)),
        )
    return or_(SyncConflict.crew_id.in_(sorted(actor.crew_ids)), SyncConflict.device == actor.name)


def get_conflict(session: Session, actor: SyncActor, conflict_id: int) -> SyncConflict:
    """Load one conflict in the caller's scope or raise a 404."""
    conflict = session.scalar(
        select(SyncConflict).where(SyncConflict.id == conflict_id, _scope(actor))
    )
    if conflict is None:
        raise SyncError(404, "not-found", "Not found", f"conflict {conflict_id} does not exist")
    return conflict


def may_resolve(session: Session, actor: SyncActor, conflict_id: int) -> SyncConflict:
    """Load a conflict the caller may resolve (403 for a role that may not, 404 outside).

    The HTTP route asks this before it reads the resolution, so the refusal never depends
    on the body; `resolve` asks it again.
    """
    if not actor.can_resolve:
        raise SyncError(403, "forbidden", "Not allowed", "only dispatchers resolve conflicts")
    return get_conflict(session, actor, conflict_id)


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
    conflict = may_resolve(session, actor, conflict_id)
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
    # The resolution writes the record: the resolver must be allowed that write, like a push.
    refusal = adapter.permit(actor, "update")
    if refusal is not None:
        raise SyncError(403, RejectReason.FORBIDDEN.value, "Not allowed", refusal)
    if record.id not in visible_ids(session, adapter, actor, [record]):
        detail = f"{conflict.entity} {conflict.record_id} is outside your scope"
        raise SyncError(403, RejectReason.OUT_OF_SCOPE.value, "Outside your scope", detail)
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
    unfit = unstorable_text(dict(writes.values)) or column_problem(adapter, writes.values)
    if unfit is not None:
        raise SyncError(422, "sync-invalid-value", "Invalid value", f"value: {storable(unfit)}")
    refusal = adapter.authorize(session, actor, record, writes.values)
    if refusal is not None:
        raise SyncError(403, RejectReason.OUT_OF_SCOPE.value, "Outside your scope", refusal)
    if writes.values:
        # The same path as a push: the domain service (rules, history) or the columns, then
        # the after-write hook; a refusal undoes it and leaves the conflict open.
        try:
            with guarded(session):
                write_values(
                    session, adapter, actor, record, writes.values,
                    uuid.uuid5(uuid.NAMESPACE_URL, f"sync-conflict:{conflict.id}"), now,
                )  # fmt: skip
        except RejectionError as exc:
            status = (
                403 if exc.reason in (RejectReason.FORBIDDEN, RejectReason.OUT_OF_SCOPE) else 422
            )
            title = REJECT_TITLES.get(exc.reason, "Refused")
            raise SyncError(status, exc.reason.value, title, exc.detail) from exc
        session.flush()  # the change feed numbers the write
        note_writer(record, writes, actor.name)
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
