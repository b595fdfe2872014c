"""Plugs the backend into offline sync: synced entities, the request session and the caller."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend import blob_scope
from backend.archive import blobs as archive_blobs
from backend.archive import handheld
from backend.archive.models import Customer, Meter, Photo, Premise
from backend.auth import policy
from backend.auth.actor import Actor
from backend.auth.guard import current_actor, requires
from backend.dispatch.closeout import record_fault
from backend.dispatch.models import FaultRecord, TimingEvent, WorkOrder
from backend.dispatch.recording import record_timing_event
from backend.dispatch.states import STATUS_POINTS
from backend.errors import Conflict, Forbidden, InvalidTransition, NotFound, Problem
from backend.inspection.models import GpsFix, Inspection, MeterReading
from backend.unit_of_work import request_session
from sync.entities import (
    CUSTOMER,
    FAULT_RECORD,
    GPS_FIX,
    INSPECTION,
    METER,
    METER_READING,
    PHOTO,
    PREMISE,
    TIMING_EVENT,
    WORK_ORDER,
    EntitySpec,
    RejectionError,
)
from sync.protocol import Op, RejectReason, format_time, parse_time
from sync.registry import EntityAdapter, SyncActor, SyncHooks, registry


def sync_actor(session: Session, actor: Actor) -> SyncActor:
    """Reduce an authenticated actor to its sync scope and permissions (from the policy)."""
    crew_bound = policy.crew_bound(actor)
    if crew_bound:  # devices and crew members: their crew's records, their station's reference
        departments = frozenset({actor.department_id})
    else:
        departments = frozenset(session.scalars(policy.department_filter(actor)))
    return SyncActor(
        name=actor.audit_name,
        kind=actor.kind,
        department_id=actor.department_id,
        crew_id=actor.crew_id,
        crew_ids=actor.crew_ids,
        department_ids=departments,
        can_resolve=policy.can(actor, policy.Action.CONFLICT_RESOLVE),
        can_upload=policy.can(actor, policy.Action.UPLOAD_BLOB),
        crew_scoped=crew_bound and actor.kind == "user",
        origin=actor,
    )


def _caller(actor: SyncActor) -> Actor:
    """Return the backend actor behind a sync actor (services take it explicitly)."""
    assert isinstance(actor.origin, Actor)  # noqa: S101 - sync_actor always sets it
    return actor.origin


def _request_actor() -> SyncActor:
    actor: Actor = requires(policy.Action.SYNC)(current_actor)()
    return sync_actor(request_session(), actor)


def _permit(spec: EntitySpec) -> Callable[[SyncActor, str], str | None]:
    """Return the role check of pushes of one entity (the policy's `SYNC_ACTIONS`).

    Deny by default: an op the entity accepts but no rule grants is refused for everyone.
    """

    def permit(actor: SyncActor, op: str) -> str | None:
        action = policy.sync_action(spec.name, op)
        if action is None:
            if spec.allows(Op(op)):
                return f"no rule lets anyone {op} {spec.name} records"
            return None  # the entity's merge policy refuses the op itself (op-not-allowed)
        caller = _caller(actor)
        if not policy.can(caller, action):
            who = "device credentials" if caller.kind == "device" else f"role '{caller.role}'"
            return f"{who} may not {policy.RULES[action].summary}"
        return None

    return permit


# Records a pushed record may point at; each must be inside the caller's scope.
REFERENCES: dict[str, Any] = {"inspection_id": Inspection, "order_id": WorkOrder}


def _references_in_scope(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """Refuse a record that points at an inspection or order the caller may not see."""
    for field_name, model in REFERENCES.items():
        raw = values.get(field_name)
        if not isinstance(raw, str):
            continue
        try:
            target = session.get(model, uuid.UUID(raw))
        except ValueError:
            continue  # the entity spec has already refused a malformed id
        if target is None:
            continue
        # An order is visible as the policy says (REST and sync agree); others by their scope.
        if isinstance(target, WorkOrder):
            visible = policy.sees_order(session, _caller(actor), target)
        else:
            visible = actor.sees(target.department_id, target.crew_id)
        if not visible:
            return f"{field_name} {raw} is outside your scope"
    return None


def _archive_refs_in_scope(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """Orders and inspections in scope, and customers and premises where the caller works."""
    return _references_in_scope(session, actor, record, values) or (
        handheld.authorize_archive_refs(session, actor, record, values)
    )


def _work_order_fields(order: WorkOrder) -> dict[str, object]:
    """What a crew's handheld shows of an order (`sync.entities.WORK_ORDER`)."""
    return {
        "number": order.number,
        "order_type": order.order_type,
        "status": order.status,
        "crew_note": order.crew_note,
        "priority": order.priority,
        "fault_type": order.fault_type,
        "specialty": order.specialty,
        "description": order.description,
        "address": order.address,
        "caller_name": order.caller_name,
        "caller_phone": order.caller_phone,
        "customer_id": None if order.customer_id is None else str(order.customer_id),
        "premise_id": None if order.premise_id is None else str(order.premise_id),
        "crew_id": order.crew_id,
        "vehicle_id": order.vehicle_id,
        "queue_position": order.queue_position,
    }


def _timing_event_fields(event: TimingEvent) -> dict[str, object]:
    return {
        "order_id": str(event.order_id),
        "point": event.point,
        "occurred_at": format_time(event.occurred_at),
        "source": event.source,
        "note": (event.details or {}).get("note"),
    }


def _rejection(exc: Problem) -> RejectionError:
    if isinstance(exc, Forbidden):
        return RejectionError(RejectReason.OUT_OF_SCOPE, exc.detail)
    if isinstance(exc, NotFound):
        return RejectionError(RejectReason.NOT_FOUND, exc.detail)
    if isinstance(exc, InvalidTransition):
        return RejectionError(RejectReason.SERVER_STATE, exc.detail)
    if isinstance(exc, Conflict):  # e.g. the order was recalled from the crew
        return RejectionError(RejectReason.OUT_OF_SCOPE, exc.detail)
    return RejectionError(RejectReason.INVALID_VALUE, exc.detail)


def _create_timing_event(
    session: Any,
    actor: SyncActor,
    record_id: uuid.UUID,
    values: Mapping[str, object],
    correction: timedelta,
) -> TimingEvent:
    """Record a point through the dispatch service (state machine, SLA, idempotency).

    The device's record id becomes the event id, so a replayed append finds the event.
    """
    occurred = parse_time(values["occurred_at"])
    assert occurred is not None  # noqa: S101 - validated by the entity spec
    note = values.get("note")
    try:
        event, _created = record_timing_event(
            session=session,
            actor=_caller(actor),
            order_id=uuid.UUID(str(values["order_id"])),
            point=str(values["point"]),
            occurred_at=occurred + correction,
            source=str(values["source"]),
            event_id=str(record_id),
            details={"note": note} if note else None,
        )
    except Problem as exc:
        raise _rejection(exc) from exc
    return event


def sync_event_id(actor: SyncActor, mutation_id: uuid.UUID) -> str:
    """Return the event id of a status move: the mutation id, qualified by who pushed it.

    Mutation ids are unique per principal only; another device reusing one gets its own event.
    """
    return f"{mutation_id}.{hashlib.sha256(actor.name.encode()).hexdigest()[:16]}"


def _update_work_order(
    session: Any,
    actor: SyncActor,
    order: WorkOrder,
    values: Mapping[str, object],
    mutation_id: uuid.UUID,
    occurred: datetime,
) -> None:
    """Apply a crew's pushed order change: a status move is recorded as its timing point.

    The point goes through `record_timing_event` (source `sync`, `sync_event_id` as the event
    id, the skew-corrected device time), so the dispatch state machine, SLA timeline,
    idempotency and recall checks decide; a refusal rejects the whole mutation.
    """
    status = values.get("status")
    if status is not None:
        caller = _caller(actor)
        if not policy.can(caller, policy.Action.CREW_POINT_REPORT):
            detail = f"only the crew holding work order {order.number} moves its status"
            raise RejectionError(RejectReason.FORBIDDEN, detail)
        point = STATUS_POINTS.get(str(status))
        if point is None:  # pragma: no cover - the spec lets devices set only these
            raise RejectionError(RejectReason.SERVER_STATE, f"status {status!r} is server-owned")
        try:
            record_timing_event(
                session=session,
                actor=_caller(actor),
                order_id=order.id,
                point=point,
                occurred_at=occurred,
                source="sync",
                event_id=sync_event_id(actor, mutation_id),
            )
        except Problem as exc:
            raise _rejection(exc) from exc
        if order.status != status:  # the point was recorded but the order did not move
            detail = f"work order {order.number} is {order.status}, not {status}"
            raise RejectionError(RejectReason.SERVER_STATE, detail)
    if "crew_note" in values:
        order.crew_note = values["crew_note"]  # type: ignore[assignment]


def _fault_data(values: Mapping[str, object]) -> dict[str, Any]:
    data = {k: v for k, v in values.items() if k not in ("order_id", "filled_by", "filled_at")}
    if data.get("restored_at") is not None:
        data["restored_at"] = parse_time(data["restored_at"])
    if "materials" in data and data["materials"] is None:
        data["materials"] = []
    return data


def _create_fault_record(
    session: Any,
    actor: SyncActor,
    record_id: uuid.UUID,
    values: Mapping[str, object],
    correction: timedelta,
) -> FaultRecord:
    """Fill in an order's fault record through the dispatch service (crew and state checks)."""
    order_id = uuid.UUID(str(values["order_id"]))
    existing = session.scalar(select(FaultRecord.id).where(FaultRecord.order_id == order_id))
    if existing is not None:
        detail = (
            f"work order {order_id} already has fault record {existing}; pull it and send an update"
        )
        raise RejectionError(RejectReason.ID_REUSED, detail)
    try:
        return record_fault(
            session=session,
            actor=_caller(actor),
            order_id=order_id,
            data=_fault_data(values),
            record_id=record_id,
        )
    except Problem as exc:
        raise _rejection(exc) from exc


def _update_fault_record(
    session: Any,
    actor: SyncActor,
    record: FaultRecord,
    values: Mapping[str, object],
    mutation_id: uuid.UUID,
    occurred: datetime,
) -> None:
    """Correct a fault record through the dispatch service (the crew must still hold the order)."""
    try:
        record_fault(
            session=session,
            actor=_caller(actor),
            order_id=record.order_id,
            data=_fault_data(values),
            now=occurred,
        )
    except Problem as exc:
        raise _rejection(exc) from exc


ADAPTERS = (
    EntityAdapter(
        WORK_ORDER,
        WorkOrder,
        permit=_permit(WORK_ORDER),
        read=_work_order_fields,
        update=_update_work_order,
        time_field=None,
    ),
    EntityAdapter(
        FAULT_RECORD,
        FaultRecord,
        permit=_permit(FAULT_RECORD),
        create=_create_fault_record,
        update=_update_fault_record,
        time_field=None,
    ),
    EntityAdapter(
        TIMING_EVENT,
        TimingEvent,
        permit=_permit(TIMING_EVENT),
        create=_create_timing_event,
        read=_timing_event_fields,
    ),
    EntityAdapter(
        INSPECTION, Inspection, permit=_permit(INSPECTION), authorize=_archive_refs_in_scope
    ),
    EntityAdapter(
        METER_READING,
        MeterReading,
        permit=_permit(METER_READING),
        authorize=handheld.authorize_reading,
        after_write=handheld.note_meter_reading,
        blob_fields=("photo_sha256",),
    ),
    EntityAdapter(GPS_FIX, GpsFix, permit=_permit(GPS_FIX)),
    EntityAdapter(
        PHOTO,
        Photo,
        permit=_permit(PHOTO),
        authorize=_archive_refs_in_scope,
        blob_fields=("sha256",),
    ),
    # The customer archive: pulled where the caller's crews work; premises take corrections.
    EntityAdapter(
        CUSTOMER,
        Customer,
        permit=_permit(CUSTOMER),
        read=handheld.customer_fields,
        visible=handheld.visible,
        pushable=False,
        time_field=None,
    ),
    EntityAdapter(
        PREMISE,
        Premise,
        permit=_permit(PREMISE),
        read=handheld.premise_fields,
        update=handheld.update_premise,
        visible=handheld.visible,
        time_field=None,
    ),
    EntityAdapter(
        METER,
        Meter,
        permit=_permit(METER),
        read=handheld.meter_fields,
        visible=handheld.visible,
        pushable=False,
        time_field=None,
    ),
)


def init_app(app: Flask) -> None:
    """Register the synced entities and the request hooks."""
    for adapter in ADAPTERS:
        registry.register(adapter)
    blob_scope.register(registry)  # photos are readable through their order and inspection
    archive_blobs.register(registry)  # documents and photos through their customer file
    registry.hooks = SyncHooks(session=request_session, actor=_request_actor)
