"""Arrears early warning: a grade that fell, arrears that aged, a payment pattern that worsened.

Each finding is an alert (one per cause and source record, so
a re-run raises nothing twice); the open alerts of one's scope are the collectors' worklist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope, redact
from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, load_in_scope
from backend.db import utcnow
from backend.errors import Conflict, NotFound
from backend.risk.models import CreditRating, RiskAlert, RiskClassRecord

GRADES = "ABCDE"
BEHAVIOURS = ("AAA", "AA", "A", "B", "C")
KINDS = ("grade_fell", "arrears_grew", "pattern_changed")


def _raise(
    session: Session, customer_id: uuid.UUID, department_id: int, kind: str, source: str,
    detail: dict[str, Any],
) -> RiskAlert | None:  # fmt: skip
    exists = session.scalar(
        select(RiskAlert.id).where(RiskAlert.customer_id == customer_id,
                                   RiskAlert.kind == kind, RiskAlert.source == source)
    )  # fmt: skip
    if exists is not None:
        return None
    alert = RiskAlert(
        customer_id=customer_id, department_id=department_id, kind=kind, source=source,
        detail=detail, raised_at=utcnow(),
    )  # fmt: skip
    session.add(alert)
    session.flush()
    return alert


def after_rating(session: Session, rating: CreditRating) -> RiskAlert | None:
    """Alert when a new rating's grade is worse than the one before."""
    previous = session.scalar(
        select(CreditRating)
        .where(CreditRating.customer_id == rating.customer_id, CreditRating.id < rating.id)
        .order_by(CreditRating.id.desc())
    )
    if previous is None or GRADES.index(rating.grade) <= GRADES.index(previous.grade):
        return None
    return _raise(
        session, rating.customer_id, rating.department_id, "grade_fell", f"rating:{rating.id}",
        {"from": previous.grade, "to": rating.grade, "score": float(rating.score)},
    )  # fmt: skip


def after_evaluation(session: Session, record: RiskClassRecord) -> list[RiskAlert]:
    """Alert when the payment pattern worsened or the arrears age (months owing) grew."""
    previous = session.scalar(
        select(RiskClassRecord)
        .where(RiskClassRecord.customer_id == record.customer_id, RiskClassRecord.id < record.id)
        .order_by(RiskClassRecord.id.desc())
    )
    raised: list[RiskAlert | None] = []
    before = previous.behaviour if previous else None
    if (
        record.behaviour is not None
        and before is not None
        and BEHAVIOURS.index(record.behaviour) > BEHAVIOURS.index(before)
    ):
        raised.append(_raise(
            session, record.customer_id, record.department_id, "pattern_changed",
            f"class:{record.id}",
            {"from": before, "to": record.behaviour, "criterion": record.criterion},
        ))  # fmt: skip
    age = int(record.facts.get("arrears_months", 0))
    age_before = int(previous.facts.get("arrears_months", 0)) if previous else 0
    if age > age_before:
        raised.append(_raise(
            session, record.customer_id, record.department_id, "arrears_grew",
            f"class:{record.id}", {"from_months": age_before, "to_months": age,
                                   "unpaid": record.facts.get("unpaid")},
        ))  # fmt: skip
    return [a for a in raised if a is not None]


def worklist(
    *, actor: Actor, kind: str | None, include_acknowledged: bool
) -> Select[tuple[RiskAlert]]:
    """Alerts of customers in scope, newest first; open ones unless `include_acknowledged`."""
    authorize(actor, Action.RISK_READ)
    in_scope = select(Customer.id).where(customer_scope(actor))
    query = select(RiskAlert).where(RiskAlert.customer_id.in_(in_scope))
    if kind is not None:
        query = query.where(RiskAlert.kind == kind)
    if not include_acknowledged:
        query = query.where(RiskAlert.acknowledged_at.is_(None))
    return query.order_by(RiskAlert.raised_at.desc(), RiskAlert.id.desc())


def worklist_rows(
    *, session: Session, actor: Actor, alerts: Sequence[RiskAlert]
) -> list[dict[str, Any]]:
    """The alerts with their customers' account numbers and names (one query for the page).

    The two fields pass the archive's field-level permissions (`redact`), so a row names the
    customer exactly as the caller's own view of the file does.
    """
    ids = {a.customer_id for a in alerts}
    customers = session.execute(
        select(Customer.id, Customer.account_number, Customer.name).where(Customer.id.in_(ids))
    )
    shown = {
        i: redact(actor, {"account_number": account, "name": name})
        for i, account, name in customers
    }
    columns = RiskAlert.__table__.columns.keys()
    return [
        {c: getattr(a, c) for c in columns}
        | {
            "account_number": shown[a.customer_id].get("account_number"),
            "customer_name": shown[a.customer_id].get("name"),
        }
        for a in alerts
    ]


def acknowledge(*, session: Session, actor: Actor, alert_id: int) -> RiskAlert:
    """Mark an alert handled (who and when stay on it)."""
    alert = session.get(RiskAlert, alert_id)
    if alert is None:
        raise NotFound(f"Risk alert {alert_id} does not exist.")
    load_in_scope(session, actor, Customer, alert.customer_id, action=Action.RISK_ASSESS)
    if alert.acknowledged_at is not None:
        raise Conflict(f"Acknowledged already by {alert.acknowledged_by}.")
    alert.acknowledged_at, alert.acknowledged_by = utcnow(), actor.audit_name
    session.flush()
    return alert
