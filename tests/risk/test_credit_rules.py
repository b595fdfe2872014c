"""The credit model's rules (seed 000), one named test per boundary, and its properties."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.risk import credit_model
from backend.risk.credit_model import ModelErrors, customer_size, grade, leaves, rate, validate
from backend.risk.default_models import DEFAULT_MODELS

GRADE_RULES = [
    ("A_is_exactly_200", "200", "A"),
    ("B_below_200", "199.9999", "B"),
    ("B_above_195", "195.0001", "B"),
    ("C_at_195", "195", "C"),
    ("C_above_185", "185.0001", "C"),
    ("D_at_185", "185", "D"),
    ("D_above_170", "170.0001", "D"),
    ("E_at_170", "170", "E"),
    ("E_at_0", "0", "E"),
]


@pytest.mark.parametrize(
    ("rule", "score", "expected"), GRADE_RULES, ids=[r[0] for r in GRADE_RULES]
)
def test_grade_boundaries(rule: str, score: str, expected: str) -> None:
    assert grade(Decimal(score)) == expected, rule


SIZE_RULES = [
    ("large_above_100_kw_non_residential", "non_residential", 100.01, "large"),
    ("medium_at_100_kw_non_residential", "non_residential", 100.0, "medium"),
    ("medium_small_non_residential", "non_residential", 5.0, "medium"),
    ("small_residential_even_above_100_kw", "residential", 150.0, "small"),
]


@pytest.mark.parametrize(
    ("rule", "kind", "kw", "expected"), SIZE_RULES, ids=[r[0] for r in SIZE_RULES]
)
def test_customer_size_boundaries(rule: str, kind: str, kw: float, expected: str) -> None:
    assert customer_size(kind, kw) == expected, rule


def _tiny(size: str = "small") -> list[dict[str, Any]]:
    return copy.deepcopy(DEFAULT_MODELS[size])


def test_every_shipped_model_is_valid() -> None:
    for size, indicators in DEFAULT_MODELS.items():
        validate(size, indicators)


def _problems(size: str, indicators: Any) -> list[str]:
    with pytest.raises(ModelErrors) as caught:
        validate(size, indicators)
    return [f"{path}: {message}" for path, message in caught.value.problems]


def test_weights_not_summing_to_one_are_refused() -> None:
    model = _tiny()
    model[0]["weight"] = 0.31
    assert any("sum to 1.01, not 1" in p for p in _problems("small", model))


def test_a_missing_top_indicator_is_refused() -> None:
    model = _tiny("large")
    model = [n for n in model if n["code"] != "legal"]
    model[0]["weight"] += 0.25
    assert any("missing top indicators: legal" in p for p in _problems("large", model))


def test_commercial_indicators_do_not_belong_to_small_customers() -> None:
    model = _tiny("large")
    assert any("not commercial" in p for p in _problems("small", model))


@pytest.mark.parametrize("deduction", [-1, 200.01, "x", None, float("inf")])
def test_deductions_outside_0_to_200_are_refused(deduction: Any) -> None:
    model = _tiny()
    model[0]["children"][0]["criteria"][1]["deduction"] = deduction
    assert any("between 0 and 200" in p for p in _problems("small", model))


def test_a_leaf_without_criteria_or_default_is_refused() -> None:
    model = _tiny()
    del model[0]["children"][0]["default"]
    model[1]["children"][0]["criteria"] = []
    problems = _problems("small", model)
    assert any(p.startswith("indicators[0].children[0].default") for p in problems)
    assert any(p.startswith("indicators[1].children[0].criteria") for p in problems)


def test_no_deduction_rates_200_and_grade_A() -> None:
    result = rate(DEFAULT_MODELS["large"], {})
    assert result.score == 200 and result.grade == "A"
    assert {line["code"] for line in result.breakdown} >= {"commercial", "debt_ratio"}


def test_deductions_roll_up_by_weight() -> None:
    # theft (200) x theft_violation 0.6 x safety 0.3 = 36 points off: 164, grade E.
    result = rate(DEFAULT_MODELS["small"], {"theft_violation": "theft"})
    assert result.score == Decimal("164.0000") and result.grade == "E"
    line = next(x for x in result.breakdown if x["code"] == "theft_violation")
    assert Decimal(line["points"]) == 36 and line["criterion"] == "theft"
    safety = next(x for x in result.breakdown if x["code"] == "safety")
    assert Decimal(safety["deduction"]) == 120 and Decimal(safety["points"]) == 36


def test_the_smallest_deduction_leaves_grade_A() -> None:
    model = _tiny()
    model[2]["children"][1]["criteria"][1]["deduction"] = 0.01  # communication "fair"
    result = rate(model, {"communication": "fair"})
    assert result.score < 200 and result.grade == "B"


def _picks(size: str) -> st.SearchStrategy[dict[str, str]]:
    options = {
        leaf["code"]: [c["code"] for c in leaf["criteria"]] for leaf in leaves(DEFAULT_MODELS[size])
    }
    return st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in options.items()})


@given(size=st.sampled_from(credit_model.SIZES), data=st.data())
def test_a_score_never_exceeds_200_nor_falls_below_0(size: str, data: st.DataObject) -> None:
    result = rate(DEFAULT_MODELS[size], data.draw(_picks(size)))
    assert 0 <= result.score <= 200
    assert result.grade == grade(result.score)


ORDER = "ABCDE"


@given(size=st.sampled_from(credit_model.SIZES), data=st.data())
def test_adding_a_deduction_never_raises_the_grade(size: str, data: st.DataObject) -> None:
    indicators = DEFAULT_MODELS[size]
    picks = data.draw(_picks(size))
    before = rate(indicators, picks)
    # One more deduction: a clean leaf gets a worse criterion (criteria are listed best first).
    clean = [leaf for leaf in leaves(indicators) if leaf["code"] not in picks]
    if not clean:
        return
    leaf = data.draw(st.sampled_from(clean))
    worse = data.draw(st.sampled_from([c["code"] for c in leaf["criteria"][1:]]))
    after = rate(indicators, {**picks, leaf["code"]: worse})
    assert after.score <= before.score
    assert ORDER.index(after.grade) >= ORDER.index(before.grade)
