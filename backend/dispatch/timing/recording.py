"""Crew-side timing points (E-H, finished): validate, decide and append in one pass.

`record_timing_event` is the one entry point for points reported by handhelds (REST and
sync), vehicle terminals and geofences (tracking) and the demo. Its signature is stable:

    record_timing_event(*, session, actor, order_id, point, occurred_at, source,
                        event_id=None, details=None, backfilled=False, vehicle_id=None,
                        now=None) -> tuple[TimingEvent, bool]

It only flushes; the caller's unit of work commits. The boolean is False when the event id
was seen before (the stored event is returned unchanged: replays are idempotent).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth import policy as access
from backend.auth.actor import Actor
from backend.db import utcnow
from backend.dispatch.alerts import settle
from backend.dispatch.models import TimingEvent, WorkOrder
from backend.dispatch.timing import sla
from backend.dispatch.timing.deciding import PointAhead, decide
from backend.dispatch.timing.events import (
    append_event,
    check_not_future,
    counting_events,
    load_order,
    order_events,
    refresh_sla,
)
from backend.dispatch.timing.states import CREW_POINTS, CrewPoint, OrderStatus, point_index
from backend.errors import Conflict, Forbidden, InvalidTransition, OutOfScope, field_error
from backend.tracking.models import Checkpoint, ClaimStatus


def may_report(
    session: Session, actor: Actor, order_id: uuid.UUID, vehicle_id: int | None = None
) -> None:
    """Check, before any report is read, that the actor may report or correct the order's points.

    The REST route asks this ahead of the body (a caller without the right gets its 403
    whatever it sent); `record_timing_event` asks it again.
    """
    _check_reporter(session, actor, load_order(session, order_id), vehicle_id)


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
    correcting = _check_reporter(session, actor, order, vehicle_id)
    if correcting and (source != "manual" or not str((details or {}).get("reason") or "").strip()):
        raise field_error(
            "details",
            "A correction of a crew point is entered by hand: source `manual` and "
            "`details.reason` saying why.",
        )


def _check_reporter(
    session: Session, actor: Actor, order: WorkOrder, vehicle_id: int | None
) -> bool:
    """Raise unless the actor holds the order or may correct it; True for a correction."""
    if actor.kind == "system" and vehicle_id is None:
        return False
    if vehicle_id is None and not access.crew_bound(actor):
        if not access.sees_order(session, actor, order):
            raise OutOfScope.of("Work order")
        access.authorize(actor, access.Action.CREW_POINT_CORRECT)
        return True
    if vehicle_id is None:
        access.authorize(actor, access.Action.CREW_POINT_REPORT)
    if access.holds_order(actor, order, vehicle_id=vehicle_id):
        return False
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
    raise Forbidden("This work order was not sent to your crew.")


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
    record_id: uuid.UUID | None = None,
) -> tuple[TimingEvent, bool]:
    """Record a crew-side point (E, F, G, H or `finished`): validate, decide, append, once.

    Every path reports through here: REST and sync (handhelds), the vehicle terminal and the
    geofence (tracking), the demo. The order is locked and its history read once; the
    decision is `deciding.decide`; after the point is taken, geofence proofs parked for want
    of it are taken too (`backend.dispatch.parked`). Only flushes.

    Args:
        session: the caller's unit of work.
        actor: who reports it; crew users and devices must hold the order.
        order_id: the work order.
        point: "E", "F", "G", "H" or "finished" (`states.CREW_POINTS`).
        occurred_at: when it happened (device clock, aware).
        source: the witness; the table says which may report which point.
        event_id: the sender's idempotency key; a repeat returns the stored event.
        details: free evidence stored with the event (geofence fix, note ...).
        backfilled: the sender knows the event arrives late (ORed with our own check).
        vehicle_id: the reporting vehicle (tracking); it must hold the order.
        now: the server time to validate against (tests); defaults to the clock.
        record_id: the event's own id when the sender chose it (a handheld's synced record:
            the device keeps it under that id and pulls it back under the same one).

    Returns:
        The stored event and True, or the earlier event with that id and False.

    Raises:
        NotFound, Forbidden, Conflict, InvalidTransition (`PointAhead` when an earlier point
        is missing), Unprocessable (future time, unknown point, source not allowed).
    """
    now = now or utcnow()
    order = load_order(session, order_id, lock=True)
    # Authorize before anything else (a replay must not reveal another crew's event either).
    _check_crew(session, actor, order, vehicle_id, source, details)
    rule = crew_point(point, source)
    if event_id:
        existing = session.scalar(select(TimingEvent).where(TimingEvent.event_id == event_id))
        if existing is not None:
            if existing.order_id != order_id or existing.point != point:
                raise Conflict(f"Event id {event_id} was already used for another event.")
            return existing, False
    ahead = check_not_future(occurred_at, now)
    report = Report(
        rule=rule,
        source=source,
        occurred_at=now if ahead else occurred_at,  # a future device time never moves the timeline
        device_time=occurred_at if ahead else None,
        event_id=event_id,
        details=details,
        backfilled=backfilled,
        record_id=record_id,
    )
    history = order_events(session, order.id)
    event = take(session, order, history, report, actor=actor.audit_name, now=now)
    if event is None:  # a concurrent writer stored the same event id first: return theirs
        stored = session.scalar(select(TimingEvent).where(TimingEvent.event_id == event_id))
        if stored is None:  # pragma: no cover - the savepoint failed for another reason
            raise Conflict(f"Event id {event_id} could not be stored.")
        return stored, False
    take_parked(session, order, history, actor=actor.audit_name, now=now)
    refresh_sla(session, order, history)
    settle(session, [order], now)  # an acceptance ends the crew's escalation
    return event, True


def crew_point(point: str, source: str) -> CrewPoint:
    """Return the table's row for a crew point, or 422 when the point or its witness is wrong."""
    rule = CREW_POINTS.get(point)
    if rule is None:
        raise field_error("point", f"Crews report {', '.join(CREW_POINTS)}, not {point!r}.")
    try:
        witness = sla.EventSource(source)
    except ValueError:
        raise field_error("source", f"Unknown source {source!r}.") from None
    if witness not in rule.sources:
        allowed = ", ".join(sorted(rule.sources))
        raise field_error("source", f"Point {point} is reported by {allowed}, not {source}.")
    return rule


