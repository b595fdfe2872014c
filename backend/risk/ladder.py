"""The collection ladder (seed 000): deferral → on-site visit → disconnection notice → prepayment.

The steps are data (`STEPS`: who acts next, how many days it is due after the previous one).
A case walks them in order; a step out of order is a 409 naming the step due. A step whose
outcome is `paid` closes the case; the last step closes it too. Where a step acts on the
customer, the rule that guards it is asked: the deferral asks the customer's risk-class
policy (CA5 prepays: no deferral; CA4 only within its credit limit), the visit becomes a
field task synced to a crew's handhelds, the disconnection notice passes the inspection
evidence gate (`backend.inspection.evidence.check`) of a case at the customer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope
from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, load_in_scope, sees_crew
from backend.db import utcnow
from backend.errors import Conflict, InvalidTransition, field_error
from backend.inspection import evidence
from backend.inspection.cases import InspectionCase
from backend.inspection.errors import EvidenceMissing
from backend.org.models import Crew
from backend.risk import payment_service
from backend.risk.models import CollectionCase, CollectionStep, CollectionVisit
from backend.risk.payment_service import PolicyRefused


@dataclass(frozen=True)
class Step:
    """One rung: its name, who acts, days it is due after the previous step, its outcomes."""

    name: str
    title: str
    participant: str
    due_days: int
    outcomes: tuple[str, ...]


STEPS: tuple[Step, ...] = (
    Step("deferral", "限时缓缴 deferral", "collections", 0, ("granted", "paid", "refused")),
    Step("visit", "上门促缴 on-site visit", "crew", 7,
         ("paid", "promised", "refused", "not_home")),
    Step("disconnection_notice", "停电催缴 disconnection notice", "supervisor", 7,
         ("served", "paid")),
    Step("prepayment_meter", "预付费表 prepayment meter", "inspector", 14,
         ("installed", "paid")),
)  # fmt: skip
ORDER = tuple(s.name for s in STEPS)
BY_NAME = {s.name: s for s in STEPS}
CLOSED = "closed"


def open_case(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, window: payment_service.Window,
) -> CollectionCase:  # fmt: skip
    """Open a case for what the customer owes; the deferral step is due today."""
    customer = load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_COLLECT)
    owed = payment_service.outstanding(session, customer.id)
    if owed <= 0:
        raise Conflict("The customer owes nothing according to the billing table.")
    running = session.scalar(
        select(CollectionCase.number).where(
            CollectionCase.customer_id == customer.id, CollectionCase.stage != CLOSED
        )
    )
    if running is not None:
        raise Conflict(f"Collection case {running} is still open for this customer.")
    now = utcnow()
    case_id = uuid.uuid4()
    case = CollectionCase(
        id=case_id, number=f"COL-{now:%Y%m%d}-{case_id.hex[:8].upper()}",
        customer_id=customer.id, department_id=customer.department_id, amount=owed,
        stage=ORDER[0], stage_due_on=now.date(), opened_by=actor.audit_name, opened_at=now,
    )  # fmt: skip
    session.add(case)
    session.flush()
    return case


def get_case(*, session: Session, actor: Actor, case_id: uuid.UUID) -> CollectionCase:
    """A case of a customer in scope (404 absent, 403 outside)."""
    case = load_in_scope(session, actor, CollectionCase, case_id)
    load_in_scope(session, actor, Customer, case.customer_id, action=Action.RISK_READ)
    return case


def steps_of(session: Session, case_id: uuid.UUID) -> list[CollectionStep]:
    """A case's completed steps, oldest first."""
    return list(
        session.scalars(
            select(CollectionStep)
            .where(CollectionStep.case_id == case_id)
            .order_by(CollectionStep.id)
        )
    )


def visits_of(session: Session, case_id: uuid.UUID) -> list[CollectionVisit]:
    """The field visits sent for a case."""
    return list(session.scalars(select(CollectionVisit).where(CollectionVisit.case_id == case_id)))


