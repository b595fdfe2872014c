"""Payment behaviour AAA / AA / A / B / C (seed 000's six criteria) and risk classes CA1-CA5.

Each month of the window is judged from the billing table:
- *on time*: paid in full within the billed month (月结月清);
- *next month*: paid in full, but only during the following month (次月结清);
- *late*: paid in full even later, or still not paid in full (陈欠).

The six criteria, checked worst first:
6. arrears keep growing: the unpaid total rose in each of the last `growth_months` months → C;
5. a month settled later than the next month, arrears left, or litigation needed → B;
4. settled next month in `frequent` or more months (经常) → A;
3. settled next month now and then (fewer than `frequent` months) → AA;
2. every month on time, nothing owed → AAA;
1. as 2, and the customer prepays → AAA (the seed grades 1 and 2 alike).

The risk class is the worse of the behaviour's and the credit grade's class (`BEHAVIOUR_CLASS`,
`GRADE_CLASS`); each class's policy is data (`POLICIES`) and is enforced by `check_credit`
(may the customer carry this much more on credit?) and `check_limit_change`.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

BEHAVIOURS = ("AAA", "AA", "A", "B", "C")
CLASSES = ("CA1", "CA2", "CA3", "CA4", "CA5")
BEHAVIOUR_CLASS: Mapping[str, str] = {"AAA": "CA1", "AA": "CA2", "A": "CA3", "B": "CA4", "C": "CA5"}
GRADE_CLASS: Mapping[str, str] = {"A": "CA1", "B": "CA1", "C": "CA2", "D": "CA3", "E": "CA4"}

# What each class may do (seed 000, table 1). `beyond_limit`: whether credit beyond the
# limit is allowed ("yes"), allowed under monitoring ("monitored") or refused ("no").
POLICIES: Mapping[str, Mapping[str, Any]] = {
    "CA1": {"beyond_limit": "yes", "monitoring": False, "prepay_only": False,
            "guarantee": False, "raise_limit": True,
            "summary": "strong and reliable: trade freely"},
    "CA2": {"beyond_limit": "yes", "monitoring": False, "prepay_only": False,
            "guarantee": False, "raise_limit": True,
            "summary": "strong and reliable: trade freely"},
    "CA3": {"beyond_limit": "monitored", "monitoring": True, "prepay_only": False,
            "guarantee": False, "raise_limit": True,
            "summary": "valuable, no serious weakness: may exceed the limit under monitoring"},
    "CA4": {"beyond_limit": "no", "monitoring": True, "prepay_only": False,
            "guarantee": True, "raise_limit": True,
            "summary": "strictly within the credit limit; seek a guarantee"},
    "CA5": {"beyond_limit": "no", "monitoring": True, "prepay_only": True,
            "guarantee": True, "raise_limit": False,
            "summary": "prepay only (先买电后用电), long-term monitoring"},
}  # fmt: skip


@dataclass(frozen=True)
class Month:
    """One billed month as the billing table says."""

    period: date
    billed: Decimal
    paid: Decimal
    paid_on: date | None = None
    prepaid: Decimal = Decimal(0)
    litigation: bool = False


@dataclass(frozen=True)
class Rules:
    """How many next-month settlements are 'frequent'; how long arrears must grow for C."""

    frequent: int = 3
    growth_months: int = 3


def _month_end(day: date, later: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + later
    year, month = index // 12, index % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def judge_month(month: Month) -> str:
    """`on_time`, `next_month` or `late` (see the module docstring)."""
    if month.paid >= month.billed:
        if month.billed <= 0:
            return "on_time"
        if month.paid_on is not None and month.paid_on <= _month_end(month.period):
            return "on_time"
        if month.paid_on is not None and month.paid_on <= _month_end(month.period, 1):
            return "next_month"
    return "late"


@dataclass
class Behaviour:
    """The verdict: grade, the criterion (1-6) it met, and the facts it rests on."""

    grade: str
    criterion: int
    facts: dict[str, Any] = field(default_factory=dict)


def _growing(months: Sequence[Month], span: int) -> bool:
    unpaid = Decimal(0)
    totals = []
    for month in months:
        unpaid += max(month.billed - month.paid, Decimal(0))
        totals.append(unpaid)
    if len(totals) < span + 1:
        return False
    tail = totals[-(span + 1) :]
    return all(b > a for a, b in zip(tail, tail[1:], strict=False))


def _arrears_age(months: Sequence[Month]) -> int:
    """How many of the latest months, back to back, still have something unpaid."""
    age = 0
    for month in reversed(months):
        if month.paid >= month.billed:
            break
        age += 1
    return age


def judge(months: Sequence[Month], rules: Rules = Rules()) -> Behaviour:
    """Grade a customer's payment behaviour over the window (months oldest first)."""
    months = sorted(months, key=lambda m: m.period)
    verdicts = [judge_month(m) for m in months]
    unpaid = sum((max(m.billed - m.paid, Decimal(0)) for m in months), Decimal(0))
    facts: dict[str, Any] = {
        "months": len(months),
        "on_time": verdicts.count("on_time"),
        "next_month": verdicts.count("next_month"),
        "late": verdicts.count("late"),
        "unpaid": str(unpaid),
        "prepaid_months": sum(1 for m in months if m.prepaid > 0),
        "litigation_months": sum(1 for m in months if m.litigation),
        "arrears_growing": _growing(months, rules.growth_months),
        "arrears_months": _arrears_age(months),
    }
    if facts["arrears_growing"]:
        return Behaviour("C", 6, facts)
    if facts["late"] or unpaid > 0 or facts["litigation_months"]:
        return Behaviour("B", 5, facts)
    if facts["next_month"] >= rules.frequent:
        return Behaviour("A", 4, facts)
    if facts["next_month"]:
        return Behaviour("AA", 3, facts)
    return Behaviour("AAA", 1 if facts["prepaid_months"] else 2, facts)


