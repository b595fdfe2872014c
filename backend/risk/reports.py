"""Risk reports: grade distribution by department and size, ABC shares, ladder steps due."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope
from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.org.models import Department
from backend.risk import abc
from backend.risk.credit_model import SIZES
from backend.risk.models import CreditRating

GRADES = ("A", "B", "C", "D", "E")


def grade_distribution(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Current grades of active customers in scope, per department and size."""
    latest = select(func.max(CreditRating.id)).group_by(CreditRating.customer_id).scalar_subquery()
    rows = session.execute(
        select(Department.name, CreditRating.size, CreditRating.grade, func.count())
        .join(Customer, Customer.id == CreditRating.customer_id)
        .join(Department, Department.id == Customer.department_id)
        .where(
            CreditRating.id.in_(latest), Customer.status == "active",
            customer_scope(actor, session),
        )
        .group_by(Department.name, CreditRating.size, CreditRating.grade)
    ).all()  # fmt: skip
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(GRADES, 0))
    for department, size, grade, count in rows:
        table[(department, size)][grade] += count
    out = []
    for (department, size), counts in sorted(
        table.items(), key=lambda kv: (kv[0][0], SIZES.index(kv[0][1]))
    ):
        total = sum(counts.values())
        good = round((counts["A"] + counts["B"]) * 100 / total, 2)
        out.append({"department": department, "size": size, **counts, "total": total,
                    "share_a_b_pct": good})  # fmt: skip
    return out


def risk_report(
    *, session: Session, actor: Actor, today: date, abc_window: int, thresholds: abc.Thresholds,
    ladder_rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The report's tables: grades, abc (summary), ladder (steps due and overdue)."""
    authorize(actor, Action.RISK_READ)
    as_of = abc.add_months(today, -1)
    shares = abc.report(
        session=session, actor=actor, as_of=as_of, window_months=abc_window,
        thresholds=thresholds,
    )  # fmt: skip
    tables: dict[str, Any] = {
        "grades": grade_distribution(session, actor),
        "abc": shares["summary"],
    }
    if ladder_rows is not None:
        tables["ladder"] = ladder_rows
    return tables
