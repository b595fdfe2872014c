"""Several open orders per vehicle, kept in working order."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.policy import Action, load_in_scope, order_filter
from backend.dispatch.models import WorkOrder
from backend.dispatch.timing.states import OPEN_CREW_STATES
from backend.errors import field_error
from backend.org.models import Vehicle


def vehicle_queue(
    *, session: Session, actor: Actor, vehicle_id: int, action: Action = Action.QUEUE_READ
) -> list[WorkOrder]:
    """Return a vehicle's open orders the caller may read, in the order to work them."""
    # Devices and crew members see only their own (crew's) vehicle: the policy's vehicle scope.
    load_in_scope(session, actor, Vehicle, vehicle_id, action=action)
    # And only orders they may read: a vehicle moved to another crew still carries the old
    # crew's open orders, which the new crew does not read by any other door.
    return list(
        session.scalars(
            select(WorkOrder)
            .where(
                WorkOrder.vehicle_id == vehicle_id,
                WorkOrder.status.in_(OPEN_CREW_STATES),
                order_filter(actor),
            )
            .order_by(WorkOrder.queue_position, WorkOrder.created_at)
        )
    )


def reorder_queue(
    *, session: Session, actor: Actor, vehicle_id: int, order_ids: list[uuid.UUID]
) -> list[WorkOrder]:
    """Set the order of a vehicle's open orders; the list must name each exactly once."""
    queue = vehicle_queue(
        session=session, actor=actor, vehicle_id=vehicle_id, action=Action.QUEUE_REORDER
    )
    if sorted(map(str, order_ids)) != sorted(str(o.id) for o in queue):
        raise field_error(
            "order_ids", "List each open order of the vehicle exactly once (see GET first)."
        )
    by_id = {o.id: o for o in queue}
    # Orders the caller may not read (an old crew's, on a vehicle moved to another crew) keep
    # their places; the caller's go after them, so no two share a position.
    hidden = session.scalar(
        select(func.max(WorkOrder.queue_position)).where(
            WorkOrder.vehicle_id == vehicle_id,
            WorkOrder.status.in_(OPEN_CREW_STATES),
            WorkOrder.id.not_in([o.id for o in queue]),
        )
    )
    for position, order_id in enumerate(order_ids, start=(hidden or 0) + 1):
        by_id[order_id].queue_position = position
    session.flush()
    return sorted(queue, key=lambda o: o.queue_position or 0)
