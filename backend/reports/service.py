"""Reports: SLA compliance per segment/department/period, vehicle busy time, call-center day.

Every report returns named tables (lists of flat rows) so JSON, CSV and XLSX show the same
figures. Percentiles use the nearest-rank method (the smallest value with at least p % of the
values at or below it): exact values that appear in the data, no interpolation.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, scope_filter
from backend.auth.policy import Action, authorize
from backend.db import utcnow
from backend.dispatch.models import TimingEvent, WorkOrder
from backend.dispatch.service import visible_filter
from backend.dispatch.timing.events import counting_events, responsible_department, timeline_for
from backend.dispatch.timing.policies import PolicyCache
from backend.dispatch.timing.sla import SEGMENTS, TOTAL, SegmentResult
from backend.dispatch.timing.states import OPEN_CREW_STATES
from backend.org.models import Department, Vehicle

Table = list[dict[str, Any]]


def percentile(values: list[float], p: float) -> float | None:
    """Return the nearest-rank percentile `p` (0-100) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _orders(session: Session, actor: Actor, start: datetime, end: datetime) -> list[WorkOrder]:
    return list(
        session.scalars(
            select(WorkOrder)
            .where(visible_filter(actor), WorkOrder.created_at >= start, WorkOrder.created_at < end)
            .order_by(WorkOrder.created_at)
        )
    )


def _events_by_order(session: Session, orders: list[WorkOrder]) -> dict[Any, list[TimingEvent]]:
    grouped: dict[Any, list[TimingEvent]] = defaultdict(list)
    ids = [o.id for o in orders]
    for offset in range(0, len(ids), 500):
        rows = session.scalars(
            select(TimingEvent)
            .where(TimingEvent.order_id.in_(ids[offset : offset + 500]))
            .order_by(TimingEvent.version)
        )
        for row in rows:
            grouped[row.order_id].append(row)
    return grouped


def _stats(durations: list[float], breached: int) -> dict[str, Any]:
    count = len(durations)
    return {
        "count": count,
        "breached": breached,
        "breach_rate": round(breached / count, 4) if count else None,
        "p50_s": percentile(durations, 50),
        "p90_s": percentile(durations, 90),
    }


