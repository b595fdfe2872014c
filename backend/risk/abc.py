"""ABC classes by lifetime value: each customer's share of the revenue over a window.

A: a customer whose revenue is at least `a_share` (2 %) of the total; C: below `c_share`
(0.5 %); B: the rest. Seed 000 expects class A to hold 60-80 % of the revenue; the report
shows each class's share of customers and of revenue so that can be checked. Shares are
compared exactly (revenue >= share x total, in decimals), so the 2 % and 0.5 % boundaries
hold to the cent.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope
from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.errors import Unprocessable
from backend.risk.billing import effective_ids
from backend.risk.models import BillingRecord

CLASSES = ("A", "B", "C")
K = TypeVar("K")


@dataclass(frozen=True)
class Thresholds:
    """Class A from `a_share`, class C below `c_share` (fractions of the total revenue)."""

    a_share: Decimal = Decimal("0.02")
    c_share: Decimal = Decimal("0.005")

    def __post_init__(self) -> None:
        if not 0 < self.c_share < self.a_share <= 1:
            raise Unprocessable(
                "The thresholds need 0 < c_share < a_share <= 1.",
                errors=[{"field": "a_share", "in": "query",
                         "messages": ["0 < c_share < a_share <= 1"]}],
            )  # fmt: skip


def classify(
    revenues: Mapping[K, Decimal], thresholds: Thresholds, total: Decimal | None = None
) -> dict[K, str]:
    """The class of every customer (every key gets exactly one).

    Each is a share of `total` (default: the sum of `revenues`).
    """
    if total is None:
        total = sum(revenues.values(), Decimal(0))
    result = {}
    for key, revenue in revenues.items():
        if total > 0 and revenue >= thresholds.a_share * total:
            result[key] = "A"
        elif total <= 0 or revenue < thresholds.c_share * total:
            result[key] = "C"
        else:
            result[key] = "B"
    return result


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after (or before) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def revenues(
    session: Session, actor: Actor, *, first: date, last: date
) -> dict[uuid.UUID, tuple[Customer, Decimal]]:
    """Every active customer in scope with the billed revenue of months [first, last]."""
    sums = (
        select(BillingRecord.customer_id, func.sum(BillingRecord.billed).label("revenue"))
        .where(
            BillingRecord.id.in_(effective_ids()),
            BillingRecord.period >= first,
            BillingRecord.period <= last,
        )
        .group_by(BillingRecord.customer_id)
        .subquery()
    )
    rows = session.execute(
        select(Customer, sums.c.revenue)
        .outerjoin(sums, sums.c.customer_id == Customer.id)
        .where(Customer.status == "active", customer_scope(actor, session))
        .order_by(Customer.account_number)
    ).all()
    return {c.id: (c, Decimal(str(r or 0)).quantize(Decimal("0.01"))) for c, r in rows}


def enterprise_revenue(session: Session, *, first: date, last: date) -> Decimal:
    """The billed revenue of every active customer over months [first, last] (one sum)."""
    total = session.scalar(
        select(func.coalesce(func.sum(BillingRecord.billed), 0))
        .join(Customer, Customer.id == BillingRecord.customer_id)
        .where(
            BillingRecord.id.in_(effective_ids()),
            BillingRecord.period >= first,
            BillingRecord.period <= last,
            Customer.status == "active",
        )
    )
    return Decimal(str(total or 0)).quantize(Decimal("0.01"))


def _pct(part: Decimal | int, whole: Decimal | int) -> float:
    return round(float(Decimal(part) / Decimal(whole) * 100), 2) if whole else 0.0


def report(
    *, session: Session, actor: Actor, as_of: date, window_months: int, thresholds: Thresholds
) -> dict[str, Any]:
    """The ABC report: a summary per class (shares of customers and revenue) and each customer."""
    authorize(actor, Action.RISK_READ)
    first = add_months(as_of, -(window_months - 1))
    data = revenues(session, actor, first=first, last=as_of)
    # A class is a share of the enterprise's revenue (seed 001: 企业总营业额), whoever asks:
    # a station's user and an admin see a customer in the same class.
    enterprise = enterprise_revenue(session, first=first, last=as_of)
    classes = classify({k: v for k, (_, v) in data.items()}, thresholds, enterprise)
    total = sum((v for _, v in data.values()), Decimal(0))
    summary = []
    for name in CLASSES:
        members = [k for k, c in classes.items() if c == name]
        revenue = sum((data[k][1] for k in members), Decimal(0))
        summary.append({
            "class": name, "customers": len(members),
            "customer_share_pct": _pct(len(members), len(data)),
            "revenue": float(revenue), "revenue_share_pct": _pct(revenue, total),
        })  # fmt: skip
    customers = sorted(
        (
            {
                "account_number": customer.account_number,
                "name": customer.name,
                "customer_id": str(customer.id),
                "department_id": customer.department_id,
                "revenue": float(revenue),
                "revenue_share_pct": _pct(revenue, enterprise),  # what the class compares
                "class": classes[key],
            }  # fmt: skip
            for key, (customer, revenue) in data.items()
        ),
        key=lambda row: (-row["revenue"], row["account_number"]),
    )
    window = {
        "from": f"{first:%Y-%m}", "to": f"{as_of:%Y-%m}", "months": window_months,
        "a_share": str(thresholds.a_share), "c_share": str(thresholds.c_share),
        "total_revenue": float(total),
    }  # fmt: skip
    return {"window": [window], "summary": summary, "customers": customers}
