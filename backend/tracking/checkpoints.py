"""Geofence checkpoints: feed each held order's detectors only the fixes they have not seen.

Departure (G) is watched once the crew accepted (F from any source: terminal, handheld,
API), arrival (H) once the order has a site. Each detector's progress is kept in a
`GeofenceWatch` row per order, point and dispatch round, so a batch reads only the new fixes;
a late burst (fixes older than what the detector has seen) restarts that order's detectors
from the dispatch. G is fed before H, and an H refused only because G is still missing waits
parked until G arrives from any source.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from backend.dispatch.models import TimingEvent, WorkOrder
from backend.dispatch.timing.events import counting_events
from backend.dispatch.timing.states import OPEN_CREW_STATES
from backend.tracking.claims import Outcome, claim_point
from backend.tracking.ingest.store import any_id
from backend.tracking.models import Checkpoint, GeofenceWatch, Position
from gis.geofence import ArrivalDetector, ArrivalRules, DepartureDetector, DepartureRules

# Fixes this long before dispatch still count (the start point of a departure).
LOOKBACK = timedelta(minutes=10)

Detector = ArrivalDetector | DepartureDetector


def arrival_rules(config: Mapping[str, Any]) -> ArrivalRules:
    """Arrival rules from the app settings (GEOFENCE_ARRIVAL_RADIUS_M, _DWELL_S)."""
    return ArrivalRules(
        radius_m=float(config["GEOFENCE_ARRIVAL_RADIUS_M"]),
        dwell=timedelta(seconds=float(config["GEOFENCE_ARRIVAL_DWELL_S"])),
    )


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """A stored fix as the detectors read it."""

    ts: datetime
    lat: float
    lon: float
    acc: float | None
    speed: float | None
    recorded_at: datetime


def _track(
    session: Session, vehicle_id: int, since: datetime, after: datetime | None
) -> list[TrackPoint]:
    """The vehicle's fixes from `since` (only those after `after`, when given), in time order."""
    query = select(
        Position.ts,
        Position.lat,
        Position.lon,
        Position.acc,
        Position.speed,
        Position.recorded_at,
    ).where(Position.vehicle_id == vehicle_id, Position.ts >= since)
    if after is not None:
        query = query.where(Position.ts > after)
    return [TrackPoint(*row) for row in session.execute(query.order_by(Position.ts, Position.seq))]


def _late_fixes(
    session: Session, vehicle_id: int, since: datetime, watches: list[GeofenceWatch]
) -> bool:
    """Whether fixes older than a detector's progress were stored since it last looked."""
    fed = [w for w in watches if w.fed_until is not None and w.checked_at is not None]
    if not fed:
        return False
    query = exists().where(
        Position.vehicle_id == vehicle_id,
        Position.ts >= since,
        Position.ts <= max(w.fed_until for w in fed if w.fed_until is not None),
        Position.recorded_at > min(w.checked_at for w in fed if w.checked_at is not None),
    )
    return bool(session.scalar(select(query)))


def _round_times(session: Session, orders: list[WorkOrder]) -> dict[uuid.UUID, dict[str, datetime]]:
    """Per order, the D and F times that count in its current dispatch round."""
    rows = session.scalars(
        select(TimingEvent).where(
            TimingEvent.order_id.in_([o.id for o in orders]),
            TimingEvent.point.in_(["D", "F", "recalled"]),
        )
    )
    by_order: dict[uuid.UUID, list[TimingEvent]] = {}
    for row in rows:
        by_order.setdefault(row.order_id, []).append(row)
    rounds = {o.id: o.dispatch_round for o in orders}
    times: dict[uuid.UUID, dict[str, datetime]] = {}
    for order_id, events in by_order.items():
        for event in counting_events(events):
            if event.dispatch_round != rounds[order_id]:
                continue
            points = times.setdefault(order_id, {})
            if event.point not in points or event.occurred_at < points[event.point]:
                points[event.point] = event.occurred_at
    return times


