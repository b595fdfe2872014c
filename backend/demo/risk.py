"""Demo risk data: the shipped credit models, a few assessments, every demo customer rated."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import Customer
from backend.db import utcnow
from backend.risk import credit_model, credit_service
from backend.risk.models import CreditAssessment


def _findings(account: str, indicators: list[dict[str, object]]) -> dict[str, str]:
    """Deterministic findings for a demo customer: most are clean, some have a blemish or two."""
    digest = hashlib.sha256(account.encode()).digest()
    picks = {}
    for i, leaf in enumerate(credit_model.leaves(indicators)):  # type: ignore[arg-type]
        criteria = leaf["criteria"]
        roll = digest[i % len(digest)]
        if roll < 200:  # ~78 %: the default (clean) criterion
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
    return credit_service.rerate_due(
        session, now=utcnow(), every=timedelta(days=36500), by="seed", trigger="seed",
        large_kw=large_kw,
    )  # fmt: skip
