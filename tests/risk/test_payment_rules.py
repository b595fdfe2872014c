"""Payment behaviour (the seed's six criteria) and the CA1-CA5 policies, one test per rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from backend.risk.payment import (
    Month,
    check_credit,
    check_limit_change,
    judge,
    judge_month,
    risk_class,
)

D = Decimal


def m(month: int, billed: str = "100", paid: str | None = None, paid_on: date | None = None,
      prepaid: str = "0", litigation: bool = False) -> Month:  # fmt: skip
    """A 2026 month; by default paid in full on the 20th of the month."""
    on = paid_on if paid_on is not None or paid is not None else date(2026, month, 20)
    return Month(date(2026, month, 1), D(billed), D(paid if paid is not None else billed), on,
                 D(prepaid), litigation)  # fmt: skip


def late_by_next_month(month: int) -> Month:
    return m(month, paid="100", paid_on=date(2026, month + 1, 10))


CRITERIA = [
    ("criterion_1_paid_monthly_and_prepays_is_AAA", [m(1, prepaid="50"), m(2), m(3)], "AAA", 1),
    ("criterion_2_paid_monthly_no_arrears_is_AAA", [m(1), m(2), m(3)], "AAA", 2),
    ("criterion_3_settled_next_month_now_and_then_is_AA",
     [m(1), late_by_next_month(2), m(3), late_by_next_month(4)], "AA", 3),
    ("criterion_4_settled_next_month_frequently_is_A",
     [late_by_next_month(1), late_by_next_month(2), m(3), late_by_next_month(4)], "A", 4),
    ("criterion_5_not_settled_by_next_month_is_B",
     [m(1), m(2, paid="100", paid_on=date(2026, 4, 1)), m(3)], "B", 5),
    ("criterion_5_litigation_needed_is_B", [m(1), m(2, litigation=True), m(3)], "B", 5),
    ("criterion_5_arrears_left_but_not_growing_is_B",
     [m(1, paid="40", paid_on=date(2026, 1, 20)), m(2), m(3), m(4)], "B", 5),
    ("criterion_6_arrears_keep_growing_is_C",
     [m(1), m(2, paid="0"), m(3, paid="0"), m(4, paid="50", paid_on=date(2026, 4, 20))], "C", 6),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "months", "grade", "criterion"), CRITERIA,
                         ids=[c[0] for c in CRITERIA])  # fmt: skip
def test_payment_criteria(rule, months, grade, criterion) -> None:
    verdict = judge(months)
    assert (verdict.grade, verdict.criterion) == (grade, criterion), (rule, verdict.facts)


def test_on_time_means_within_the_billed_month() -> None:
    assert judge_month(m(1, paid="100", paid_on=date(2026, 1, 31))) == "on_time"
    assert judge_month(m(1, paid="100", paid_on=date(2026, 2, 1))) == "next_month"
    assert judge_month(m(1, paid="100", paid_on=date(2026, 2, 28))) == "next_month"
    assert judge_month(m(1, paid="100", paid_on=date(2026, 3, 1))) == "late"
    assert judge_month(m(12, paid="100", paid_on=date(2027, 1, 31))) == "next_month"
    assert judge_month(m(1, paid="99.99", paid_on=date(2026, 1, 5))) == "late"


def test_frequent_is_three_months_by_default() -> None:
    two = [late_by_next_month(1), late_by_next_month(2), m(3)]
    assert judge(two).grade == "AA"
    assert judge([*two, late_by_next_month(4)]).grade == "A"


def test_the_risk_class_is_the_worse_of_behaviour_and_grade() -> None:
    assert risk_class("AAA", "A") == "CA1"
    assert risk_class("AAA", "E") == "CA4"
    assert risk_class("C", "A") == "CA5"
    assert risk_class(None, None) == "CA3"


LIMIT = D("1000")
POLICY_RULES = [
    ("CA4_strictly_within_the_limit_at_the_limit", "CA4", "900", "100", True),
    ("CA4_strictly_within_the_limit_one_cent_over", "CA4", "900", "100.01", False),
    ("CA3_may_exceed_the_limit_under_monitoring", "CA3", "900", "500", True),
    ("CA1_may_exceed_the_limit", "CA1", "900", "500", True),
    ("CA5_prepay_only_no_credit_at_all", "CA5", "0", "0.01", False),
]


@pytest.mark.parametrize(("rule", "risk", "outstanding", "amount", "allowed"), POLICY_RULES,
                         ids=[r[0] for r in POLICY_RULES])  # fmt: skip
def test_credit_policies(rule, risk, outstanding, amount, allowed) -> None:
    decision = check_credit(risk, limit=LIMIT, outstanding=D(outstanding), amount=D(amount))
    assert decision.allowed is allowed, (rule, decision.reason)
    if risk == "CA3" and allowed:
        assert decision.monitored


def test_CA5_credit_limit_may_not_be_raised_but_may_be_lowered() -> None:
    assert check_limit_change("CA5", current=D(0), new=D("0.01")) is not None
    assert check_limit_change("CA5", current=D(500), new=D(0)) is None
    assert check_limit_change("CA4", current=D(0), new=D(500)) is None
