"""Work-order rules: create, issue, accept, dispatch, recall, reassign, fault record, close.

Every function is keyword-only, takes the session and actor, flushes and never commits.
`record_timing_event` and `mark_delivered` (crew-side points) live in `recording` and are
re-exported here.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from backend.archive.links import link_archive
from backend.auth import policy
from backend.auth.actor import Actor
from backend.auth.policy import authorize, load_in_scope, sees_department
from backend.db import utcnow
from backend.dispatch.alerts import settle
from backend.dispatch.availability import ensure_available
from backend.dispatch.models import TimingEvent, WorkOrder
from backend.dispatch.timing.events import (
    append_event,
    check_not_future,
    order_events,
    refresh_sla,
)
from backend.dispatch.timing.recording import mark_delivered, record_timing_event
from backend.dispatch.timing.states import OPEN_CREW_STATES, Action, OrderStatus, can, next_state
from backend.errors import Conflict, OutOfScope, field_error
from backend.network.grouping import link_call
from backend.network.outage_models import OrderSuggestionLink
from backend.network.suggestions import group_call, held_orders
from backend.network.water import link_order_asset
from backend.org.models import Crew, Department, DepartmentKind, Vehicle
from backend.tracking.terminal import enqueue_order

__all__ = ["mark_delivered", "record_timing_event"]

SAME_SITE_METRES = 300.0


def visible_filter(actor: Actor) -> ColumnElement[bool]:
    """Orders the actor may see (the policy's work-order scope)."""
    return policy.order_filter(actor)


def list_orders(*, actor: Actor, filters: dict[str, Any]) -> Select[tuple[WorkOrder]]:
    """Return a select of visible orders, newest first, optionally filtered."""
    authorize(actor, policy.Action.ORDER_READ)
    statement = select(WorkOrder).where(visible_filter(actor))
    for key in ("status", "crew_id", "vehicle_id", "repair_center_id", "order_type"):
        if filters.get(key) is not None:
            statement = statement.where(getattr(WorkOrder, key) == filters[key])
    if filters.get("open"):
        statement = statement.where(WorkOrder.status != OrderStatus.CLOSED)
    return statement.order_by(WorkOrder.created_at.desc(), WorkOrder.number.desc())


def get_order(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    lock: bool = False,
    action: policy.Action = policy.Action.ORDER_READ,
) -> WorkOrder:
    """Load an order the actor may see and act on (`action`), or raise 404/403."""
    return load_in_scope(session, actor, WorkOrder, order_id, action=action, lock=lock)


def _department(session: Session, department_id: int, kind: str) -> Department:
    # Any repair center may receive: the call center issues across the tree.
    department = session.get(Department, department_id)
    if department is None or department.kind != kind:
        raise field_error(f"{kind}_id", f"Department {department_id} is not a {kind}.")
    return department


def repair_centers() -> Select[tuple[Department]]:
    """Return a select of every repair center: where the call center may issue an order."""
    return (
        select(Department)
        .where(Department.kind == DepartmentKind.REPAIR_CENTER)
        .order_by(Department.name, Department.id)
    )


def _number(now: datetime) -> str:
    return f"WO{now:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"


def create_order(
    *, session: Session, actor: Actor, data: dict[str, Any], now: datetime | None = None
) -> WorkOrder:
    """Take a repair call: record A (the caller hung up) and, if a center is named, issue it."""
    authorize(actor, policy.Action.ORDER_CREATE)
    now = now or utcnow()
    data = dict(data)
    hung_up_at = data.pop("hung_up_at")
    check_not_future(hung_up_at, now, "hung_up_at")
    repair_center_id = data.pop("repair_center_id", None)
    issued_at = data.pop("issued_at", None)
    water_asset_id = data.pop("water_asset_id", None)
    call_center_id = data.pop("call_center_id", None) or actor.department_id
    call_center = session.get(Department, call_center_id)
    if call_center is None:
        raise field_error("call_center_id", f"Department {call_center_id} does not exist.")
    if not sees_department(actor, call_center):
        raise OutOfScope(f"Department {call_center_id} is outside your data scope.")
    if not data.get("region_code"):
        data["region_code"] = call_center.region_code or "default"
    link_archive(session, actor, data)
    order = WorkOrder(
        id=data.pop("id", None) or uuid.uuid4(),
        number=_number(now),
        status=OrderStatus.NEW,
        call_center_id=call_center.id,
        department_id=call_center.id,
        created_at=now,
        updated_at=now,
        **data,
    )
    session.add(order)
    session.flush()
    if water_asset_id is not None:
        link_order_asset(session, actor, order, water_asset_id)
    append_event(
        session,
        order,
        point="A",
        occurred_at=min(hung_up_at, now),
        source="manual",
        actor=actor.audit_name,
        now=now,
    )
    # A call from under an active outage joins it: recorded, not issued, never escalated.
    outage = link_call(session, order, now)
    if outage is not None:
        append_event(
            session, order, point="linked_outage", occurred_at=now, source="system",
            actor=actor.audit_name, now=now,
            details={"outage_id": str(outage.id), "outage": outage.number,
                     "note": f"linked to outage {outage.number}"},
        )  # fmt: skip
        refresh_sla(session, order)
        return order
    # Several callers under one area (or areas of one line): a probable outage holds the call.
    suggestion = group_call(session, order, now)
    if suggestion is not None:
        append_event(
            session, order, point="linked_suggestion", occurred_at=now, source="system",
            actor=actor.audit_name, now=now,
            details={"suggestion_id": suggestion.id, "level": suggestion.level,
                     "note": f"held: probable outage #{suggestion.id} on this {suggestion.level}"},
        )  # fmt: skip
        refresh_sla(session, order)
        return order
    if repair_center_id is not None:
        issue_order(
            session=session,
            actor=actor,
            order_id=order.id,
            repair_center_id=repair_center_id,
            issued_at=issued_at,
            now=now,
        )
    else:
        refresh_sla(session, order)
    return order


def issue_order(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    repair_center_id: int,
    issued_at: datetime | None = None,
    now: datetime | None = None,
) -> WorkOrder:
    """Issue the order to a repair center: B when the call center issued it, C on arrival."""
    now = now or utcnow()
    order = get_order(
        session=session, actor=actor, order_id=order_id, lock=True, action=policy.Action.ORDER_ISSUE
    )
    order.status = next_state(order.status, Action.ISSUE)
    if session.scalar(
        select(held_orders().where(OrderSuggestionLink.order_id == order.id).exists())
    ):
        raise Conflict(
            f"Order {order.number} is held under an open probable-outage suggestion: "
            "confirm or dismiss the suggestion first."
        )
    center = _department(session, repair_center_id, DepartmentKind.REPAIR_CENTER)
    if issued_at is not None:
        check_not_future(issued_at, now, "issued_at")
    order.repair_center_id = center.id
    order.department_id = center.id
    order.updated_at = now
    session.flush()
    b_time = min(issued_at, now) if issued_at else now
    append_event(
        session,
        order,
        point="B",
        occurred_at=b_time,
        source="manual" if issued_at else "system",
        actor=actor.audit_name,
        now=now,
    )
    # Fieldline delivers to the repair center's queue in the same transaction: C is now.
    append_event(
        session,
        order,
        point="C",
        occurred_at=now,
        source="system",
        actor=actor.audit_name,
        now=now,
        details={"repair_center_id": center.id},
    )
    refresh_sla(session, order)
    return order


def accept_at_center(
    *, session: Session, actor: Actor, order_id: uuid.UUID, now: datetime | None = None
) -> WorkOrder:
    """The repair center takes the order on (stops the acceptance escalation)."""
    return system_step(
        session=session,
        actor=actor,
        order_id=order_id,
        action=Action.CENTER_ACCEPT,
        point="center_accepted",
        now=now,
        permission=policy.Action.ORDER_ACCEPT,
    )


def system_step(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    action: Action,
    point: str,
    now: datetime | None,
    permission: policy.Action,
) -> WorkOrder:
    """Move the order by `action` now and record `point` as a system event (`permission`)."""
    now = now or utcnow()
    order = get_order(session=session, actor=actor, order_id=order_id, lock=True, action=permission)
    order.status = next_state(order.status, action)
    order.updated_at = now
    append_event(
        session,
        order,
        point=point,
        occurred_at=now,
        source="system",
        actor=actor.audit_name,
        now=now,
    )
    settle(session, [order], now)
    return order


def _distance_m(a: Any, b: Any) -> float:
    pa, pb = to_shape(a), to_shape(b)
    lat = math.radians((pa.y + pb.y) / 2)
    dx = math.radians(pb.x - pa.x) * math.cos(lat) * 6_371_000
    dy = math.radians(pb.y - pa.y) * 6_371_000
    return math.hypot(dx, dy)


def same_site(crew: Crew, center: Department | None) -> bool:
    """Tell whether a crew works from its repair center's site (DE limit 2 instead of 4 min)."""
    station = crew.department
    if center is None or station.id == center.id:
        return station.id == getattr(center, "id", None)
    if station.site is None or center.site is None:
        return False
    return _distance_m(station.site, center.site) <= SAME_SITE_METRES


def _crew_and_vehicle(
    session: Session, actor: Actor, order: WorkOrder, crew_id: int, vehicle_id: int | None
) -> tuple[Crew, Vehicle]:
    crew = session.get(Crew, crew_id)
    if crew is None:
        raise field_error("crew_id", f"Crew {crew_id} does not exist.")
    if not sees_department(actor, crew.department):
        raise OutOfScope(f"Crew {crew_id} is outside your data scope.")
    if order.specialty not in (crew.work_types or []):
        raise field_error(
            "crew_id",
            f"Crew {crew.name} covers {', '.join(crew.work_types) or 'nothing'}, "
            f"not {order.specialty}.",
        )
    ensure_available(session, crew)
    if vehicle_id is None:
        vehicle = session.scalar(select(Vehicle).where(Vehicle.crew_id == crew.id).limit(1))
        if vehicle is None:
            raise field_error("vehicle_id", f"Crew {crew.name} has no vehicle; name one.")
    else:
        vehicle = session.get(Vehicle, vehicle_id)
        if vehicle is None or vehicle.crew_id != crew.id:
            raise field_error("vehicle_id", f"Vehicle {vehicle_id} is not crew {crew.name}'s.")
    return crew, vehicle


def _queue_terminal(session: Session, order: WorkOrder, vehicle: Vehicle, kind: str) -> None:
    """Queue an order or recall for the vehicle terminal (tracking publishes it over MQTT)."""
    location = to_shape(order.location) if order.location is not None else None
    # The round lets the terminal's ack of an earlier round's message be told apart.
    payload: dict[str, Any] = {"number": order.number, "dispatch_round": order.dispatch_round}
    if kind == "order":
        payload.update(
            address=order.address,
            fault_type=order.fault_type,
            priority=order.priority,
            lat=location.y if location else None,
            lon=location.x if location else None,
            queue_position=order.queue_position,
        )
    enqueue_order(
        session=session,
        vehicle_id=vehicle.id,
        order_id=str(order.id),
        payload=payload,
        kind=kind,
    )


def dispatch_order(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    crew_id: int,
    vehicle_id: int | None = None,
    now: datetime | None = None,
) -> WorkOrder:
    """Send the order to a crew and its vehicle (D); it joins the end of the vehicle's queue."""
    now = now or utcnow()
    order = get_order(
        session=session,
        actor=actor,
        order_id=order_id,
        lock=True,
        action=policy.Action.ORDER_DISPATCH,
    )
    status = next_state(order.status, Action.DISPATCH)
    crew, vehicle = _crew_and_vehicle(session, actor, order, crew_id, vehicle_id)
    last = session.scalar(
        select(func.max(WorkOrder.queue_position)).where(
            WorkOrder.vehicle_id == vehicle.id, WorkOrder.status.in_(OPEN_CREW_STATES)
        )
    )
    order.status = status
    order.crew_id, order.vehicle_id = crew.id, vehicle.id
    order.queue_position = (last or 0) + 1
    order.same_site = same_site(crew, order.repair_center)
    order.updated_at = now
    session.flush()
    append_event(
        session,
        order,
        point="D",
        occurred_at=now,
        source="system",
        actor=actor.audit_name,
        now=now,
        details={"crew_id": crew.id, "vehicle_id": vehicle.id},
    )
    _queue_terminal(session, order, vehicle, "order")
    refresh_sla(session, order)
    settle(session, [order], now)
    return order


def _recall_tier(actor: Actor, order: WorkOrder) -> tuple[str, Action]:
    """Which recall the order's state makes (from its crew, or its center), if the actor may."""
    if can(order.status, Action.RECALL_FROM_CREW):
        authorize(actor, policy.Action.ORDER_RECALL_FROM_CREW)
        return "crew", Action.RECALL_FROM_CREW
    authorize(actor, policy.Action.ORDER_RECALL_FROM_CENTER)
    return "center", Action.RECALL_FROM_CENTER


def may_recall(*, session: Session, actor: Actor, order_id: uuid.UUID) -> None:
    """Check, before the reason is read, that the actor may make the recall the order is due."""
    _recall_tier(actor, get_order(session=session, actor=actor, order_id=order_id))


def recall_order(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    reason: str,
    now: datetime | None = None,
) -> WorkOrder:
    """The sender takes a misrouted order back: from the crew (repair center) or the center.

    A recall from a crew also queues a recall message for the vehicle terminal.
    """
    now = now or utcnow()
    order = get_order(session=session, actor=actor, order_id=order_id, lock=True)
    tier, action = _recall_tier(actor, order)
    status = next_state(order.status, action)
    details = {
        "tier": tier,
        "reason": reason,
        "crew_id": order.crew_id,
        "vehicle_id": order.vehicle_id,
        "repair_center_id": order.repair_center_id,
    }
    vehicle = order.vehicle
    append_event(
        session,
        order,
        point="recalled",
        occurred_at=now,
        source="system",
        actor=actor.audit_name,
        now=now,
        details=details,
    )
    session.flush()
    if tier == "crew" and vehicle is not None:
        _queue_terminal(session, order, vehicle, "recall")
    order.status = status
    order.dispatch_round += 1
    order.crew_id = order.vehicle_id = order.queue_position = None
    order.same_site = None
    if tier == "center":
        order.repair_center_id = None
        order.department_id = order.call_center_id
    order.updated_at = now
    refresh_sla(session, order)
    settle(session, [order], now)
    return order


def reassign_order(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    crew_id: int,
    vehicle_id: int | None,
    reason: str,
    now: datetime | None = None,
) -> WorkOrder:
    """Recall the order from its crew and dispatch it to another, in one step."""
    order = get_order(
        session=session, actor=actor, order_id=order_id, action=policy.Action.ORDER_DISPATCH
    )
    if not can(order.status, Action.RECALL_FROM_CREW):
        next_state(order.status, Action.RECALL_FROM_CREW)
    recall_order(session=session, actor=actor, order_id=order_id, reason=reason, now=now)
    return dispatch_order(
        session=session,
        actor=actor,
        order_id=order_id,
        crew_id=crew_id,
        vehicle_id=vehicle_id,
        now=now,
    )


def history(*, session: Session, actor: Actor, order_id: uuid.UUID) -> list[TimingEvent]:
    """Return the order's whole event history, in recorded order."""
    order = get_order(session=session, actor=actor, order_id=order_id)
    return order_events(session, order.id)
