"""Timing events: append, validate against the state machine, recompute the timeline, breaches.

`record_timing_event` is the one entry point for points reported by crews, terminals,
geofences and offline sync (E, F, G, H and `finished`). Its signature is stable:

    record_timing_event(*, session, actor, order_id, point, occurred_at, source,
                        event_id=None, details=None, backfilled=False, vehicle_id=None,
                        now=None) -> tuple[TimingEvent, bool]

It only flushes; the caller's unit of work commits. The boolean is False when the event id
was seen before (the stored event is returned unchanged: replays are idempotent).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth import policy as access  # `policy` names SLA policies here
from backend.auth.actor import Actor
from backend.db import utcnow
from backend.dispatch import sla
from backend.dispatch.models import SlaBreach, TimingEvent, WorkOrder
from backend.dispatch.policies import policy_for
from backend.dispatch.states import OPEN_CREW_STATES, POINT_ACTIONS, STATE_POINT, can, next_state
from backend.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    OutOfScope,
    field_error,
)

# A device time further ahead of the server than this is refused; closer, it is clamped.
FUTURE_TOLERANCE = timedelta(minutes=2)
POINTS = "ABCDEFGH"
# A recall invalidates the points from here on that were recorded before it.
RECALL_REWIND = {"crew": POINTS.index("D"), "center": POINTS.index("B")}


def check_not_future(occurred_at: datetime, now: datetime, field: str = "occurred_at") -> bool:
    """Refuse times beyond the tolerance; return True when the time is ahead but tolerated."""
    if occurred_at.utcoffset() is None:
        raise field_error(field, "Times must carry a UTC offset.")
    if occurred_at > now + FUTURE_TOLERANCE:
        raise field_error(
            field,
            f"{occurred_at.isoformat()} is more than {FUTURE_TOLERANCE} ahead of the server "
            f"clock ({now.isoformat()}); check the device clock.",
        )
    return occurred_at > now


def append_event(
    session: Session,
    order: WorkOrder,
    *,
    point: str,
    occurred_at: datetime,
    source: str,
    actor: str,
    event_id: str | None = None,
    details: dict[str, Any] | None = None,
    backfilled: bool = False,
    clock_corrected: bool = False,
    device_time: datetime | None = None,
    now: datetime | None = None,
) -> TimingEvent:
    """Append one event to an order's history (no checks: callers validated it)."""
    event = TimingEvent(
        id=uuid.uuid4(),
        order_id=order.id,
        event_id=event_id or str(uuid.uuid4()),
        point=point,
        occurred_at=occurred_at,
        recorded_at=now or utcnow(),
        device_time=device_time,
        source=source,
        actor=actor,
        dispatch_round=order.dispatch_round,
        backfilled=backfilled,
        clock_corrected=clock_corrected,
        department_id=order.department_id,
        crew_id=order.crew_id,
        details=details or {},
    )
    session.add(event)
    session.flush()  # one flush per event: its change-feed version orders the history
    return event


def order_events(session: Session, order_id: uuid.UUID) -> list[TimingEvent]:
    """Return an order's whole history in the order it was recorded."""
    return list(
        session.scalars(
            select(TimingEvent)
            .where(TimingEvent.order_id == order_id)
            .order_by(TimingEvent.version)
        )
    )


def counting_events(rows: Sequence[TimingEvent]) -> list[TimingEvent]:
    """Return the A-H events that count: a recall voids the points from its tier on.

    A recall from the crew voids D-H recorded in its round or before (the new dispatch starts
    CD again, so a misroute is charged to the repair center); a recall from the repair
    center voids B-H the same way.
    """
    recalls = [
        (r.dispatch_round, RECALL_REWIND[r.details.get("tier", "crew")])
        for r in rows
        if r.point == "recalled"
    ]
    return [
        r
        for r in rows
        if r.point in POINTS
        and not any(
            round_ >= r.dispatch_round and POINTS.index(r.point) >= rewind
            for round_, rewind in recalls
        )
    ]


def to_sla_event(row: TimingEvent) -> sla.TimingEvent:
    """Convert a stored event for the pure engine."""
    return sla.TimingEvent(
        event_id=row.event_id,
        point=sla.TimingPoint(row.point),
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        source=sla.EventSource(row.source),
        backfilled=row.backfilled,
    )


def timeline_for(
    order: WorkOrder, rows: Sequence[TimingEvent], policy: sla.SlaPolicy, now: datetime | None
) -> sla.Timeline:
    """Compute an order's timeline from its stored history."""
    events = [to_sla_event(r) for r in counting_events(rows)]
    return sla.compute_timeline(events, policy, same_site=bool(order.same_site), now=now)


