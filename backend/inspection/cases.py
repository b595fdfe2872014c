"""Theft and violation cases: the case, its completed steps and their procedural records."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, UUIDPrimaryKey, utcnow
from backend.inspection.models import Captured
from sync.changes import Synced


class InspectionCase(UUIDPrimaryKey, Synced, Audited, Base):
    """One theft or violation case at a premise; `stage` is the step now due.

    Synced read-only to the handhelds of whoever may read cases in its department.
    """

    __tablename__ = "inspection_cases"
    __sync_entity__ = "inspection_case"
    __sync_scope__ = ("department_id", None)
    __audit_exclude__ = frozenset({"version", "field_versions"})

    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    premise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("premises.id"), index=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("inspections.id"), index=True
    )
    summary: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(16), default="discovery", index=True)
    # The current step was completed by an inspector and waits for a supervisor.
    awaiting_approval: Mapped[bool] = mapped_column(default=False)
    stage_due_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str | None] = mapped_column(String(16))
    back_billing_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    recovered_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    enforcement_actions: Mapped[list[str]] = mapped_column(default=list)
    # When the inspection on site took place: evidence must be captured around it.
    inspected_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()
    # A supervisor's override of the evidence gate: who, when, why (also in the audit log).
    override_by: Mapped[str | None] = mapped_column(String(120))
    override_at: Mapped[datetime | None] = mapped_column()
    override_reason: Mapped[str | None] = mapped_column(String(1000))


class CaseStep(Base):
    """One completed (or approval-pending) step: the checklist as recorded, who and when."""

    __tablename__ = "inspection_case_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspection_cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(16))
    checklist: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    completed_by: Mapped[str] = mapped_column(String(120))
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[datetime | None] = mapped_column()


class CaseStepPush(Captured, Base):
    """A step completed offline on a handheld (sync entity `case_step`).

    Applied through the same service as REST; `step_id` is the step row it became.
    """

    __tablename__ = "inspection_case_step_pushes"
    __sync_entity__ = "case_step"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("inspection_cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(16))
    checklist: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(16))
    back_billing_amount: Mapped[float | None] = mapped_column()
    recovered_amount: Mapped[float | None] = mapped_column()
    actions: Mapped[list[str]] = mapped_column(default=list)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_case_steps.id"))