def sla_compliance(
    *, session: Session, actor: Actor, start: datetime, end: datetime, zone: str
) -> dict[str, Table]:
    """Finished segments of orders taken in [start, end): per segment, department and day."""
    authorize(actor, Action.REPORT_READ)
    orders = _orders(session, actor, start, end)
    events = _events_by_order(session, orders)
    policies = PolicyCache(session)
    names = {d.id: d.name for d in session.scalars(select(Department))}
    tz = ZoneInfo(zone)
    by_segment: dict[str, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    by_department: dict[tuple[int | None, str], tuple[list[float], list[bool]]] = defaultdict(
        lambda: ([], [])
    )
    by_day: dict[tuple[str, str], tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    performance: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    now = utcnow()
    for order in orders:
        policy = policies.get(order.region_code, order.order_type)
        timeline = timeline_for(order, events.get(order.id, []), policy, now)
        _assess(performance[(order.department_id, order.order_type)], timeline.total)
        day = order.created_at.astimezone(tz).date().isoformat()
        for segment in (*timeline.segments, timeline.total):
            if segment.status != "done" or segment.duration is None:
                continue
            seconds = segment.duration.total_seconds()
            keys = [by_segment[segment.segment], by_day[(day, segment.segment)]]
            if segment.segment != TOTAL:
                department = responsible_department(order, segment.responsible)
                keys.append(by_department[(department, segment.segment)])
            for durations, flags in keys:
                durations.append(seconds)
                flags.append(segment.breached)
    order_index = {s: i for i, s in enumerate((*SEGMENTS, TOTAL))}
    segments = [
        {"segment": s, **_stats(d, sum(f))}
        for s, (d, f) in sorted(by_segment.items(), key=lambda kv: order_index[kv[0]])
    ]
    departments = [
        {
            "department_id": dept,
            "department": names.get(dept, "network") if dept else "network",
            "segment": s,
            **_stats(d, sum(f)),
        }
        for (dept, s), (d, f) in sorted(
            by_department.items(), key=lambda kv: (kv[0][0] or 0, order_index[kv[0][1]])
        )
    ]
    days = [
        {"day": day, "segment": s, **_stats(d, sum(f))}
        for (day, s), (d, f) in sorted(
            by_day.items(), key=lambda kv: (kv[0][0], order_index[kv[0][1]])
        )
    ]
    summary = [{"orders": len(orders), "from": start.isoformat(), "to": end.isoformat()}]
    assessment = [
        {
            "department_id": dept,
            "department": names.get(dept, f"#{dept}"),
            "order_type": order_type,
            "orders": total,
            "completed": completed,
            "completion_rate": round(completed / total, 4) if total else None,
            "on_time": on_time,
            "on_time_rate": round(on_time / completed, 4) if completed else None,
            "overdue_open": overdue,
        }
        for (dept, order_type), (total, completed, on_time, overdue) in sorted(performance.items())
    ]
    return {
        "summary": summary,
        "segments": segments,
        "departments": departments,
        "days": days,
        "performance": assessment,
    }


def _assess(counts: list[int], total: SegmentResult) -> None:
    """Count one order into its department's assessment: [orders, completed, on time, overdue].

    Seed 001's closed loop assesses each department by its completion rate and its on-time
    rate (业务完成率和及时率自动进行绩效考核): an order is completed when its A->H total is done,
    on time when that total kept its policy's limit, overdue while open past the limit.
    """
    counts[0] += 1
    if total.status == "done":
        counts[1] += 1
        counts[2] += not total.breached
    elif total.breached:
        counts[3] += 1


def _busy_intervals(
    rows: list[TimingEvent], window_end: datetime
) -> list[tuple[int, datetime, datetime]]:
    """Return (vehicle, from, to) for each dispatch: D until finished, recalled or window end."""
    intervals = []
    open_dispatch: tuple[int, datetime] | None = None
    for row in rows:  # recorded order
        if row.point == "D" and row.details.get("vehicle_id") is not None:
            open_dispatch = (int(row.details["vehicle_id"]), row.occurred_at)
        elif row.point in ("finished", "recalled") and open_dispatch is not None:
            intervals.append((open_dispatch[0], open_dispatch[1], row.occurred_at))
            open_dispatch = None
    if open_dispatch is not None:
        intervals.append((open_dispatch[0], open_dispatch[1], window_end))
    return intervals


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _hour_slices(lo: datetime, hi: datetime, tz: ZoneInfo) -> list[tuple[int, float]]:
    """Split [lo, hi) into (local hour of day, minutes) pieces."""
    pieces = []
    cursor = lo
    while cursor < hi:
        local = cursor.astimezone(tz)
        next_hour = (
            local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        ).astimezone(lo.tzinfo)
        stop = min(hi, next_hour)
        pieces.append((local.hour, (stop - cursor).total_seconds() / 60))
        cursor = stop
    return pieces


def vehicle_busy(
    *,
    session: Session,
    actor: Actor,
    start: datetime,
    end: datetime,
    zone: str,
    now: datetime | None = None,
) -> dict[str, Table]:
    """Busy minutes (dispatched until finished) per department, specialty and hour of day.

    Only time that has passed counts: a window reaching into the future ends at `now`.
    """
    authorize(actor, Action.REPORT_READ)
    tz = ZoneInfo(zone)
    end = min(end, now or utcnow())
    vehicles = {
        v.id: v
        for v in session.scalars(select(Vehicle).where(scope_filter(actor, Vehicle.department_id)))
    }
    names = {d.id: d.name for d in session.scalars(select(Department))}
    # Orders dispatched before the window may still keep a vehicle busy inside it, however long
    # ago they were taken: those still open, and those with a point (their finish, a recall)
    # inside or after the window.
    orders = list(
        session.scalars(
            select(WorkOrder).where(
                WorkOrder.id.in_(
                    select(TimingEvent.order_id).where(
                        TimingEvent.point == "D", TimingEvent.occurred_at < end
                    )
                ),
                or_(
                    WorkOrder.status.in_(OPEN_CREW_STATES),
                    WorkOrder.id.in_(
                        select(TimingEvent.order_id).where(TimingEvent.occurred_at >= start)
                    ),
                ),
            )
        )
    )
    spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for order_rows in _events_by_order(session, orders).values():
        for vehicle_id, lo, hi in _busy_intervals(order_rows, end):
            lo, hi = max(lo, start), min(hi, end)
            if vehicle_id in vehicles and lo < hi:
                spans[vehicle_id].append((lo, hi))
    busy: dict[tuple[int, str, int], float] = defaultdict(float)
    for vehicle_id, vehicle_spans in spans.items():
        vehicle = vehicles[vehicle_id]
        for lo, hi in _merge(vehicle_spans):
            for hour, minutes in _hour_slices(lo, hi, tz):
                busy[(vehicle.department_id, vehicle.specialty, hour)] += minutes
    fleet: dict[tuple[int, str], int] = defaultdict(int)
    for vehicle in vehicles.values():
        fleet[(vehicle.department_id, vehicle.specialty)] += 1
    window = defaultdict(float)
    for hour, minutes in _hour_slices(start, end, tz):
        window[hour] += minutes
    rows = []
    for (department_id, specialty), count in sorted(fleet.items()):
        for hour in range(24):
            available = window.get(hour, 0.0) * count
            if not available:
                continue
            minutes = busy.get((department_id, specialty, hour), 0.0)
            rows.append(
                {
                    "department_id": department_id,
                    "department": names.get(department_id, ""),
                    "specialty": specialty,
                    "hour": hour,
                    "vehicles": count,
                    "busy_minutes": round(minutes, 2),
                    "available_minutes": round(available, 2),
                    # Divide the exact figures; merged spans never exceed the window.
                    "utilisation": round(min(minutes / available, 1.0), 4),
                }
            )
    return {"hours": rows}


def call_center_daily(*, session: Session, actor: Actor, day: date, zone: str) -> dict[str, Table]:
    """The call center's day: calls taken, issued, AB timeliness, follow-ups, closures."""
    authorize(actor, Action.REPORT_READ)
    tz = ZoneInfo(zone)
    start = datetime.combine(day, datetime.min.time(), tz)
    end = start + timedelta(days=1)
    orders = _orders(session, actor, start, end)
    events = _events_by_order(session, orders)
    policies = PolicyCache(session)
    ab: list[float] = []
    ah: list[float] = []
    ab_breached = ah_breached = 0
    issued = 0
    by_type: dict[tuple[str, str], int] = defaultdict(int)
    for order in orders:
        by_type[(order.order_type, order.fault_type)] += 1
        rows = events.get(order.id, [])
        if any(r.point == "B" for r in counting_events(rows)):
            issued += 1
        timeline = timeline_for(
            order, rows, policies.get(order.region_code, order.order_type), None
        )
        segment = timeline.segment("AB")
        if segment.status == "done" and segment.duration is not None:
            ab.append(segment.duration.total_seconds())
            ab_breached += segment.breached
        if timeline.total.status == "done" and timeline.total.duration is not None:
            ah.append(timeline.total.duration.total_seconds())
            ah_breached += timeline.total.breached
    followed = [o for o in orders if o.follow_up_satisfied is not None]
    summary = {
        "day": day.isoformat(),
        "calls": len(orders),
        "issued": issued,
        "ab_p50_s": percentile(ab, 50),
        "ab_p90_s": percentile(ab, 90),
        "ab_breached": ab_breached,
        "ah_done": len(ah),
        "ah_p50_s": percentile(ah, 50),
        "ah_breached": ah_breached,
        "followed_up": len(followed),
        "satisfied": sum(1 for o in followed if o.follow_up_satisfied),
        "closed": sum(1 for o in orders if o.status == "closed"),
        "open": sum(1 for o in orders if o.status != "closed"),
    }
    types = [
        {"order_type": t, "fault_type": f, "calls": n} for (t, f), n in sorted(by_type.items())
    ]
    return {"summary": [summary], "fault_types": types}
