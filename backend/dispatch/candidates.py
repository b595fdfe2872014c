"""Candidate crews for an order: right specialty and region, available, least loaded first."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.dispatch.availability import is_available
from backend.dispatch.models import WorkOrder
from backend.dispatch.service import get_order, same_site
from backend.dispatch.states import OPEN_CREW_STATES
from backend.org.models import Crew, Department, Vehicle


def crew_loads(session: Session) -> dict[int, int]:
    """Return the number of open orders held by each crew."""
    rows = session.execute(
        select(WorkOrder.crew_id, func.count())
        .where(WorkOrder.crew_id.is_not(None), WorkOrder.status.in_(OPEN_CREW_STATES))
        .group_by(WorkOrder.crew_id)
    )
    return {int(crew_id): int(count) for crew_id, count in rows}


def candidates(*, session: Session, actor: Actor, order_id: uuid.UUID) -> list[dict[str, Any]]:
    """Rank the crews that may take an order (the tracking domain adds distance later)."""
    order = get_order(session=session, actor=actor, order_id=order_id)
    loads = crew_loads(session)
    crews = session.scalars(
        select(Crew)
        .join(Department, Crew.department_id == Department.id)
        .where(
            Department.path.startswith(actor.department_path),
            Department.region_code == order.region_code,
        )
        .order_by(Crew.id)
    )
    ranked = []
    for crew in crews:
        if order.specialty not in (crew.work_types or []) or not is_available(session, crew.id):
            continue
        vehicles = session.scalars(select(Vehicle).where(Vehicle.crew_id == crew.id))
        ranked.append(
            {
                "crew_id": crew.id,
                "crew_name": crew.name,
                "department_id": crew.department_id,
                "load": loads.get(crew.id, 0),
                "same_site": same_site(crew, order.repair_center),
                "vehicles": [{"id": v.id, "plate": v.plate} for v in vehicles],
            }
        )
    ranked.sort(key=lambda c: (c["load"], not c["same_site"], c["crew_id"]))
    return ranked
