"""Theft and violation cases: open, complete steps in order, approve, override the gate.

Keyword-only services with an explicit session and actor; they flush, the request commits.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend.archive.access import in_scope as customer_in_scope
from backend.archive.records import Customer, Premise
from backend.auth import audit
from backend.auth.actor import Actor
from backend.auth.policy import (
    Action,
    authorize,
    can,
    department_filter,
    in_scope,
    load_in_scope,
)
from backend.db import utcnow
from backend.errors import InvalidTransition, NotFound, field_error
from backend.inspection import evidence, procedure
from backend.inspection.cases import CaseStep, InspectionCase
from backend.inspection.errors import EvidenceMissing, ProcedureIncomplete
from backend.inspection.models import Inspection


def get_case(*, session: Session, actor: Actor, case_id: uuid.UUID) -> InspectionCase:
    """Load a case the actor may read (404 absent, 403 outside the scope)."""
    return load_in_scope(session, actor, InspectionCase, case_id, action=Action.CASE_READ)


def find_cases(*, actor: Actor, filters: dict[str, Any]) -> Select[tuple[InspectionCase]]:
    """Select the cases in the actor's departments, filtered by stage, kind, customer."""
    authorize(actor, Action.CASE_READ)
    query = select(InspectionCase).where(InspectionCase.department_id.in_(department_filter(actor)))
    for name in ("stage", "kind", "customer_id", "outcome"):
        if filters.get(name) is not None:
            query = query.where(getattr(InspectionCase, name) == filters[name])
    return query.order_by(InspectionCase.opened_at.desc(), InspectionCase.id)


def steps_of(session: Session, case_id: uuid.UUID) -> list[CaseStep]:
    """Return a case's recorded steps, oldest first."""
    return list(
        session.scalars(select(CaseStep).where(CaseStep.case_id == case_id).order_by(CaseStep.id))
    )


def open_case(*, session: Session, actor: Actor, data: dict[str, Any]) -> InspectionCase:
    """Open a case at a customer's premise; its first step, discovery, is due."""
    authorize(actor, Action.CASE_OPEN)
    customer = session.get(Customer, data["customer_id"])
    if customer is None or not customer_in_scope(session, actor, customer.id):
        raise field_error("customer_id", "No customer with this id in your scope.")
    premise = session.get(Premise, data["premise_id"])
    if premise is None or premise.customer_id != customer.id:
        raise field_error("premise_id", "No premise with this id on the customer's file.")
    inspection_id = data.get("inspection_id")
    if inspection_id is not None:
        inspection = session.get(Inspection, inspection_id)
        if inspection is None or not in_scope(session, actor, inspection):
            raise field_error("inspection_id", "No inspection with this id in your scope.")
        if inspection.premise_id not in (None, premise.id):
            raise field_error("inspection_id", "The inspection was made at another premise.")
    now = utcnow()
    case_id = uuid.uuid4()
    case = InspectionCase(
        id=case_id,
        number=f"{data['kind'][0].upper()}-{now:%Y%m%d}-{case_id.hex[:8].upper()}",
        kind=data["kind"],
        department_id=customer.department_id,
        customer_id=customer.id,
        premise_id=premise.id,
        inspection_id=inspection_id,
        summary=data["summary"],
        inspected_at=data.get("inspected_at") or now,
        stage=procedure.STEPS[0].name,
        stage_due_at=now + timedelta(days=procedure.STEPS[0].due_days),
        opened_by=actor.audit_name,
        opened_at=now,
        enforcement_actions=[],
    )
    session.add(case)
    session.flush()
    return case


def _approver(actor: Actor) -> bool:
    return can(actor, Action.CASE_APPROVE)


def _advance(case: InspectionCase) -> None:
    following = procedure.next_step(case.stage, dismissed=case.outcome == "dismissed")
    now = utcnow()
    case.stage, case.awaiting_approval = following, False
    if following == procedure.CLOSED:
        case.closed_at = now
    else:
        case.stage_due_at = now + timedelta(days=procedure.BY_NAME[following].due_days)


def _step_details(
    step: procedure.Step, data: dict[str, Any], case: InspectionCase
) -> dict[str, Any]:
    """Check and return the extra fields the step records (outcome, amounts, actions)."""
    details: dict[str, Any] = {}
    if "outcome" in step.fields:
        if data.get("outcome") is None:
            raise field_error("outcome", "The decision step records an outcome.")
        details["outcome"] = data["outcome"]
        amount = data.get("back_billing_amount")
        if data["outcome"] == "confirmed" and amount is None:
            raise field_error("back_billing_amount", "A confirmed case records the back-billing.")
        if amount is not None:
            details["back_billing_amount"] = str(amount)
    if "actions" in step.fields:
        details["actions"] = list(dict.fromkeys(data.get("actions") or []))
    if "recovered_amount" in step.fields:
        if data.get("recovered_amount") is None:
            raise field_error("recovered_amount", "The recovery step records the amount.")
        details["recovered_amount"] = str(data["recovered_amount"])
    extra = {"outcome", "back_billing_amount", "actions", "recovered_amount"} - set(step.fields)
    for name in sorted(extra):
        if data.get(name) not in (None, []):
            raise field_error(name, f"The {step.name} step does not record {name}.")
    return details


