"""After the repair: the crew's fault record, the customer follow-up call, closing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth import policy
from backend.auth.actor import Actor
from backend.db import utcnow
from backend.dispatch.models import FaultRecord, WorkOrder
from backend.dispatch.service import get_order, system_step
from backend.dispatch.timing.events import append_event
from backend.dispatch.timing.states import Action, next_state
from backend.errors import Conflict, Forbidden, NotFound
from backend.inputs import refuse_ahead_of_server


def may_write_fault(
    *, session: Session, actor: Actor, order_id: uuid.UUID, lock: bool = False
) -> WorkOrder:
    """Load the order if the actor may write its fault record (asked before the body too).

    The crew holding the order fills it in; the repair center may correct it (in scope).
    """
    crew_side = policy.crew_bound(actor)
    order = get_order(
        session=session,
        actor=actor,
        order_id=order_id,
        lock=lock,
        action=(
            policy.Action.FAULT_RECORD_WRITE if crew_side else policy.Action.FAULT_RECORD_CORRECT
        ),
    )
    if crew_side and not policy.holds_order(actor, order):
        raise Forbidden("This work order was not sent to your crew.")
    return order


def record_fault(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    data: dict[str, Any],
    now: datetime | None = None,
    record_id: uuid.UUID | None = None,
) -> FaultRecord:
    """The crew fills in (or corrects) the fault record once the repair is finished.

    `record_id` is the id a new record gets (an offline handheld chooses it); it is ignored
    when the order already has a record.
    """
    refuse_ahead_of_server("restored_at", data.get("restored_at"))
    now = now or utcnow()
    order = may_write_fault(session=session, actor=actor, order_id=order_id, lock=True)
    next_state(order.status, Action.RECORD_FAULT)
    record = session.scalar(select(FaultRecord).where(FaultRecord.order_id == order.id))
    if record is None:
        record = FaultRecord(
            id=record_id or uuid.uuid4(),
            order_id=order.id,
            department_id=order.department_id,
            crew_id=order.crew_id,
            filled_by=actor.audit_name,
            filled_at=now,
        )
        session.add(record)
    for key, value in data.items():
        setattr(record, key, value)
    record.filled_by, record.filled_at = actor.audit_name, now
    session.flush()
    return record


def get_fault_record(*, session: Session, actor: Actor, order_id: uuid.UUID) -> FaultRecord:
    """Return the order's fault record, or 404."""
    order = get_order(session=session, actor=actor, order_id=order_id)
    record = session.scalar(select(FaultRecord).where(FaultRecord.order_id == order.id))
    if record is None:
        raise NotFound(f"Work order {order.number} has no fault record yet.")
    return record


def follow_up(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    result: str,
    satisfied: bool,
    now: datetime | None = None,
) -> WorkOrder:
    """The call center records the customer follow-up call (回访)."""
    now = now or utcnow()
    order = get_order(
        session=session,
        actor=actor,
        order_id=order_id,
        lock=True,
        action=policy.Action.ORDER_FOLLOW_UP,
    )
    status = next_state(order.status, Action.FOLLOW_UP)
    if session.scalar(select(FaultRecord.id).where(FaultRecord.order_id == order.id)) is None:
        raise Conflict(
            f"Work order {order.number} has no fault record yet; the crew fills it first.",
            current_state=order.status,
        )
    order.status = status
    order.follow_up_result, order.follow_up_satisfied = result, satisfied
    order.updated_at = now
    append_event(
        session,
        order,
        point="follow_up",
        occurred_at=now,
        source="manual",
        actor=actor.audit_name,
        now=now,
        details={"satisfied": satisfied},
    )
    session.flush()
    return order


def close_order(
    *, session: Session, actor: Actor, order_id: uuid.UUID, now: datetime | None = None
) -> WorkOrder:
    """Close a followed-up order."""
    order = system_step(
        session=session,
        actor=actor,
        order_id=order_id,
        action=Action.CLOSE,
        point="closed",
        now=now,
        permission=policy.Action.ORDER_CLOSE,
    )
    order.closed_at = order.updated_at
    session.flush()
    return order