def _check_order(case: CollectionCase, step: str) -> None:
    if case.stage == CLOSED:
        raise InvalidTransition("The case is closed.", current_state=CLOSED)
    if step != case.stage:
        raise InvalidTransition(
            f"The ladder goes {' → '.join(ORDER)}; the step due is {case.stage}, not {step}.",
            current_state=case.stage,
        )


def _deferral(
    session: Session, actor: Actor, case: CollectionCase, data: dict[str, Any],
    window: payment_service.Window,
) -> dict[str, Any]:  # fmt: skip
    if data["outcome"] != "granted":
        return {}
    until = data.get("deferred_until")
    if until is None or until <= utcnow().date():
        raise field_error("deferred_until", "A deferral is granted until a later day.")
    decision = payment_service.credit_check(
        session=session, actor=actor, customer_id=case.customer_id,
        amount=Decimal(0), window=window, action=Action.RISK_COLLECT,
    )  # fmt: skip
    if not decision["allowed"]:
        raise PolicyRefused(f"No deferral: {decision['reason']}", **decision)
    return {"deferred_until": until.isoformat(), "policy": decision}


def _disconnection(
    session: Session, case: CollectionCase, data: dict[str, Any], rules: evidence.EvidenceRules
) -> dict[str, Any]:
    if data["outcome"] != "served":
        return {}
    inspection_case = (
        session.get(InspectionCase, data["inspection_case_id"])
        if data.get("inspection_case_id")
        else None
    )
    if inspection_case is None or inspection_case.customer_id != case.customer_id:
        raise field_error(
            "inspection_case_id",
            "A disconnection notice names the inspection case at this customer whose "
            "evidence allows enforcement.",
        )
    verdict = evidence.check(session, inspection_case, rules)
    if not verdict.ok:
        raise EvidenceMissing(
            "The evidence gate refuses disconnection: " + "; ".join(verdict.missing),
            missing=verdict.missing, photos=verdict.photos,
        )  # fmt: skip
    return {"inspection_case_id": str(inspection_case.id), "overridden": verdict.overridden}


def _advance(case: CollectionCase, step: str, outcome: str) -> None:
    index = ORDER.index(step)
    if outcome == "paid" or index == len(ORDER) - 1:
        case.stage, case.stage_due_on, case.outcome = CLOSED, None, outcome
        case.closed_at = utcnow()
        return
    following = STEPS[index + 1]
    case.stage = following.name
    case.stage_due_on = utcnow().date() + timedelta(days=following.due_days)


def record(
    session: Session, case: CollectionCase, *, step: str, outcome: str, by: str,
    details: dict[str, Any], notes: str | None,
) -> CollectionStep:  # fmt: skip
    """Append a completed step and move the case on (order already checked)."""
    entry = CollectionStep(
        case_id=case.id, step=step, outcome=outcome, due_on=case.stage_due_on, details=details,
        notes=notes, completed_by=by, completed_at=utcnow(),
    )  # fmt: skip
    session.add(entry)
    _advance(case, step, outcome)
    session.flush()
    return entry


def complete_step(
    *, session: Session, actor: Actor, case_id: uuid.UUID, data: dict[str, Any],
    window: payment_service.Window, rules: evidence.EvidenceRules,
) -> CollectionCase:  # fmt: skip
    """Complete the step due (409 out of order); each step's guard is asked first."""
    case = load_in_scope(session, actor, CollectionCase, case_id, lock=True)
    authorize(actor, Action.RISK_COLLECT)
    step = data["step"]
    _check_order(case, step)
    if data["outcome"] not in BY_NAME[step].outcomes:
        raise field_error("outcome", f"One of {', '.join(BY_NAME[step].outcomes)}.")
    details: dict[str, Any] = {}
    if step == "deferral":
        details = _deferral(session, actor, case, data, window)
    elif step == "disconnection_notice":
        details = _disconnection(session, case, data, rules)
    record(session, case, step=step, outcome=data["outcome"], by=actor.audit_name,
           details=details, notes=data.get("notes"))  # fmt: skip
    return case


