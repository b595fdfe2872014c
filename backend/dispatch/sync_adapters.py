"""Dispatch's synced entities: orders, their timing points and fault records.

Every push goes through the dispatch services (`record_timing_event`, `record_fault`), so a
handheld meets the same state machine, SLA timeline and recall checks as the API.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from backend.auth import policy
from backend.auth.sync_access import backend_actor, of_orders, permit, read_scope, rejection
from backend.dispatch.availability import report_availability
from backend.dispatch.closeout import record_fault
from backend.dispatch.models import FaultRecord, TimingEvent, WorkOrder
from backend.dispatch.timing.recording import record_timing_event
from backend.dispatch.timing.states import AVAILABILITY_EVENTS, STATUS_POINTS
from backend.errors import Conflict, Problem
from sync.entities import FAULT_RECORD, TIMING_EVENT, WORK_ORDER, RejectionError
from sync.protocol import RejectReason, format_time, parse_time
from sync.registry import EntityAdapter, SyncActor


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


def _create_timing_event(
    session: Any,
    actor: SyncActor,
    record_id: uuid.UUID,
    values: Mapping[str, object],
    correction: timedelta,
) -> TimingEvent:
    """Record a point through the dispatch service (state machine, SLA, idempotency).

    The device's record id is the event's id and its idempotency key: a replayed append finds
    the event, and the device pulls it back under the id it keeps.
    `unavailable` / `available` go through the availability rule, like the API's and the
    terminal's.
    """
    occurred = parse_time(values["occurred_at"])
    assert occurred is not None  # noqa: S101 - validated by the entity spec
    note = values.get("note")
    point = str(values["point"])
    report: dict[str, Any] = {
        "session": session,
        "actor": backend_actor(actor),
        "order_id": uuid.UUID(str(values["order_id"])),
        "point": point,
        "occurred_at": occurred + correction,
        "source": str(values["source"]),
        "event_id": str(record_id),
    }
    try:
        if point in AVAILABILITY_EVENTS:
            return report_availability(
                **report, note=str(note) if note else None, record_id=record_id
            )
        event, _created = record_timing_event(
            **report, details={"note": note} if note else None, record_id=record_id
        )
    except Conflict as exc:
        if point in AVAILABILITY_EVENTS:  # the rule refused: the crew's pool would be empty
            raise RejectionError(RejectReason.SERVER_STATE, exc.detail) from exc
        raise rejection(exc) from exc
    except Problem as exc:
        raise rejection(exc) from exc
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
        caller = backend_actor(actor)
        if not policy.can(caller, policy.Action.CREW_POINT_REPORT):
            detail = f"only the crew holding work order {order.number} moves its status"
            raise RejectionError(RejectReason.FORBIDDEN, detail)
        point = STATUS_POINTS.get(str(status))
        if point is None:  # pragma: no cover - the spec lets devices set only these
            raise RejectionError(RejectReason.SERVER_STATE, f"status {status!r} is server-owned")
        try:
            record_timing_event(
                session=session,
                actor=backend_actor(actor),
                order_id=order.id,
                point=point,
                occurred_at=occurred,
                source="sync",
                event_id=sync_event_id(actor, mutation_id),
            )
        except Problem as exc:
            raise rejection(exc) from exc
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
            actor=backend_actor(actor),
            order_id=order_id,
            data=_fault_data(values),
            record_id=record_id,
        )
    except Problem as exc:
        raise rejection(exc) from exc


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
            actor=backend_actor(actor),
            order_id=record.order_id,
            data=_fault_data(values),
            now=occurred,
        )
    except Problem as exc:
        raise rejection(exc) from exc


ADAPTERS = (
    EntityAdapter(
        WORK_ORDER,
        WorkOrder,
        permit=permit(WORK_ORDER),
        read=_work_order_fields,
        update=_update_work_order,
        time_field=None,
        scope=read_scope("work_order", policy.order_filter),
    ),
    EntityAdapter(
        FAULT_RECORD,
        FaultRecord,
        permit=permit(FAULT_RECORD),
        create=_create_fault_record,
        update=_update_fault_record,
        time_field=None,
        scope=of_orders("fault_record", FaultRecord),
    ),
    EntityAdapter(
        TIMING_EVENT,
        TimingEvent,
        permit=permit(TIMING_EVENT),
        create=_create_timing_event,
        read=_timing_event_fields,
        scope=of_orders("timing_event", TimingEvent),
    ),
)