@dataclass(frozen=True, slots=True)
class Report:
    """A crew point as reported, with its effective time."""

    rule: CrewPoint
    source: str
    occurred_at: datetime
    event_id: str | None = None
    details: dict[str, Any] | None = None
    backfilled: bool = False
    device_time: datetime | None = None
    record_id: uuid.UUID | None = None  # the event's id, when the sender chose it


def take(
    session: Session,
    order: WorkOrder,
    history: list[TimingEvent],
    report: Report,
    *,
    actor: str,
    now: datetime,
) -> TimingEvent | None:
    """Decide a report against the order and, if taken, append it and move the order.

    `history` (the order's events) gains the new event. Returns None when the event id was
    stored concurrently (the savepoint rolled back).
    """
    point = report.rule.point
    current = [r for r in counting_events(history) if r.dispatch_round == order.dispatch_round]
    if point == "finished":  # finishing is for good: no round starts it again
        same = [r for r in history if r.point == "finished"]
    else:
        same = [r for r in current if r.point == point]
    decision = decide(
        number=order.number,
        status=order.status,
        rule=report.rule,
        source=report.source,
        when=report.occurred_at,
        same_point=same,
        later_recorded=any(point_index(r.point) > point_index(point) for r in current),
    )
    try:
        with session.begin_nested():
            event = append_event(
                session,
                order,
                point=point,
                occurred_at=report.occurred_at,
                source=report.source,
                actor=actor,
                event_id=report.event_id,
                record_id=report.record_id,
                details=report.details,
                backfilled=report.backfilled or decision.backfilled,
                clock_corrected=report.device_time is not None,
                device_time=report.device_time,
                now=now,
            )
    except IntegrityError:
        return None
    history.append(event)
    if decision.status != order.status:
        order.status = decision.status
        order.updated_at = now
        if decision.status == OrderStatus.FINISHED:
            order.queue_position = None  # the vehicle is free: its queue moves up
    return event


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


def take_parked(
    session: Session, order: WorkOrder, history: list[TimingEvent], *, actor: str, now: datetime
) -> None:
    """Take the geofence proofs that waited for an earlier point, now that one arrived.

    A proof is parked (`Checkpoint.status == "parked"`, tracking's claim table) when dispatch
    refused it only because an earlier point was missing; each one taken may unblock the next
    (G, then H), so the loop runs until nothing moves. A proof refused for any other reason
    is dropped: it will never count.
    """
    waiting = sorted(
        session.scalars(
            select(Checkpoint).where(
                Checkpoint.order_id == str(order.id),
                Checkpoint.dispatch_round == order.dispatch_round,
                Checkpoint.status == ClaimStatus.PARKED,
            )
        ),
        key=lambda c: point_index(c.point),
    )
    progress = True
    while waiting and progress:
        progress = False
        for claim in list(waiting):
            report = Report(
                rule=CREW_POINTS[claim.point],
                source=claim.source,
                occurred_at=claim.occurred_at,
                event_id=claim.event_id,
                details=claim.evidence,
                backfilled=claim.backfilled,
            )
            try:
                event = take(session, order, history, report, actor=actor, now=now)
            except PointAhead:
                continue
            except InvalidTransition:
                event = None
            waiting.remove(claim)
            if event is None:
                session.delete(claim)
            else:
                claim.status, progress = ClaimStatus.ACCEPTED, True
    session.flush()