def send_visit(
    *, session: Session, actor: Actor, case_id: uuid.UUID, crew_id: int,
) -> CollectionVisit:  # fmt: skip
    """Send the on-site visit to a crew: a field task that reaches its handhelds."""
    case = load_in_scope(session, actor, CollectionCase, case_id, lock=True)
    authorize(actor, Action.RISK_COLLECT)
    _check_order(case, "visit")
    if any(v.status == "open" for v in visits_of(session, case.id)):
        raise Conflict("A visit is already with a crew; wait for its outcome.")
    crew = session.get(Crew, crew_id)
    if crew is None or not sees_crew(actor, crew):
        raise field_error("crew_id", "No crew with this id in your scope.")
    customer = session.get(Customer, case.customer_id)
    assert customer is not None  # noqa: S101 - a foreign key
    premise = session.scalar(
        select(Premise).where(Premise.customer_id == customer.id).order_by(Premise.id)
    )
    visit = CollectionVisit(
        id=uuid.uuid4(), case_id=case.id, customer_id=customer.id,
        premise_id=premise.id if premise else None, department_id=crew.department_id,
        crew_id=crew.id, customer_name=customer.name,
        address=premise.address if premise else "", amount_due=float(case.amount),
        due_on=(case.stage_due_on or utcnow().date()).isoformat(), status="open",
        created_by=actor.audit_name, created_at=utcnow(),
    )  # fmt: skip
    session.add(visit)
    session.flush()
    return visit


def visit_reported(session: Session, visit: CollectionVisit, by: str) -> None:
    """A crew reported its visit done: record the ladder's visit step with its outcome."""
    if visit.status != "done" or visit.outcome is None:
        return
    case = session.get(CollectionCase, visit.case_id)
    if case is None or case.stage != "visit":
        return  # recorded already (by REST or an earlier push)
    record(session, case, step="visit", outcome=visit.outcome, by=by,
           details={"visit_id": str(visit.id), "crew_id": visit.crew_id},
           notes=visit.notes)  # fmt: skip


def find_cases(
    *, actor: Actor, stage: str | None, due_before: date | None,
    customer_id: uuid.UUID | None = None,
) -> Select[tuple[CollectionCase]]:  # fmt: skip
    """Cases of customers in scope, by due date (open ones first); one customer's if given."""
    authorize(actor, Action.RISK_READ)
    query = select(CollectionCase).where(
        CollectionCase.customer_id.in_(select(Customer.id).where(customer_scope(actor)))
    )
    if customer_id is not None:  # narrows the scope, never widens it: outside it, no rows
        query = query.where(CollectionCase.customer_id == customer_id)
    if stage is not None:
        query = query.where(CollectionCase.stage == stage)
    if due_before is not None:
        query = query.where(CollectionCase.stage_due_on <= due_before)
    return query.order_by(
        CollectionCase.stage_due_on.is_(None), CollectionCase.stage_due_on,
        CollectionCase.opened_at,
    )  # fmt: skip


def due_rows(session: Session, actor: Actor, today: date) -> list[dict[str, Any]]:
    """For the report: per step, how many open cases have it due and how many are overdue."""
    cases = session.scalars(find_cases(actor=actor, stage=None, due_before=None)).all()
    rows = []
    for step in STEPS:
        mine = [c for c in cases if c.stage == step.name]
        overdue = [c for c in mine if c.stage_due_on is not None and c.stage_due_on < today]
        rows.append({
            "step": step.name, "participant": step.participant, "open": len(mine),
            "due_today_or_later": len(mine) - len(overdue), "overdue": len(overdue),
        })  # fmt: skip
    return rows
