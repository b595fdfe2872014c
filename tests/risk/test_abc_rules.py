"""ABC classes by lifetime value: the 2 % and 0.5 % boundaries, and a partition property."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.errors import Unprocessable
from backend.risk.abc import CLASSES, Thresholds, add_months, classify
from backend.risk.billing import parse_period

T = Thresholds()

# One customer with `x` of a total of 10,000 (the rest with a filler customer).
RULES = [
    ("A_at_exactly_2_percent", "200.00", "A"),
    ("B_just_below_2_percent", "199.99", "B"),
    ("B_at_exactly_half_a_percent", "50.00", "B"),
    ("C_just_below_half_a_percent", "49.99", "C"),
    ("C_without_revenue", "0", "C"),
]


@pytest.mark.parametrize(("rule", "revenue", "expected"), RULES, ids=[r[0] for r in RULES])
def test_abc_boundaries(rule: str, revenue: str, expected: str) -> None:
    x = Decimal(revenue)
    classes = classify({"x": x, "rest": Decimal(10000) - x}, T)
    assert classes["x"] == expected, rule


def test_thresholds_are_configurable() -> None:
    revenues = {"x": Decimal(100), "rest": Decimal(9900)}  # 1 %
    assert classify(revenues, T)["x"] == "B"
    assert classify(revenues, Thresholds(Decimal("0.01"), Decimal("0.001")))["x"] == "A"
    assert classify(revenues, Thresholds(Decimal("0.05"), Decimal("0.02")))["x"] == "C"


@pytest.mark.parametrize(("a", "c"), [("0.005", "0.02"), ("0.02", "0"), ("1.5", "0.1")])
def test_inconsistent_thresholds_are_refused(a: str, c: str) -> None:
    with pytest.raises(Unprocessable):
        Thresholds(Decimal(a), Decimal(c))


def test_no_revenue_at_all_puts_everyone_in_C() -> None:
    assert set(classify({"a": Decimal(0), "b": Decimal(0)}, T).values()) == {"C"}


@pytest.mark.parametrize(
    ("text", "month"),
    [("2026-03", "2026-03-01"), ("202603", "2026-03-01"), ("2026年3月", "2026-03-01"),
     ("2026/3", "2026-03-01"), ("2026-03-17", "2026-03-01")],
)  # fmt: skip
def test_billing_months_in_common_spellings(text: str, month: str) -> None:
    assert parse_period(text).isoformat() == month


def test_add_months_crosses_years() -> None:
    assert add_months(parse_period("2026-01"), -1).isoformat() == "2025-12-01"
    assert add_months(parse_period("2025-12"), 13).isoformat() == "2027-01-01"


amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)


@given(
    revenues=st.dictionaries(st.integers(0, 10_000), amounts, max_size=60),
    a=st.decimals(min_value="0.0002", max_value=1, places=4),
    ratio=st.decimals(min_value="0.0001", max_value="0.9999", places=4),
)
def test_abc_classes_partition_the_customers(revenues, a, ratio) -> None:
    c = (a * ratio).quantize(Decimal("0.0001"))
    if not 0 < c < a:
        return
    classes = classify(revenues, Thresholds(a, c))
    assert set(classes) == set(revenues)  # every customer, exactly once
    assert set(classes.values()) <= set(CLASSES)
    groups = {name: [k for k, v in classes.items() if v == name] for name in CLASSES}
    assert sum(len(g) for g in groups.values()) == len(revenues)
    assert sum(sum(revenues[k] for k in g) for g in groups.values()) == sum(revenues.values())
    # Higher revenue never lands in a lower class.
    ranked = sorted(revenues, key=lambda k: revenues[k])
    order = [CLASSES.index(classes[k]) for k in ranked]
    assert order == sorted(order, reverse=True)
