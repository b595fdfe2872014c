"""Nearest free vehicle for an order: index-assisted candidates, then exact distance and ETA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, scope_filter
from backend.auth.policy import Action, authorize
from backend.db import utcnow
from backend.dispatch.models import CrewStatus, WorkOrder
from backend.dispatch.timing.states import OPEN_CREW_STATES
from backend.org.models import Vehicle
from backend.tracking.models import Liveness, VehicleState
from gis.queries import distance_m, eta_minutes, index_window, make_point, nearest_first


def crew_available() -> ColumnElement[bool]:
    """The vehicle's crew takes orders (dispatch's availability, set by API or terminal)."""
    stood_down = exists().where(
        CrewStatus.crew_id == Vehicle.crew_id, CrewStatus.available.is_(False)
    )
    return ~stood_down


def holds_open_order() -> ColumnElement[bool]:
    """The vehicle holds an order it has not finished (the order's own `vehicle_id` says so)."""
    return exists().where(
        WorkOrder.vehicle_id == VehicleState.vehicle_id,
        WorkOrder.status.in_(OPEN_CREW_STATES),
    )


# KNN orders by planar degrees; take extra candidates and re-rank them by geodesic metres.
_OVERSAMPLE = 4


@dataclass(frozen=True, slots=True)
class Candidate:
    """A vehicle that could take the order, with its distance and a driving estimate."""

    vehicle_id: int
    plate: str
    specialty: str
    department_id: int
    distance_m: float
    eta_min: float
    liveness: str
    lon: float
    lat: float

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form for the API and dispatch's ranking."""
        return {
            "vehicle_id": self.vehicle_id,
            "plate": self.plate,
            "specialty": self.specialty,
            "department_id": self.department_id,
            "distance_m": round(self.distance_m, 1),
            "eta_min": round(self.eta_min, 1),
            "liveness": self.liveness,
            "position": {"lon": self.lon, "lat": self.lat},
        }


def _free_vehicles(
    *,
    dialect: str,
    actor: Actor | None,
    metres: ColumnElement[float],
    specialty: str | None,
    include_busy: bool,
) -> Select[Any]:
    """Vehicles that could take the order, with their distance: no order, no limit yet."""
    # Columns, not the ORM entity: no geometry to decode, no objects to build per candidate.
    query = (
        select(
            VehicleState.vehicle_id,
            VehicleState.liveness,
            VehicleState.lon,
            VehicleState.lat,
            Vehicle.plate,
            Vehicle.specialty,
            Vehicle.department_id,
            metres,
        )
        .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
        .where(crew_available(), VehicleState.liveness != Liveness.OFFLINE.value)
    )
    if specialty:
        query = query.where(Vehicle.specialty == specialty)
    if actor is not None:
        authorize(actor, Action.TRACKING_READ)
        query = query.where(scope_filter(actor, Vehicle.department_id))
    if not include_busy:
        query = query.where(~holds_open_order())
    return query


def _candidates(rows: Any, max_distance_m: float) -> list[Candidate]:
    found = [
        Candidate(
            vehicle_id=vehicle_id,
            plate=plate,
            specialty=vehicle_specialty,
            department_id=department_id,
            distance_m=float(distance),
            eta_min=eta_minutes(float(distance)),
            liveness=liveness,
            lon=lon,
            lat=lat,
        )
        for vehicle_id, liveness, lon, lat, plate, vehicle_specialty, department_id, distance in (
            rows
        )
        if distance is not None and distance <= max_distance_m
    ]
    found.sort(key=lambda c: (c.distance_m, c.vehicle_id))
    return found


# SpatiaLite's smallest search radius, and how much each further round widens it (a square
# window 16 times the area). A search starts from the radius that answered the previous one:
# vehicles are about as dense from one query to the next, so most searches take one round.
_FIRST_RADIUS_M = 250.0
_WIDEN = 4.0
_last_radius = [_FIRST_RADIUS_M]  # per process; a race only costs a round


def nearest_free_vehicles(
    *,
    session: Session,
    actor: Actor | None,
    lon: float,
    lat: float,
    specialty: str | None = None,
    limit: int = 5,
    max_distance_m: float = 50_000.0,
    include_busy: bool = False,
) -> list[Candidate]:
    """Rank available vehicles (matching specialty, in scope, not offline) by distance.

    PostGIS walks the GiST index nearest-first (`<->`). SpatiaLite has no KNN operator: it
    asks the R*Tree for a small window around the point and widens it (x4 per round) until
    `limit` free vehicles lie within the window's radius, so the answer is exact and the work
    stays about the same however many vehicles there are. Free means the crew is available
    (API or terminal) and the vehicle holds no open order, unless `include_busy`.
    """
    dialect = session.get_bind().dialect.name
    point = make_point(dialect, lon, lat)
    metres = distance_m(dialect, VehicleState.geom, point)
    free = _free_vehicles(
        dialect=dialect, actor=actor, metres=metres, specialty=specialty, include_busy=include_busy
    )
    if dialect == "postgresql":
        query = (
            free.where(
                index_window(dialect, "vehicle_states", VehicleState.geom, lon, lat, max_distance_m)
            )
            .order_by(nearest_first(dialect, VehicleState.geom, point))
            .limit(limit * _OVERSAMPLE)
        )
        return _candidates(session.execute(query), max_distance_m)[:limit]
    radius = min(_last_radius[0], max_distance_m)
    while True:
        window = index_window(dialect, "vehicle_states", VehicleState.geom, lon, lat, radius)
        rows = session.execute(
            free.where(window).order_by(metres, VehicleState.vehicle_id).limit(limit)
        )
        found = _candidates(rows, radius)  # beyond the radius, a nearer one may lie outside
        if len(found) >= limit or radius >= max_distance_m:
            if len(found) >= limit:
                _last_radius[0] = max(_FIRST_RADIUS_M, found[limit - 1].distance_m)
            return found[:limit]
        radius = min(radius * _WIDEN, max_distance_m)


def nearest_by_scan(
    *,
    session: Session,
    actor: Actor | None,
    lon: float,
    lat: float,
    specialty: str | None = None,
    limit: int = 5,
    max_distance_m: float = 50_000.0,
    include_busy: bool = False,
) -> list[Candidate]:
    """The same answer as `nearest_free_vehicles` by measuring every free vehicle (no index).

    The reference the indexed search is tested and benchmarked against.
    """
    dialect = session.get_bind().dialect.name
    metres = distance_m(dialect, VehicleState.geom, make_point(dialect, lon, lat))
    free = _free_vehicles(
        dialect=dialect, actor=actor, metres=metres, specialty=specialty, include_busy=include_busy
    )
    rows = session.execute(free.order_by(metres, VehicleState.vehicle_id).limit(limit))
    return _candidates(rows, max_distance_m)[:limit]


# A position older than this (or from an offline vehicle) is no basis for an ETA.
RECENT_POSITION = timedelta(minutes=15)


def vehicle_distances(
    *,
    session: Session,
    vehicle_ids: list[int],
    lon: float,
    lat: float,
    now: datetime | None = None,
    max_age: timedelta = RECENT_POSITION,
) -> dict[int, float]:
    """Return metres from each vehicle's current position to (lon, lat).

    Only vehicles with a recent position count: not offline, newest fix at most `max_age`
    old, and their crew available. The others are absent.
    """
    if not vehicle_ids:
        return {}
    dialect = session.get_bind().dialect.name
    metres = distance_m(dialect, VehicleState.geom, make_point(dialect, lon, lat))
    rows = session.execute(
        select(VehicleState.vehicle_id, metres)
        .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
        .where(
            VehicleState.vehicle_id.in_(vehicle_ids),
            crew_available(),
            VehicleState.liveness != Liveness.OFFLINE.value,
            VehicleState.ts >= (now or utcnow()) - max_age,
        )
    )
    return {vehicle_id: float(d) for vehicle_id, d in rows if d is not None}


def annotate_distances(
    *, session: Session, ranked: list[dict[str, Any]], lon: float, lat: float
) -> list[dict[str, Any]]:
    """Add `distance_m` / `eta_min` to each crew and each of its vehicles (None: no recent fix).

    `ranked` is dispatch's candidate list (`crew_id`, `vehicles: [{id, ...}]`); a crew's figures
    are those of its nearest vehicle. The list is changed in place and returned unsorted.
    """
    ids = [v["id"] for crew in ranked for v in crew.get("vehicles", [])]
    found = vehicle_distances(session=session, vehicle_ids=ids, lon=lon, lat=lat)
    for crew in ranked:
        best: float | None = None
        for vehicle in crew.get("vehicles", []):
            distance = found.get(vehicle["id"])
            vehicle["distance_m"] = None if distance is None else round(distance, 1)
            vehicle["eta_min"] = None if distance is None else round(eta_minutes(distance), 1)
            if distance is not None and (best is None or distance < best):
                best = distance
        crew["distance_m"] = None if best is None else round(best, 1)
        crew["eta_min"] = None if best is None else round(eta_minutes(best), 1)
    return ranked


def with_distances(
    *, session: Session, ranked: list[dict[str, Any]], lon: float, lat: float
) -> list[dict[str, Any]]:
    """Annotate distances (see `annotate_distances`), then rank by load, then nearness.

    A crew without a located vehicle sorts after located ones of the same load. Dispatch's
    candidate endpoint ranks with its own rule (`backend.dispatch.candidates.rank_key`).
    """
    annotate_distances(session=session, ranked=ranked, lon=lon, lat=lat)
    return sorted(
        ranked,
        key=lambda c: (c["load"], c["distance_m"] is None, c["distance_m"] or 0.0, c["crew_id"]),
    )
