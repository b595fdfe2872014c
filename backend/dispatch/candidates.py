"""Candidate crews for an order: right specialty and region, available, ranked for dispatch.

Ranking (`rank_key`): free crews (no open order) first; then by ETA of the crew's nearest
vehicle to the fault, in whole minutes (tracking's estimate; crews without a recent vehicle
position after located ones); then fewer open orders; then the crew sharing the repair
center's site; then the exact distance; then crew id.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.orm import Session, contains_eager

from backend.auth.actor import Actor
from backend.auth.policy import Action
from backend.dispatch.availability import unavailable_among
from backend.dispatch.models import WorkOrder
from backend.dispatch.service import get_order, same_site
from backend.dispatch.timing.states import OPEN_CREW_STATES
from backend.org.models import Crew, Department, Vehicle
from backend.tracking.nearest import annotate_distances


def crew_loads(session: Session) -> dict[int, int]:
    """Return the number of open orders held by each crew."""
    rows = session.execute(
        select(WorkOrder.crew_id, func.count())
        .where(WorkOrder.crew_id.is_not(None), WorkOrder.status.in_(OPEN_CREW_STATES))
        .group_by(WorkOrder.crew_id)
    )
    return {int(crew_id): int(count) for crew_id, count in rows}


def rank_key(crew: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key of a candidate crew (see the module docstring)."""
    eta = crew.get("eta_min")
    return (
        crew["load"] > 0,
        eta is None,
        0 if eta is None else math.floor(eta + 0.5),
        crew["load"],
        not crew["same_site"],
        crew.get("distance_m") or 0.0,
        crew["crew_id"],
    )


def candidates(*, session: Session, actor: Actor, order_id: uuid.UUID) -> list[dict[str, Any]]:
    """Rank the crews that may take an order, with their vehicles' distance and ETA.

    A fixed number of queries however many crews the region has: the crews with their
    stations, then the stood-down ones, the vehicles and the distances, each in one query.
    """
    order = get_order(session=session, actor=actor, order_id=order_id, action=Action.ORDER_DISPATCH)
    loads = crew_loads(session)
    in_region = session.scalars(
        select(Crew)
        .join(Crew.department)
        .options(contains_eager(Crew.department))  # same_site reads the crew's station
        .where(
            Department.path.startswith(actor.department_path),
            Department.region_code == order.region_code,
        )
        .order_by(Crew.id)
    )
    skilled = [crew for crew in in_region if order.specialty in (crew.work_types or [])]
    stood_down = unavailable_among(session, [crew.id for crew in skilled])
    crews = [crew for crew in skilled if crew.id not in stood_down]
    fleet: dict[int, list[dict[str, Any]]] = {crew.id: [] for crew in crews}
    vehicles = session.execute(
        select(Vehicle.crew_id, Vehicle.id, Vehicle.plate)
        .where(Vehicle.crew_id.in_(list(fleet)))
        .order_by(Vehicle.id)
    )
    for crew_id, vehicle_id, plate in vehicles:
        fleet[crew_id].append({"id": vehicle_id, "plate": plate})
    ranked = [
        {
            "crew_id": crew.id,
            "crew_name": crew.name,
            "department_id": crew.department_id,
            "load": loads.get(crew.id, 0),
            "same_site": same_site(crew, order.repair_center),
            "vehicles": fleet[crew.id],
            "distance_m": None,
            "eta_min": None,
        }
        for crew in crews
    ]
    if order.location is not None:
        site = to_shape(order.location)
        annotate_distances(session=session, ranked=ranked, lon=site.x, lat=site.y)
    else:
        for vehicle in (v for crew in ranked for v in crew["vehicles"]):
            vehicle.update(distance_m=None, eta_min=None)
    return sorted(ranked, key=rank_key)