def risk_class(behaviour: str | None, grade: str | None) -> str:
    """The worse of the two classes (a customer without data counts as CA3: monitored)."""
    candidates = [BEHAVIOUR_CLASS[behaviour]] if behaviour else []
    if grade:
        candidates.append(GRADE_CLASS[grade])
    return max(candidates, key=CLASSES.index) if candidates else "CA3"


@dataclass(frozen=True)
class CreditDecision:
    """Whether a customer may carry `amount` more on credit, and why."""

    allowed: bool
    monitored: bool
    reason: str


def check_credit(
    risk: str, *, limit: Decimal, outstanding: Decimal, amount: Decimal
) -> CreditDecision:
    """May a customer of class `risk` carry `amount` more on credit (a deferral, say)?

    CA5 prepays: no credit at all. CA4: strictly within the limit (outstanding + amount <=
    limit). CA3 may go beyond the limit under monitoring; CA1/CA2 may go beyond.
    """
    policy = POLICIES[risk]
    after = outstanding + amount
    if policy["prepay_only"]:
        return CreditDecision(False, True, f"{risk}: prepay only; no electricity on credit.")
    if after <= limit:
        return CreditDecision(True, bool(policy["monitoring"]), f"{risk}: within the limit.")
    if policy["beyond_limit"] == "no":
        return CreditDecision(
            False, True,
            f"{risk}: strictly within the credit limit; {after} would exceed {limit}.",
        )  # fmt: skip
    if policy["beyond_limit"] == "monitored":
        return CreditDecision(True, True, f"{risk}: beyond the limit, under monitoring.")
    return CreditDecision(True, False, f"{risk}: beyond the limit, allowed.")


def check_limit_change(risk: str, *, current: Decimal, new: Decimal) -> str | None:
    """Why a credit-limit change is refused (None: allowed). Lowering is always allowed."""
    if new > current and not POLICIES[risk]["raise_limit"]:
        return f"{risk}: prepay only; its credit limit may not be raised ({current} → {new})."
    return None
