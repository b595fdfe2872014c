"""An order's timing history: append events, count them, compute the timeline, write breaches.

Crew-side points (E-H, finished) are decided in `backend.dispatch.timing.recording`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.dispatch.models import SlaBreach, TimingEvent, WorkOrder
from backend.dispatch.timing import sla
from backend.dispatch.timing.policies import policy_for
from backend.dispatch.timing.states import POINTS
from backend.errors import NotFound, field_error
from sync.entities import FUTURE_ALLOWANCE

# A device time further ahead of the server than this is refused; closer, it is clamped.
FUTURE_TOLERANCE = FUTURE_ALLOWANCE  # the one allowance for device times (sync.entities)
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
    record_id: uuid.UUID | None = None,
) -> TimingEvent:
    """Append one event to an order's history (no checks: callers validated it).

    `record_id`: the row's id when its sender chose it (a handheld's synced record).
    """
    event = TimingEvent(
        id=record_id or uuid.uuid4(),
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


def refresh_sla(
    session: Session, order: WorkOrder, history: Sequence[TimingEvent] | None = None
) -> sla.Timeline:
    """Recompute the timeline after a change and record new breaches.

    `history` is the order's whole event list when the caller already holds it (no reload).
    """
    session.flush()
    policy = policy_for(session, region_code=order.region_code, order_type=order.order_type)
    rows = order_events(session, order.id) if history is None else history
    timeline = timeline_for(order, rows, policy, None)
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
