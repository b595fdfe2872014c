"""Gates: a business step that needs documents is refused while any is missing.

The rules are data: which stages' documents must be in the file before a step may be
recorded (closing a new connection at acceptance, closing an account). A refusal is a 409
`gate-closed` problem listing the missing stages.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.access import ArchiveAction, require
from backend.archive.deadline_models import BusinessStep
from backend.archive.documents import CustomerDocument
from backend.archive.records import Customer
from backend.archive.service import get_customer
from backend.archive.vocab import AccountStatus, Stage
from backend.auth.actor import Actor
from backend.db import utcnow
from backend.errors import Conflict
from backend.inputs import refuse_ahead_of_server

# step -> the stages whose documents must exist first. Acceptance closes a new connection
# (业扩 送电); closure closes the account (its closure application must be on file).
GATES: dict[str, tuple[Stage, ...]] = {
    Stage.SURVEY: (Stage.APPLICATION,),
    Stage.DESIGN: (Stage.APPLICATION, Stage.SURVEY),
    Stage.INSTALLATION: (Stage.APPLICATION,),
    Stage.ACCEPTANCE: (Stage.APPLICATION, Stage.INSTALLATION),
    Stage.CONTRACT: (Stage.APPLICATION,),
    Stage.CLOSURE: (Stage.CLOSURE,),
}


class GateClosed(Conflict):
    """A step whose required documents are not all in the file."""

    slug, title = "gate-closed", "Required documents missing"


def missing_documents(session: Session, customer_id: uuid.UUID, step: str) -> list[str]:
    """Return the stages whose documents the step needs and the file lacks."""
    needed = GATES.get(step, ())
    if not needed:
        return []
    have = set(
        session.scalars(
            select(CustomerDocument.stage).where(CustomerDocument.customer_id == customer_id)
        )
    )
    return [s.value for s in needed if s.value not in have]


def check_gate(session: Session, customer: Customer, step: str) -> None:
    """Raise `GateClosed` (409, `missing`) unless the file holds the step's documents."""
    missing = missing_documents(session, customer.id, step)
    if missing:
        raise GateClosed(
            f"Step {step} of account {customer.account_number} needs documents of: "
            f"{', '.join(missing)}.",
            missing=missing,
        )


def record_step(
    *,
    session: Session,
    actor: Actor,
    customer_id: uuid.UUID,
    stage: str,
    completed_at: datetime | None = None,
    note: str | None = None,
) -> BusinessStep:
    """Record that a business step was completed: passes its gate, starts its deadlines."""
    require(actor, ArchiveAction.RECORD_STEP)
    # A step done "in the future" would start its deadlines then: the 48-hour digitising and
    # one-week handover clocks could be pushed out at will.
    refuse_ahead_of_server("completed_at", completed_at)
    customer = get_customer(session=session, actor=actor, customer_id=customer_id)
    if customer.status == AccountStatus.CLOSED:
        raise Conflict(f"Account {customer.account_number} is closed; its file is read-only.")
    check_gate(session, customer, stage)
    step = BusinessStep(
        customer_id=customer.id,
        department_id=customer.department_id,
        stage=stage,
        completed_at=completed_at or utcnow(),
        note=note,
        recorded_by=actor.audit_name,
    )
    session.add(step)
    session.flush()
    return step


def steps_of(session: Session, customer_id: uuid.UUID) -> list[BusinessStep]:
    """Return a file's steps in the order they happened."""
    query = select(BusinessStep).where(BusinessStep.customer_id == customer_id)
    return list(session.scalars(query.order_by(BusinessStep.completed_at)))


def step_view(step: BusinessStep) -> dict[str, Any]:
    """A step as JSON."""
    return {c.key: getattr(step, c.key) for c in BusinessStep.__table__.columns}
