"""What callers see of a case: the row, its steps, the next step's items and the history."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from backend.inspection import procedure
from backend.inspection.case_service import offender_history, steps_of
from backend.inspection.cases import InspectionCase


def case_view(
    session: Session, case: InspectionCase, *, threshold: int | None = None
) -> dict[str, Any]:
    """A case as the API shows it."""
    step = procedure.BY_NAME.get(case.stage)
    override = None
    if case.override_at is not None:
        override = {"by": case.override_by, "at": case.override_at, "reason": case.override_reason}
    return {
        **{c.key: getattr(case, c.key) for c in InspectionCase.__table__.columns},
        "next_participant": None if step is None else (
            "supervisor" if case.awaiting_approval else step.participant
        ),
        "stage_due_at": None if step is None else case.stage_due_at,
        "override": override,
        "customer_history": offender_history(
            session, case.customer_id, threshold or repeat_threshold()
        ),
        "pending_items": [] if step is None else [asdict(i) for i in step.items],
        "steps": steps_of(session, case.id),
    }  # fmt: skip


def procedure_view() -> list[dict[str, Any]]:
    """The whole procedure as data."""
    return [
        {**asdict(s), "fields_": list(s.fields), "items": [asdict(i) for i in s.items]}
        for s in procedure.STEPS
    ]


def repeat_threshold() -> int:
    """Confirmed cases that make a repeat offender (Config INSPECTION_REPEAT_OFFENDER_CASES)."""
    if has_app_context():
        return int(current_app.config.get("INSPECTION_REPEAT_OFFENDER_CASES", 2))
    return 2


def customer_case_history(session: Session, customer_id: uuid.UUID) -> dict[str, Any]:
    """The case counts and repeat-offender flag shown on a customer's archive file."""
    return offender_history(session, customer_id, repeat_threshold())