def evaluate(
    session: Session,
    vehicle_ids: Iterable[int] | Mapping[int, datetime],
    *,
    arrival: ArrivalRules | None = None,
    departure: DepartureRules | None = None,
) -> list[Checkpoint]:
    """Feed the new fixes of these vehicles to their held orders' detectors; return new claims.

    `vehicle_ids` may map each vehicle to the oldest fix the caller's transaction stored: a
    detector already fed past it restarts. (Another ingest worker may have fed a later fix
    while this one was uncommitted; its `recorded_at` then says nothing about the order.)

    A checkpoint is timed by its own fix, so a late batch from a terminal that was out of
    coverage still proves it, marked backfilled when a late fix proves it.
    """
    earliest = dict(vehicle_ids) if isinstance(vehicle_ids, Mapping) else {}
    ids = sorted(set(vehicle_ids))
    open_order = WorkOrder.status.in_(OPEN_CREW_STATES)
    holding = sorted(
        session.scalars(
            select(WorkOrder.vehicle_id)
            .where(any_id(session, WorkOrder.vehicle_id, ids), open_order)
            .distinct()
        )
    )
    if holding:  # a stopped terminal's positions prove no timing point (`disabled_terminals`)
        from backend.tracking.terminal import disabled_terminals  # it imports the ingest

        stopped = disabled_terminals(session, holding)
        holding = [vehicle_id for vehicle_id in holding if vehicle_id not in stopped]
    if not holding:  # most vehicles hold no order most of the time: one query for the batch
        return []
    _one_evaluator_per_vehicle(session, holding)
    orders = list(
        session.scalars(
            select(WorkOrder)
            .where(WorkOrder.vehicle_id.in_(holding), open_order)
            .order_by(WorkOrder.vehicle_id, WorkOrder.queue_position, WorkOrder.id)
        )
    )
    times = _round_times(session, orders)
    watches = {
        (w.order_id, w.dispatch_round, w.point): w
        for w in session.scalars(
            select(GeofenceWatch).where(GeofenceWatch.order_id.in_([str(o.id) for o in orders]))
        )
    }
    created: list[Checkpoint] = []
    for order in orders:
        known = times.get(order.id, {})
        if "D" not in known or order.vehicle_id is None:
            continue
        wanted: list[tuple[str, Detector]] = []
        if "F" in known:  # departure is measured from acceptance, whoever reported it
            wanted.append(("G", DepartureDetector(known["F"], rules=departure)))
        if order.location is not None:
            site = to_shape(order.location)
            wanted.append(("H", ArrivalDetector((site.x, site.y), arrival)))
        since = min(known.values()) - LOOKBACK
        mine = []
        for point, detector in wanted:
            key = (str(order.id), order.dispatch_round, point)
            if key not in watches:
                watches[key] = GeofenceWatch(
                    order_id=key[0],
                    dispatch_round=key[1],
                    point=point,
                    vehicle_id=order.vehicle_id,
                    state={},
                    fired=False,
                )
                session.add(watches[key])
            if not watches[key].fired:
                mine.append((watches[key], detector))
        if not mine:
            continue
        fed = [w.fed_until for w, _ in mine if w.fed_until is not None]
        oldest_new = earliest.get(order.vehicle_id)
        restart = (oldest_new is not None and bool(fed) and oldest_new <= max(fed)) or (
            _late_fixes(session, order.vehicle_id, since, [w for w, _ in mine])
        )
        for watch, detector in mine:  # G before H: an arrival needs the departure first
            found = _feed(session, watch, detector, order.vehicle_id, since, restart)
            if found is not None:
                created.append(_claim(session, order, watch, found))
    session.flush()
    return created


# Advisory lock namespace of the geofence evaluation (the scale block's number).
_EVALUATION_LOCK = 1801


def _one_evaluator_per_vehicle(session: Session, vehicle_ids: list[int]) -> None:
    """Hold each vehicle's evaluation lock until commit (PostgreSQL; SQLite has one writer).

    Ingest workers on a shared subscription may store fixes of one vehicle at once. The lock
    makes them evaluate one after the other, each reading what the other committed: the
    second finds fixes older than the detector's progress and restarts it (`_late_fixes`),
    so detectors see the whole track in order and progress is never overwritten. Taken in
    vehicle order, so two workers never wait on each other in a cycle.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "SELECT pg_advisory_xact_lock(:space, v) "
            "FROM (SELECT unnest(CAST(:ids AS integer[])) AS v ORDER BY 1) AS s"
        ),
        {"space": _EVALUATION_LOCK, "ids": vehicle_ids},
    )


def _feed(
    session: Session,
    watch: GeofenceWatch,
    detector: Detector,
    vehicle_id: int,
    since: datetime,
    restart: bool,
) -> Any:
    """Feed a detector the fixes it has not seen; save its progress; return what it found."""
    if restart or watch.fed_until is None:
        detector.restore({})  # from the dispatch: the first look, or a late burst came in
        track = _track(session, vehicle_id, since, None)
    else:
        detector.restore(watch.state)
        track = _track(session, vehicle_id, since, watch.fed_until)
    found = None
    for fix in track:
        found = detector.feed(fix)
        if found is not None:
            break
    if track:
        newest = max(f.recorded_at for f in track)
        watch.fed_until = track[-1].ts
        watch.checked_at = newest if watch.checked_at is None else max(watch.checked_at, newest)
    watch.state = detector.snapshot()
    return found


def _claim(session: Session, order: WorkOrder, watch: GeofenceWatch, found: Any) -> Checkpoint:
    """Hand a proven point to dispatch (parked if an earlier point is missing)."""
    watch.fired = True
    backfilled = bool(
        session.scalar(
            select(Position.backfilled).where(
                Position.vehicle_id == watch.vehicle_id, Position.ts == found.occurred_at
            )
        )
    )
    outcome = claim_point(
        session,
        vehicle_id=watch.vehicle_id,
        order=order,
        point=found.point,
        source="geofence",
        occurred_at=found.occurred_at,
        event_id=f"geofence:{order.id}:{order.dispatch_round}:{found.point}",
        backfilled=backfilled,
        evidence=found.evidence,
        park=True,
    )
    return Checkpoint(
        vehicle_id=watch.vehicle_id,
        order_id=str(order.id),
        dispatch_round=order.dispatch_round,
        point=found.point,
        source="geofence",
        status="parked" if outcome is Outcome.PARKED else "accepted",
        occurred_at=found.occurred_at,
        backfilled=backfilled,
    )
