"""Nearest free vehicle for an order: index-assisted candidates, then exact distance and ETA."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, Select, String, bindparam, exists, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, departments_under
from backend.auth.policy import Action, authorize
from backend.db import utcnow
from backend.dispatch.models import CrewStatus, WorkOrder
from backend.dispatch.timing.states import OPEN_CREW_STATES
from backend.org.models import Vehicle
from backend.tracking.models import Liveness, VehicleState
from gis.queries import (
    DegreeWindow,
    distance_m,
    eta_minutes,
    index_window,
    make_point,
    nearest_first,
    planar_degrees,
)


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


# The first nearest-first walk fetches this many times `limit` rows, and each further walk
# this many times more (rarely needed: see `_walk_nearest_first`).
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


# The searches' statements are built once per shape and dialect with every value bound:
# building and cache-keying a statement of this size cost more CPU than the database's
# whole index walk.
_Shape = tuple[str, str, bool, bool, bool]  # dialect, kind, specialty?, scoped?, include_busy


@functools.cache
def _statement(shape: _Shape) -> Select[Any]:
    """The search of one shape; kind `walk` (PostGIS `<->`), `window` (R*Tree) or `scan`.

    Binds `lon`, `lat`, `fetch` (rows), `specialty`, `scope_path` and, for `walk` and
    `window`, the index box `west`, `south`, `east`, `north`.
    """
    dialect, kind, specialty, scoped, include_busy = shape
    point = make_point(dialect, bindparam("lon", type_=Float()), bindparam("lat", type_=Float()))
    metres = distance_m(dialect, VehicleState.geom, point)
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
        query = query.where(Vehicle.specialty == bindparam("specialty", type_=String()))
    if scoped:  # `scope_filter(actor, ...)` with the actor's path bound
        path = bindparam("scope_path", type_=String())
        query = query.where(Vehicle.department_id.in_(departments_under(path)))
    if not include_busy:
        query = query.where(~holds_open_order())
    fetch = bindparam("fetch", type_=Integer())
    if kind == "scan":
        return query.order_by(metres, VehicleState.vehicle_id).limit(fetch)
    box = (bindparam(edge, type_=Float()) for edge in ("west", "south", "east", "north"))
    query = query.where(index_window(dialect, "vehicle_states", VehicleState.geom, *box))
    if kind == "window":
        return query.order_by(metres, VehicleState.vehicle_id).limit(fetch)
    planar = planar_degrees(dialect, VehicleState.geom, point)
    return (
        query.add_columns(planar)
        .order_by(nearest_first(dialect, VehicleState.geom, point))
        .limit(fetch)
    )


def _search(
    session: Session,
    kind: str,
    *,
    actor: Actor | None,
    lon: float,
    lat: float,
    specialty: str | None,
    include_busy: bool,
) -> tuple[Select[Any], dict[str, Any]]:
    """The statement of this search's shape and its values (all but `fetch` and the box)."""
    dialect = session.get_bind().dialect.name
    values: dict[str, Any] = {"lon": lon, "lat": lat}
    if specialty:
        values["specialty"] = specialty
    if actor is not None:
        authorize(actor, Action.TRACKING_READ)
        values["scope_path"] = actor.department_path
    shape = (dialect, kind, bool(specialty), actor is not None, include_busy)
    return _statement(shape), values


def _candidates(rows: Any, max_distance_m: float, *, strict: bool = False) -> list[Candidate]:
    """Candidates from rows, keeping those within `max_distance_m` (`strict`: nearer only)."""
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
        if distance is not None
        and (distance < max_distance_m if strict else distance <= max_distance_m)
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

    Exact: the same vehicles, in the same order, as `nearest_by_scan`, with work that does
    not grow with the fleet. PostGIS walks the GiST index nearest-first (`<->`, planar
    degrees) through the free-vehicle filters, and stops once `limit` vehicles lie nearer
    (geodesic metres) than anything the walk has not reached can be (`DegreeWindow`).
    SpatiaLite asks its R*Tree for a window around the point and widens it (x4 per round)
    until `limit` free vehicles lie within the window's radius. Free means the crew is
    available (API or terminal) and the vehicle holds no open order, unless `include_busy`.
    A search whose `max_distance_m` reaches across the antimeridian or near a pole, where
    degrees stop measuring nearness, measures every vehicle instead.
    """
    reach = DegreeWindow.around(lon, lat, max_distance_m)
    if reach.wraps:
        return nearest_by_scan(session=session, actor=actor, lon=lon, lat=lat,
                               specialty=specialty, limit=limit, max_distance_m=max_distance_m,
                               include_busy=include_busy)  # fmt: skip
    search = dict(actor=actor, lon=lon, lat=lat, specialty=specialty, include_busy=include_busy)
    if session.get_bind().dialect.name == "postgresql":
        statement, values = _search(session, "walk", **search)  # type: ignore[arg-type]
        return _walk_nearest_first(session, statement, values, reach, limit, max_distance_m)
    statement, values = _search(session, "window", **search)  # type: ignore[arg-type]
    return _widening_windows(session, statement, values, limit, max_distance_m)


def _box(window: DegreeWindow) -> dict[str, float]:
    west, south, east, north = window.bounds
    return {"west": west, "south": south, "east": east, "north": north}


def _walk_nearest_first(
    session: Session,
    statement: Select[Any],
    values: dict[str, Any],
    reach: DegreeWindow,
    limit: int,
    max_distance_m: float,
) -> list[Candidate]:
    """PostGIS: free vehicles nearest-first by the GiST index, until the answer is certain.

    The walk returns free vehicles in planar-degree order; the last one's degrees D bound
    every vehicle not yet returned to at least D * `reach.metres_per_degree` metres. Those
    nearer than that bound are final; once `limit` of them are, that is the answer. Else the
    walk goes on further (x4 rows) — in practice the first walk settles it.
    """
    values = values | _box(reach)
    fetch = max(limit, 1) * _OVERSAMPLE
    connection = session.connection()
    while True:
        rows = connection.execute(statement, values | {"fetch": fetch}).all()
        bound = rows[-1][-1] * reach.metres_per_degree if rows else 0.0
        if len(rows) < fetch or bound >= max_distance_m:  # nothing nearer is left unseen
            return _candidates((row[:-1] for row in rows), max_distance_m)[:limit]
        found = _candidates((row[:-1] for row in rows), bound, strict=True)
        if len(found) >= limit:
            return found[:limit]
        fetch *= _OVERSAMPLE


def _widening_windows(
    session: Session,
    statement: Select[Any],
    values: dict[str, Any],
    limit: int,
    max_distance_m: float,
) -> list[Candidate]:
    """SpatiaLite: R*Tree windows of growing radius, until `limit` lie within the radius.

    Every vehicle within a window's radius lies inside the window (`DegreeWindow`), so the
    `limit` nearest in the window, if all within the radius, are the `limit` nearest of all.
    """
    radius = min(_last_radius[0], max_distance_m)
    connection = session.connection()
    while True:
        window = DegreeWindow.around(values["lon"], values["lat"], radius)
        rows = connection.execute(statement, values | _box(window) | {"fetch": limit})
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
    statement, values = _search(session, "scan", actor=actor, lon=lon, lat=lat,
                                specialty=specialty, include_busy=include_busy)  # fmt: skip
    rows = session.connection().execute(statement, values | {"fetch": limit})
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
