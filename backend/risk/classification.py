"""Classification 重要 / 特殊 / 一般 with its two-monthly review, and tiers with an owner.

The classification, tier, owner and review date are fields of the customer file: a review
appends an archive version (reason, who, when), so the history is the archive's own. A
customer is due for review `RISK_REVIEW_DAYS` (61, about two months) after its last review
(never reviewed: due now). Tiers: ordinary / key / VIP; key and VIP customers need an owner
(a key-account manager); a customer billed at least `RISK_KEY_REVENUE` (200,000) over the
last 12 months is suggested as key. Tags overlap: classification, tier, ABC class and risk
class are independent.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend.archive import versions
from backend.archive.access import customer_scope
from backend.archive.records import Customer
from backend.archive.vocab import Source
from backend.auth.actor import Actor
from backend.auth.models import User
from backend.auth.policy import Action, authorize, load_in_scope
from backend.auth.roles import Role
from backend.errors import field_error
from backend.org.models import Department
from backend.risk.abc import add_months
from backend.risk.billing import effective_ids
from backend.risk.models import BillingRecord

CLASSIFICATIONS = ("important", "special", "ordinary")
TIERS = ("ordinary", "key", "vip")
OWNED_TIERS = frozenset({"key", "vip"})


def classify(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, classification: str, tier: str,
    account_owner: str | None, reason: str, today: date, base_version: int | None = None,
) -> Customer:  # fmt: skip
    """Record a review's outcome as a new version of the customer file."""
    customer = load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_CLASSIFY)
    if tier in OWNED_TIERS and not account_owner:
        raise field_error("account_owner", f"A {tier} customer needs an owner (its manager).")
    if account_owner is not None:
        owner = session.scalar(select(User).where(User.username == account_owner))
        if (
            owner is None
            or not owner.active
            or owner.role not in (Role.KEY_ACCOUNT, Role.SUPERVISOR)
        ):
            raise field_error(
                "account_owner", "The owner is an active key-account manager or supervisor."
            )
    changes = {
        "classification": classification,
        "tier": tier,
        "account_owner": account_owner,
        "classified_on": today,
    }
    versions.append(
        session, customer, changes, actor=actor.audit_name, reason=reason, source=Source.UI,
        base_version=base_version,
    )  # fmt: skip
    return customer


def yearly_revenue(
    session: Session, customer_ids: list[uuid.UUID], today: date
) -> dict[Any, Decimal]:
    """Billed revenue of the last 12 complete months per customer."""
    last = add_months(today, -1)
    first = add_months(last, -11)
    rows = session.execute(
        select(BillingRecord.customer_id, func.sum(BillingRecord.billed))
        .where(
            BillingRecord.id.in_(effective_ids()),
            BillingRecord.customer_id.in_(customer_ids),
            BillingRecord.period >= first,
            BillingRecord.period <= last,
        )
        .group_by(BillingRecord.customer_id)
    ).all()
    return {c: Decimal(str(v or 0)) for c, v in rows}


def due_query(
    actor: Actor, *, today: date, review_days: int, within_days: int,
    department_id: int | None = None,
) -> Select[tuple[Customer]]:  # fmt: skip
    """Active customers in scope whose review falls due within `within_days` (or is overdue)."""
    authorize(actor, Action.RISK_READ)
    horizon = today + timedelta(days=within_days) - timedelta(days=review_days)
    query = select(Customer).where(
        Customer.status == "active",
        customer_scope(actor),
        Customer.classified_on.is_(None) | (Customer.classified_on <= horizon),
    )
    if department_id is not None:
        query = query.where(Customer.department_id == department_id)
    return query.order_by(
        Customer.department_id, Customer.classified_on.is_not(None), Customer.classified_on,
        Customer.account_number,
    )  # fmt: skip


def review_rows(
    session: Session, customers: list[Customer], *, today: date, review_days: int,
    key_revenue: Decimal,
) -> list[dict[str, Any]]:  # fmt: skip
    """The due list's rows: next review date, status, suggested tier from the revenue."""
    revenue = yearly_revenue(session, [c.id for c in customers], today)
    names = {i: n for i, n in session.execute(select(Department.id, Department.name))}
    rows = []
    for c in customers:
        due = c.classified_on + timedelta(days=review_days) if c.classified_on else today
        yearly = revenue.get(c.id, Decimal(0))
        rows.append({
            "customer_id": c.id, "account_number": c.account_number, "name": c.name,
            "department_id": c.department_id, "department": names.get(c.department_id),
            "classification": c.classification, "tier": c.tier,
            "account_owner": c.account_owner, "classified_on": c.classified_on,
            "review_due_on": due, "status": "overdue" if due < today else "due",
            "yearly_revenue": float(yearly),
            "suggested_tier": "key" if yearly >= key_revenue and c.tier == "ordinary" else c.tier,
        })  # fmt: skip
    return rows
