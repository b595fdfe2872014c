"""Inspection reports: tasks, hazards, cases, recoveries, repeat offenders, verification.

Tasks due/done/overdue per inspector, open hazards by severity, cases by stage and outcome
with recovered charges, repeat offenders, field-verification progress.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.models import User
from backend.auth.policy import Action, authorize, department_filter
from backend.db import utcnow
from backend.inspection.cases import InspectionCase
from backend.inspection.hazards import SEVERITIES
from backend.inspection.plan_models import Hazard, InspectionTask
from backend.inspection.verification_models import VerificationBatch, VerificationItem

Table = list[dict[str, Any]]


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.2f}"


def inspection_report(
    *, session: Session, actor: Actor, start: datetime, end: datetime, threshold: int
) -> dict[str, Table]:
    """Every table of the inspection report for tasks due and cases opened in [start, end)."""
    authorize(actor, Action.INSPECTION_REPORT_READ)
    departments = list(session.scalars(department_filter(actor)))
    now = utcnow()
    names = dict(session.execute(select(User.id, User.username)).all())
    per: dict[str, Counter[str]] = defaultdict(Counter)
    tasks = session.scalars(
        select(InspectionTask).where(
            InspectionTask.department_id.in_(departments),
            InspectionTask.due_at >= start, InspectionTask.due_at < end,
        )
    )  # fmt: skip
    for task in tasks:
        row = per[names.get(task.inspector_id, str(task.inspector_id))]
        row["due"] += 1
        if task.status == "done":
            row["done"] += 1
            row["done_late"] += bool(task.completed_at and task.completed_at > task.due_at)
        elif task.status == "cancelled":
            row["cancelled"] += 1
        elif task.due_at < now:
            row["overdue"] += 1
        else:
            row["open"] += 1
    task_rows = [
        {"inspector": name, **{k: c[k] for k in ("due", "done", "done_late", "open", "overdue",
                                                 "cancelled")}}
        for name, c in sorted(per.items())
    ]  # fmt: skip
    hazards = Counter(
        dict(
            session.execute(
                select(Hazard.severity, func.count())
                .where(
                    Hazard.department_id.in_(departments),
                    Hazard.status.in_(["open", "notified"]), Hazard.deleted.is_(False),
                )
                .group_by(Hazard.severity)
            ).all()
        )
    )  # fmt: skip
    hazard_rows = [{"severity": s, "open": hazards.get(s, 0)} for s in SEVERITIES]
    cases = session.scalars(
        select(InspectionCase).where(
            InspectionCase.department_id.in_(departments),
            InspectionCase.opened_at >= start, InspectionCase.opened_at < end,
        )
    ).all()  # fmt: skip
    by_stage: dict[tuple[str, str, str], list[InspectionCase]] = defaultdict(list)
    for case in cases:
        by_stage[(case.kind, case.stage, case.outcome or "")].append(case)
    case_rows = [
        {
            "kind": kind, "stage": stage, "outcome": outcome, "cases": len(group),
            "back_billing": _money(sum((c.back_billing_amount or Decimal(0) for c in group), Decimal(0))),  # noqa: E501
            "recovered": _money(sum((c.recovered_amount or Decimal(0) for c in group), Decimal(0))),  # noqa: E501
        }
        for (kind, stage, outcome), group in sorted(by_stage.items())
    ]  # fmt: skip
    offenders = session.execute(
        select(Customer.account_number, Customer.name, func.count())
        .join(InspectionCase, InspectionCase.customer_id == Customer.id)
        .where(Customer.department_id.in_(departments), InspectionCase.outcome == "confirmed")
        .group_by(Customer.account_number, Customer.name)
        .having(func.count() >= threshold)
        .order_by(func.count().desc(), Customer.account_number)
    ).all()
    offender_rows = [
        {"account_number": a, "name": n, "confirmed_cases": c} for a, n, c in offenders
    ]
    verification_rows = []
    for batch in session.scalars(
        select(VerificationBatch)
        .where(VerificationBatch.department_id.in_(departments))
        .order_by(VerificationBatch.created_at)
    ):
        statuses = Counter(
            dict(
                session.execute(
                    select(VerificationItem.status, func.count())
                    .where(VerificationItem.batch_id == batch.id)
                    .group_by(VerificationItem.status)
                ).all()
            )
        )
        total = sum(statuses.values())
        done = statuses["validated"] + statuses["confirmed"]
        verification_rows.append({
            "batch": batch.number, "name": batch.name, "files": total,
            "checked": statuses["checked"],
            "validated": done, "rejected": statuses["rejected"], "pending": statuses["pending"],
            "progress": round(done / total, 4) if total else 1.0, "status": batch.status,
        })  # fmt: skip
    summary = {
        "tasks_due": sum(r["due"] for r in task_rows),
        "tasks_done": sum(r["done"] for r in task_rows),
        "tasks_overdue": sum(r["overdue"] for r in task_rows),
        "hazards_open": sum(hazards.values()),
        "cases": len(cases),
        "back_billing": _money(
            sum((c.back_billing_amount or Decimal(0) for c in cases), Decimal(0))
        ),  # noqa: E501
        "recovered": _money(sum((c.recovered_amount or Decimal(0) for c in cases), Decimal(0))),
        "repeat_offenders": len(offender_rows),
    }
    return {
        "summary": [summary],
        "tasks": task_rows,
        "hazards": hazard_rows,
        "cases": case_rows,
        "repeat_offenders": offender_rows,
        "field_verification": verification_rows,
    }