def order_timeline(
    session: Session, order: WorkOrder, now: datetime | None = None
) -> tuple[sla.Timeline, sla.SlaPolicy]:
    """Load the history and policy of an order and compute its timeline."""
    policy = policy_for(session, region_code=order.region_code, order_type=order.order_type)
    return timeline_for(order, order_events(session, order.id), policy, now), policy


def responsible_department(order: WorkOrder, party: sla.Responsible | None) -> int | None:
    """Map a segment's responsible party to the order's department (None for the network)."""
    if party is sla.Responsible.CALL_CENTER:
        return order.call_center_id
    if party is sla.Responsible.REPAIR_CENTER:
        return order.repair_center_id
    if party is sla.Responsible.CREW:
        return order.crew.department_id if order.crew is not None else None
    return None


def write_breaches(session: Session, order: WorkOrder, timeline: sla.Timeline) -> list[SlaBreach]:
    """Write each finished breached segment once; earlier rows are never touched."""
    found = sla.breaches(timeline, include_running=False)
    if not found:
        return []
    known = set(session.scalars(select(SlaBreach.segment).where(SlaBreach.order_id == order.id)))
    written = []
    for breach in found:
        if breach.breach_key in known:
            continue
        row = SlaBreach(
            order_id=order.id,
            segment=breach.segment,
            duration_s=breach.duration.total_seconds(),
            limit_s=breach.limit.total_seconds(),
            responsible=str(breach.responsible) if breach.responsible else None,
            department_id=responsible_department(order, breach.responsible),
        )
        session.add(row)
        written.append(row)
    session.flush()
    return written


def refresh_sla(session: Session, order: WorkOrder) -> sla.Timeline:
    """Recompute the timeline after a change and record new breaches."""
    session.flush()
    timeline, _ = order_timeline(session, order)
    write_breaches(session, order, timeline)
    return timeline


def load_order(session: Session, order_id: uuid.UUID, *, lock: bool = False) -> WorkOrder:
    """Load an order (row-locked on PostgreSQL when `lock`), or raise 404."""
    statement = select(WorkOrder).where(WorkOrder.id == order_id)
    if lock:
        statement = statement.with_for_update()
    order = session.scalar(statement)
    if order is None:
        raise NotFound(f"Work order {order_id} does not exist.")
    return order


def _check_crew(
    session: Session,
    actor: Actor,
    order: WorkOrder,
    vehicle_id: int | None,
    source: str,
    details: dict[str, Any] | None,
) -> None:
    """Check who may record a crew point: the crew or vehicle holding the order.

    Anyone else may only correct a point by hand if the policy lets them (supervisor,
    admin): source `manual`, with `details.reason`, on an order in their scope.
    """
    if actor.kind == "system" and vehicle_id is None:
        return
    if vehicle_id is None and not access.crew_bound(actor):
        if not access.sees_order(session, actor, order):
            raise OutOfScope(f"Work order {order.number} is outside your data scope.")
        access.authorize(actor, access.Action.CREW_POINT_CORRECT)
        if source != "manual" or not str((details or {}).get("reason") or "").strip():
            raise field_error(
                "details",
                "A correction of a crew point is entered by hand: source `manual` and "
                "`details.reason` saying why.",
            )
        return
    if vehicle_id is None:
        access.authorize(actor, access.Action.CREW_POINT_REPORT)
    if access.holds_order(actor, order, vehicle_id=vehicle_id):
        return
    if vehicle_id is not None:
        former = session.scalar(
            select(TimingEvent.id).where(
                TimingEvent.order_id == order.id,
                TimingEvent.point == "D",
                TimingEvent.details["vehicle_id"].as_integer() == vehicle_id,
            )
        )
    else:
        crews = actor.crew_ids or ({actor.crew_id} if actor.crew_id else set())
        former = session.scalar(
            select(TimingEvent.id).where(
                TimingEvent.order_id == order.id,
                TimingEvent.point == "D",
                TimingEvent.crew_id.in_(crews),
            )
        )
    if former is not None:
        raise Conflict(
            f"Work order {order.number} was recalled from your crew; it is {order.status}.",
            current_state=order.status,
        )
    raise Forbidden(f"Work order {order.number} was not sent to your crew.")


