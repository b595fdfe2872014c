"""Demo risk data: the shipped credit models, assessments, a year of billing, everyone rated."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import Customer
from backend.auth.actor import actor_for_user
from backend.auth.models import User
from backend.db import utcnow
from backend.risk import credit_model, credit_service, ladder
from backend.risk.abc import add_months
from backend.risk.models import BillingRecord, CreditAssessment
from backend.risk.payment_service import Window, evaluate_many


def _findings(account: str, indicators: list[dict[str, object]]) -> dict[str, str]:
    """Deterministic findings for a demo customer: most are clean, some have a blemish or two."""
    digest = hashlib.sha256(account.encode()).digest()
    picks = {}
    for i, leaf in enumerate(credit_model.leaves(indicators)):  # type: ignore[arg-type]
        criteria = leaf["criteria"]
        roll = digest[i % len(digest)]
        if roll < 236:  # ~92 %: the default (clean) criterion
            continue
        picks[leaf["code"]] = criteria[1 + roll % (len(criteria) - 1)]["code"]
    return picks


def seed_risk(session: Session, *, large_kw: float = credit_model.LARGE_KW) -> int:
    """Install the models, assess the demo customers once and rate everyone unrated."""
    credit_service.install_defaults(session, by="seed")
    assessed = set(session.scalars(select(CreditAssessment.customer_id)))
    customers = session.scalars(
        select(Customer).where(Customer.status == "active").order_by(Customer.account_number)
    ).all()
    for customer in customers:
        if customer.id in assessed:
            continue
        size = credit_service.size_of(customer, large_kw=large_kw)
        model = credit_service.current_model(session, size)
        session.add(
            CreditAssessment(
                customer_id=customer.id,
                picks=_findings(customer.account_number, model.indicators),
                notes="demo assessment",
                assessed_by="seed",
                assessed_at=utcnow(),
            )
        )
    session.flush()
    # A long period: only customers never rated (or rated by an older model) are rated.
    rated = credit_service.rerate_due(
        session, now=utcnow(), every=timedelta(days=36500), by="seed", trigger="seed",
        large_kw=large_kw,
    )  # fmt: skip
    _billing(session, list(customers))
    return rated


# Payment habits of the demo customers, by share: on time, now and then next month,
# often next month, late once, arrears growing (the last three months unpaid).
HABITS = ((0.70, "on_time"), (0.85, "sometimes"), (0.93, "often"), (0.98, "late"), (1.0, "growing"))


def _habit(account: str) -> str:
    roll = int(hashlib.sha256(f"habit:{account}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return next(name for share, name in HABITS if roll <= share)


def _billing(session: Session, customers: list[Customer]) -> None:
    """Twelve months of billing per customer (once: skipped when any billing exists)."""
    if session.scalar(select(BillingRecord.id).limit(1)) is not None:
        return
    last = add_months(utcnow().date(), -1)
    for customer in customers:
        habit = _habit(customer.account_number)
        # About 300 hours a month at full contracted load, at 0.6 yuan/kWh, give or take.
        base = Decimal(str(customer.contract_capacity_kw)) * Decimal("180")
        for back in range(11, -1, -1):
            period = add_months(last, -back)
            wobble = (
                Decimal(
                    90
                    + int(hashlib.sha256(f"{customer.id}{back}".encode()).hexdigest()[:2], 16) % 21
                )
                / 100
            )
            billed = (base * wobble).quantize(Decimal("0.01"))
            paid, paid_on = billed, period + timedelta(days=14)
            if habit == "sometimes" and back in (7, 2) or habit == "often" and back % 3 == 0:
                paid_on = add_months(period, 1) + timedelta(days=9)
            elif habit == "late" and back == 5:
                paid_on = add_months(period, 2) + timedelta(days=3)
            elif habit == "growing" and back < 3:
                paid, paid_on = Decimal(0), None
            session.add(BillingRecord(
                customer_id=customer.id, department_id=customer.department_id, period=period,
                billed=billed, paid=paid, paid_on=paid_on,
                prepaid=Decimal("500.00") if habit == "on_time" and back == 0 else Decimal(0),
                litigation=False, recorded_by="seed", recorded_at=utcnow(),
            ))  # fmt: skip
    session.flush()
    window = Window(as_of=last)
    evaluate_many(session, [c.id for c in customers], window=window, by="seed")
    _collection_cases(session, customers, window)


def _collection_cases(session: Session, customers: list[Customer], window: Window) -> None:
    """Customers whose arrears keep growing get a collection case; one has its deferral done."""
    collector = session.scalars(select(User).where(User.username == "collector")).one()
    actor = actor_for_user(session, collector)
    growing = [c for c in customers if _habit(c.account_number) == "growing"]
    for index, customer in enumerate(growing):
        case = ladder.open_case(
            session=session, actor=actor, customer_id=customer.id, window=window
        )
        if index == 0:
            ladder.record(
                session, case, step="deferral", outcome="refused", by=actor.audit_name,
                details={}, notes="demo: asked for time, arrears keep growing",
            )  # fmt: skip