def complete_step(
    *,
    session: Session,
    actor: Actor,
    case_id: uuid.UUID,
    data: dict[str, Any],
    rules: evidence.EvidenceRules,
) -> InspectionCase:
    """Complete the case's current step: in order, with its checklist, through the gate."""
    case = load_in_scope(
        session, actor, InspectionCase, case_id, action=Action.CASE_STEP, lock=True
    )
    if case.stage == procedure.CLOSED or data["step"] != case.stage or case.awaiting_approval:
        waiting = " (awaiting a supervisor's approval)" if case.awaiting_approval else ""
        raise InvalidTransition(
            f"Step {data['step']!r} cannot be completed now: the case is at "
            f"{case.stage!r}{waiting}; steps go {' → '.join(procedure.ORDER)}.",
            current_state=case.stage,
        )
    step = procedure.BY_NAME[case.stage]
    answers = data.get("checklist") or {}
    unknown = sorted(set(answers) - {i.key for i in step.items})
    if unknown:
        raise field_error("checklist", f"Not items of the {step.name} step: {', '.join(unknown)}.")
    missing = procedure.missing_items(step, answers)
    if missing:
        labels = "; ".join(m["label"] for m in missing)
        raise ProcedureIncomplete(
            f"The {step.name} step cannot complete: {labels}.", missing_items=missing
        )
    details = _step_details(step, data, case)
    if details.get("actions"):
        verdict = evidence.check(session, case, rules)
        if not verdict.ok:
            raise EvidenceMissing(
                "Enforcement refused until the evidence is complete: " + "; ".join(verdict.missing),
                missing=verdict.missing,
                photos=verdict.photos,
            )
    approved = not step.approval or _approver(actor)
    now = utcnow()
    session.add(
        CaseStep(
            case_id=case.id, step=step.name, checklist=answers, details=details,
            notes=data.get("notes"), completed_by=actor.audit_name, completed_at=now,
            approved_by=actor.audit_name if step.approval and approved else None,
            approved_at=now if step.approval and approved else None,
        )
    )  # fmt: skip
    _apply(case, details)
    if approved:
        _advance(case)
    else:
        case.awaiting_approval = True
    session.flush()
    return case


def _apply(case: InspectionCase, details: dict[str, Any]) -> None:
    if "outcome" in details:
        case.outcome = details["outcome"]
        amount = details.get("back_billing_amount")
        case.back_billing_amount = Decimal(amount) if amount is not None else None
    if "actions" in details:
        case.enforcement_actions = details["actions"]
    if "recovered_amount" in details:
        case.recovered_amount = Decimal(details["recovered_amount"])


def approve_step(*, session: Session, actor: Actor, case_id: uuid.UUID) -> InspectionCase:
    """Approve the step an inspector completed (decision, closure) and move on."""
    case = load_in_scope(
        session, actor, InspectionCase, case_id, action=Action.CASE_APPROVE, lock=True
    )
    if not case.awaiting_approval:
        raise InvalidTransition(
            f"Nothing awaits approval: the case is at {case.stage!r}.", current_state=case.stage
        )
    pending = session.scalar(
        select(CaseStep)
        .where(CaseStep.case_id == case.id, CaseStep.step == case.stage)
        .order_by(CaseStep.id.desc())
        .limit(1)
    )
    if pending is None:  # pragma: no cover - awaiting_approval is set with the step row
        raise NotFound("The pending step is missing.")
    pending.approved_by, pending.approved_at = actor.audit_name, utcnow()
    _advance(case)
    session.flush()
    return case


def override_gate(
    *, session: Session, actor: Actor, case_id: uuid.UUID, reason: str
) -> InspectionCase:
    """Let enforcement go ahead without complete evidence: a supervisor's reasoned, audited act."""
    case = load_in_scope(
        session, actor, InspectionCase, case_id, action=Action.EVIDENCE_OVERRIDE, lock=True
    )
    if not reason.strip():
        raise field_error("reason", "An override needs a reason.")
    if case.stage == procedure.CLOSED:
        raise InvalidTransition("The case is closed.", current_state=case.stage)
    case.override_by, case.override_at, case.override_reason = (
        actor.audit_name, utcnow(), reason.strip()
    )  # fmt: skip
    audit.record(
        session, actor=actor.audit_name, action="gate_override", entity="inspection_case",
        entity_id=str(case.id), after={"reason": case.override_reason},
    )  # fmt: skip
    session.flush()
    return case


def offender_history(session: Session, customer_id: uuid.UUID, threshold: int) -> dict[str, Any]:
    """Return a customer's case counts and the repeat-offender flag (confirmed ≥ threshold)."""
    rows = session.execute(
        select(InspectionCase.outcome, func.count())
        .where(InspectionCase.customer_id == customer_id)
        .group_by(InspectionCase.outcome)
    ).all()
    counts = {outcome: n for outcome, n in rows}
    confirmed = counts.get("confirmed", 0)
    return {
        "cases": sum(counts.values()),
        "confirmed_cases": confirmed,
        "repeat_offender": confirmed >= threshold,
    }
