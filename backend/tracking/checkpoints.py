"""Geofence checkpoints: replay each active order's track through the pure detectors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.tracking.models import Assignment, Checkpoint, Position
from backend.tracking.terminal import record_checkpoint
from gis.geofence import ArrivalDetector, ArrivalRules, DepartureDetector, DepartureRules

# Fixes this long before dispatch still count (the start point of a departure).
LOOKBACK = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """A stored fix as the detectors read it."""

    ts: datetime
    lat: float
    lon: float
    acc: float | None
    speed: float | None
    backfilled: bool


def _track(session: Session, vehicle_id: int, since: datetime) -> list[TrackPoint]:
    rows = session.execute(
        select(
            Position.ts,
            Position.lat,
            Position.lon,
            Position.acc,
            Position.speed,
            Position.backfilled,
        )
        .where(Position.vehicle_id == vehicle_id, Position.ts >= since)
        .order_by(Position.ts)
    )
    return [TrackPoint(*row) for row in rows]


def evaluate(
    session: Session,
    vehicle_ids: Iterable[int],
    *,
    arrival: ArrivalRules | None = None,
    departure: DepartureRules | None = None,
) -> list[Checkpoint]:
    """Find arrivals (H) and departures (G) of the vehicles' active orders; return new ones.

    The whole stored track since dispatch is replayed in time order, so a late batch from a
    terminal that was out of coverage still proves a checkpoint, timed by its own fixes and
    marked backfilled when a late fix proves it.
    """
    created: list[Checkpoint] = []
    held: dict[int, list[Assignment]] = {}
    ids = sorted(set(vehicle_ids))
    # One query for the batch: most vehicles hold no order most of the time.
    for assignment in session.scalars(
        select(Assignment).where(Assignment.vehicle_id.in_(ids), Assignment.active.is_(True))
    ):
        held.setdefault(assignment.vehicle_id, []).append(assignment)
    for vehicle_id, assignments in sorted(held.items()):
        # A backfilled acceptance may predate the dispatch as the server saw it.
        since = min(min(a.dispatched_at, a.accepted_at or a.dispatched_at) for a in assignments)
        track = _track(session, vehicle_id, since - LOOKBACK)
        if not track:
            continue
        by_ts = {p.ts: p for p in track}
        for assignment in assignments:
            known = set(
                session.scalars(
                    select(Checkpoint.point).where(
                        Checkpoint.order_id == assignment.order_id, Checkpoint.source == "geofence"
                    )
                )
            )
            detectors: list[ArrivalDetector | DepartureDetector] = []
            if (
                "H" not in known
                and assignment.site_lon is not None
                and assignment.site_lat is not None
            ):
                site = (assignment.site_lon, assignment.site_lat)
                detectors.append(ArrivalDetector(site, arrival))
            if "G" not in known and assignment.accepted_at is not None:
                detectors.append(DepartureDetector(assignment.accepted_at, rules=departure))
            for detector in detectors:
                for found in detector.replay(track):
                    proof = by_ts.get(found.occurred_at)
                    backfilled = bool(proof and proof.backfilled)
                    if record_checkpoint(
                        session,
                        vehicle_id=vehicle_id,
                        order_id=assignment.order_id,
                        point=found.point,
                        source="geofence",
                        occurred_at=found.occurred_at,
                        event_id=f"geofence:{assignment.order_id}:{found.point}",
                        backfilled=backfilled,
                        evidence=found.evidence,
                    ):
                        created.append(
                            Checkpoint(
                                vehicle_id=vehicle_id,
                                order_id=assignment.order_id,
                                point=found.point,
                                source="geofence",
                                occurred_at=found.occurred_at,
                                backfilled=backfilled,
                            )
                        )
    return created