def record_timing_event(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    point: str,
    occurred_at: datetime,
    source: str,
    event_id: str | None = None,
    details: dict[str, Any] | None = None,
    backfilled: bool = False,
    vehicle_id: int | None = None,
    now: datetime | None = None,
) -> tuple[TimingEvent, bool]:
    """Record a crew-side timing point (E, F, G, H) or `finished` for an order.

    Args:
        session: the caller's unit of work (only flushed here).
        actor: who reports it; crew users and devices must hold the order.
        order_id: the work order.
        point: "E", "F", "G", "H" or "finished".
        occurred_at: when it happened (device clock, aware).
        source: an `sla.EventSource` value (manual, terminal, geofence, sync, system).
        event_id: the sender's idempotency key; a repeat returns the stored event.
        details: free evidence stored with the event (geofence fix, note ...).
        backfilled: the sender knows the event arrives late (ORed with our own check).
        vehicle_id: the reporting vehicle (tracking); it must hold the order.
        now: the server time to validate against (tests); defaults to the clock.

    Returns:
        The stored event and True, or the earlier event with that id and False.

    Raises:
        NotFound, Forbidden, Conflict, InvalidTransition, Unprocessable (future time,
        unknown point or source).
    """
    now = now or utcnow()
    order = load_order(session, order_id, lock=True)
    # Authorize before anything else (a replay must not reveal another crew's event either).
    _check_crew(session, actor, order, vehicle_id, source, details)
    if point not in POINT_ACTIONS:
        raise field_error("point", f"Crews report E, F, G, H or finished, not {point!r}.")
    try:
        source = sla.EventSource(source).value
    except ValueError:
        raise field_error("source", f"Unknown source {source!r}.") from None
    if event_id:
        existing = session.scalar(select(TimingEvent).where(TimingEvent.event_id == event_id))
        if existing is not None:
            if existing.order_id != order_id or existing.point != point:
                raise Conflict(f"Event id {event_id} was already used for another event.")
            return existing, False
    ahead = check_not_future(occurred_at, now)
    device_time = occurred_at if ahead else None
    effective = now if ahead else occurred_at  # a future device time never moves the timeline

    rows = order_events(session, order.id)
    current = [r for r in counting_events(rows) if r.dispatch_round == order.dispatch_round]
    same_point = [r for r in current if r.point == point]
    if point == "finished":
        same_point = [r for r in rows if r.point == "finished"]
    action = POINT_ACTIONS[point]
    if same_point:
        # Terminal and geofence may both witness a point: keep each source's claim (the
        # earliest wins in the engine), but the same witness twice is a double report.
        if any(r.source == source for r in same_point) or point == "finished":
            raise InvalidTransition(
                f"Point {point} is already recorded for work order {order.number} "
                f"(it is {order.status}).",
                current_state=order.status,
            )
        status_after = order.status
        # An earlier witness arriving late moves the timeline back: that is a backfill.
        backfilled = backfilled or effective < min(r.occurred_at for r in same_point)
    elif can(order.status, action):
        status_after = next_state(order.status, action)
    elif (
        point in POINTS
        and order.status in OPEN_CREW_STATES | {"finished", "followed_up", "closed"}
        and POINTS.index(point) < POINTS.index(STATE_POINT[order.status])
    ):
        backfilled = True  # the order moved past a point that was never recorded
        status_after = order.status
    else:
        next_state(order.status, action)  # raises the 409 naming the current state
        raise AssertionError("unreachable")  # pragma: no cover - next_state raised
    later = [r for r in current if r.point in POINTS and POINTS.index(r.point) > _index(point)]
    try:
        with session.begin_nested():
            event = append_event(
                session,
                order,
                point=point,
                occurred_at=effective,
                source=source,
                actor=actor.audit_name,
                event_id=event_id,
                details=details,
                backfilled=backfilled or bool(later),
                clock_corrected=ahead,
                device_time=device_time,
                now=now,
            )
    except IntegrityError:
        # A concurrent writer stored the same event id first: return theirs.
        stored = session.scalar(select(TimingEvent).where(TimingEvent.event_id == event_id))
        if stored is None:
            raise
        return stored, False
    if status_after != order.status:
        order.status = status_after
        if status_after == "finished":
            order.queue_position = None
    refresh_sla(session, order)
    return event, True


def _index(point: str) -> int:
    return POINTS.index(point) if point in POINTS else len(POINTS)


def mark_delivered(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    vehicle_id: int,
    occurred_at: datetime,
    event_id: str,
    now: datetime | None = None,
) -> tuple[TimingEvent, bool]:
    """Record point E from a terminal's ack; an ack after E was already recorded is a no-op."""
    order = load_order(session, order_id)
    existing = [
        r
        for r in counting_events(order_events(session, order.id))
        if r.point == "E" and r.dispatch_round == order.dispatch_round
    ]
    if existing and not session.scalar(
        select(TimingEvent.id).where(TimingEvent.event_id == event_id)
    ):
        return existing[0], False
    return record_timing_event(
        session=session,
        actor=actor,
        order_id=order_id,
        point="E",
        occurred_at=occurred_at,
        source=sla.EventSource.TERMINAL,
        event_id=event_id,
        vehicle_id=vehicle_id,
        now=now,
    )
