"""Payment behaviour and risk class per customer; credit limits and credit checks (CA policies).

The evaluation reads the billing table over a window and the current credit grade, and
appends a `RiskClassRecord` when the behaviour, the grade or the class changed (the history
of changes is what the early warning reads). Credit limits are appended; the newest applies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.policy import Action, load_in_scope
from backend.db import utcnow
from backend.errors import Conflict
from backend.risk import payment, warnings
from backend.risk.abc import add_months
from backend.risk.billing import effective_ids
from backend.risk.credit_service import latest_rating
from backend.risk.models import BillingRecord, CreditLimit, RiskClassRecord


class PolicyRefused(Conflict):
    """The customer's risk class policy forbids this."""

    slug, title = "risk-policy", "Refused by the customer's risk class policy"


@dataclass(frozen=True)
class Window:
    """The months judged: `months` months ending with `as_of`; the thresholds of the criteria."""

    as_of: date
    months: int = 12
    rules: payment.Rules = payment.Rules()

    @property
    def first(self) -> date:
        """The first month of the window."""
        return add_months(self.as_of, -(self.months - 1))


def months_of(
    session: Session, customer_id: uuid.UUID, first: date, last: date
) -> list[payment.Month]:
    """The customer's billed months in [first, last] (the newest import of each)."""
    rows = session.scalars(
        select(BillingRecord)
        .where(
            BillingRecord.id.in_(effective_ids()),
            BillingRecord.customer_id == customer_id,
            BillingRecord.period >= first,
            BillingRecord.period <= last,
        )
        .order_by(BillingRecord.period)
    )
    return [
        payment.Month(r.period, r.billed, r.paid, r.paid_on, r.prepaid, r.litigation) for r in rows
    ]


def outstanding(session: Session, customer_id: uuid.UUID) -> Decimal:
    """What the customer still owes: the unpaid part of every billed month."""
    unpaid = session.scalar(
        select(func.sum(BillingRecord.billed - BillingRecord.paid)).where(
            BillingRecord.id.in_(effective_ids()),
            BillingRecord.customer_id == customer_id,
            BillingRecord.billed > BillingRecord.paid,
        )
    )
    return Decimal(str(unpaid or 0)).quantize(Decimal("0.01"))


def latest_class(session: Session, customer_id: uuid.UUID) -> RiskClassRecord | None:
    """The customer's newest risk class record."""
    return session.scalar(
        select(RiskClassRecord)
        .where(RiskClassRecord.customer_id == customer_id)
        .order_by(RiskClassRecord.evaluated_at.desc(), RiskClassRecord.id.desc())
    )


def current_limit(session: Session, customer_id: uuid.UUID) -> CreditLimit | None:
    """The credit limit that applies (the newest)."""
    return session.scalar(
        select(CreditLimit)
        .where(CreditLimit.customer_id == customer_id)
        .order_by(CreditLimit.set_at.desc(), CreditLimit.id.desc())
    )


def evaluate(
    session: Session, customer: Customer, *, window: Window, by: str, force: bool = False,
    persist: bool = True,
) -> RiskClassRecord:  # fmt: skip
    """Judge the customer's behaviour and class; append a record if anything changed.

    With `persist=False` (reads: a GET, a credit check) the record is computed, not stored.
    """
    months = months_of(session, customer.id, window.first, window.as_of)
    verdict = payment.judge(months, window.rules) if months else None
    rating = latest_rating(session, customer.id)
    grade = rating.grade if rating else None
    behaviour = verdict.grade if verdict else None
    risk = payment.risk_class(behaviour, grade)
    latest = latest_class(session, customer.id)
    if (
        not force
        and latest is not None
        and (latest.behaviour, latest.credit_grade, latest.risk_class) == (behaviour, grade, risk)
        and latest.facts == (verdict.facts if verdict else {})
    ):
        return latest
    record = RiskClassRecord(
        customer_id=customer.id,
        department_id=customer.department_id,
        behaviour=behaviour,
        criterion=verdict.criterion if verdict else None,
        facts=verdict.facts if verdict else {},
        credit_grade=grade,
        risk_class=risk,
        window_from=window.first,
        window_to=window.as_of,
        evaluated_by=by,
        evaluated_at=utcnow(),
    )
    if not persist:
        return record
    session.add(record)
    session.flush()
    warnings.after_evaluation(session, record)  # a worse pattern or older arrears: alert
    return record


def evaluate_customer(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, window: Window
) -> RiskClassRecord:
    """Evaluate one customer in scope now (`risk.assess`)."""
    customer = load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_ASSESS)
    return evaluate(session, customer, window=window, by=actor.audit_name)


def evaluate_many(
    session: Session, customer_ids: list[uuid.UUID], *, window: Window, by: str
) -> int:
    """Evaluate several customers (after a billing import); returns how many."""
    for customer_id in customer_ids:
        customer = session.get(Customer, customer_id)
        if customer is not None:
            evaluate(session, customer, window=window, by=by)
    return len(customer_ids)


def class_of(session: Session, customer: Customer, window: Window, by: str) -> str:
    """The customer's current risk class (evaluated now if it never was)."""
    latest = latest_class(session, customer.id)
    return (latest or evaluate(session, customer, window=window, by=by, persist=False)).risk_class


def set_limit(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, amount: Decimal, reason: str,
    window: Window,
) -> CreditLimit:  # fmt: skip
    """Set a new credit limit; a CA5 (prepay-only) customer's limit may not be raised (409)."""
    customer = load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_LIMIT_SET)
    risk = class_of(session, customer, window, actor.audit_name)
    limit = current_limit(session, customer.id)
    current = limit.amount if limit else Decimal(0)
    refused = payment.check_limit_change(risk, current=current, new=amount)
    if refused:
        raise PolicyRefused(refused, risk_class=risk, policy=dict(payment.POLICIES[risk]))
    record = CreditLimit(
        customer_id=customer.id, amount=amount, reason=reason, risk_class=risk,
        set_by=actor.audit_name, set_at=utcnow(),
    )  # fmt: skip
    session.add(record)
    session.flush()
    return record


def credit_check(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, amount: Decimal, window: Window,
    action: Action = Action.RISK_READ,
) -> dict[str, Any]:  # fmt: skip
    """Whether the customer may carry `amount` more on credit, by its class's policy."""
    customer = load_in_scope(session, actor, Customer, customer_id, action=action)
    risk = class_of(session, customer, window, actor.audit_name)
    limit = current_limit(session, customer.id)
    owed = outstanding(session, customer.id)
    decision = payment.check_credit(
        risk, limit=limit.amount if limit else Decimal(0), outstanding=owed, amount=amount
    )
    return {
        "allowed": decision.allowed,
        "monitored": decision.monitored,
        "reason": decision.reason,
        "risk_class": risk,
        "credit_limit": float(limit.amount) if limit else 0.0,
        "outstanding": float(owed),
        "amount": float(amount),
    }
