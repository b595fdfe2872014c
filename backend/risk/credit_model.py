"""The 200-point credit model (seed 000), as pure functions over a model's indicator tree.

A customer starts at 200 points. Each leaf indicator is scored against its criteria (the
criterion that applies gives a deduction of 0-200 points); deductions roll up the tree by
the weights (siblings' weights sum to exactly 1), so the total deduction is itself 0-200 and
the score is 200 minus it. The total is rounded *up* to 0.0001 point before grading: any
deduction at all leaves grade A, and the stored score is exactly the graded one.

Grades: A = 200; B 195 < s < 200; C 185 < s <= 195; D 170 < s <= 185; E s <= 170.
Sizes: large = non-residential above 100 kW contracted; medium = other non-residential;
small = residential. Large and medium models have the four top indicators (commercial,
safety, legal, cooperation); small customers have no commercial (ability) indicators.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any

MAX_POINTS = Decimal(200)
STEP = Decimal("0.0001")
SIZES = ("large", "medium", "small")
TOP = ("commercial", "safety", "legal", "cooperation")
REQUIRED_TOP: Mapping[str, tuple[str, ...]] = {
    "large": TOP,
    "medium": TOP,
    "small": ("safety", "legal", "cooperation"),
}
LARGE_KW = 100.0
MAX_DEPTH = 4
CODE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

# (grade, lowest score exclusive): the first grade whose floor the score is above.
GRADES: tuple[tuple[str, Decimal | None], ...] = (
    ("B", Decimal(195)),
    ("C", Decimal(185)),
    ("D", Decimal(170)),
    ("E", None),
)


def customer_size(customer_type: str, capacity_kw: float, *, large_kw: float = LARGE_KW) -> str:
    """Which model rates a customer: large (> 100 kW non-residential), medium or small."""
    if customer_type == "residential":
        return "small"
    return "large" if capacity_kw > large_kw else "medium"


def grade(score: Decimal) -> str:
    """The grade of a score: A = 200, B 195-200, C 185-195, D 170-185, E <= 170."""
    if score >= MAX_POINTS:
        return "A"
    for name, floor in GRADES:
        if floor is None or score > floor:
            return name
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class ModelErrors(Exception):
    """Everything wrong with a model: (path, message) pairs."""

    problems: list[tuple[str, str]]


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _check_node(
    node: Any, path: str, depth: int, seen: set[str], problems: list[tuple[str, str]]
) -> None:
    if not isinstance(node, dict):
        problems.append((path, "an indicator is an object"))
        return
    code = node.get("code")
    if not isinstance(code, str) or not CODE.match(code):
        problems.append((f"{path}.code", "a code of lower-case letters, digits and _"))
    elif code in seen:
        problems.append((f"{path}.code", f"indicator {code!r} appears twice"))
    else:
        seen.add(code)
    if not isinstance(node.get("name"), str) or not 0 < len(node["name"]) <= 200:
        problems.append((f"{path}.name", "a name of 1-200 characters"))
    children, criteria = node.get("children"), node.get("criteria")
    if children is not None and criteria is not None:
        problems.append((path, "an indicator has children or criteria, not both"))
    elif children is not None:
        if depth >= MAX_DEPTH:
            problems.append((path, f"at most {MAX_DEPTH} levels of indicators"))
        else:
            _check_level(children, f"{path}.children", depth + 1, seen, problems)
    elif criteria is not None:
        _check_criteria(node, path, problems)
    else:
        problems.append((path, "an indicator needs children (a group) or criteria (a leaf)"))


def _check_criteria(node: dict[str, Any], path: str, problems: list[tuple[str, str]]) -> None:
    criteria = node["criteria"]
    if not isinstance(criteria, list) or not criteria:
        problems.append((f"{path}.criteria", "a leaf lists at least one criterion"))
        return
    codes: set[str] = set()
    for i, criterion in enumerate(criteria):
        where = f"{path}.criteria[{i}]"
        if not isinstance(criterion, dict):
            problems.append((where, "a criterion is an object"))
            continue
        code = criterion.get("code")
        if not isinstance(code, str) or not CODE.match(code) or code in codes:
            problems.append((f"{where}.code", "a unique code of lower-case letters and digits"))
        else:
            codes.add(code)
        if not isinstance(criterion.get("name"), str) or not 0 < len(criterion["name"]) <= 200:
            problems.append((f"{where}.name", "a name of 1-200 characters"))
        deduction = _number(criterion.get("deduction"))
        if deduction is None or not 0 <= deduction <= MAX_POINTS:
            problems.append((f"{where}.deduction", "a deduction between 0 and 200 points"))
        elif deduction != deduction.quantize(Decimal("0.01")):
            problems.append((f"{where}.deduction", "at most two decimals"))
    if node.get("default") not in codes:
        problems.append((f"{path}.default", "the criterion that applies when none is recorded"))


def _check_level(
    nodes: Any, path: str, depth: int, seen: set[str], problems: list[tuple[str, str]]
) -> None:
    if not isinstance(nodes, list) or not nodes:
        problems.append((path, "a group lists at least one indicator"))
        return
    total = Decimal(0)
    weights_ok = True
    for i, node in enumerate(nodes):
        weight = _number(node.get("weight")) if isinstance(node, dict) else None
        if weight is None or not 0 < weight <= 1:
            problems.append((f"{path}[{i}].weight", "a weight above 0 and at most 1"))
            weights_ok = False
        elif weight != weight.quantize(STEP):
            problems.append((f"{path}[{i}].weight", "at most four decimals"))
            weights_ok = False
        else:
            total += weight
        _check_node(node, f"{path}[{i}]", depth, seen, problems)
    if weights_ok and total != 1:
        problems.append((path, f"the weights of these indicators sum to {total}, not 1"))


def validate(size: str, indicators: Any) -> None:
    """Raise `ModelErrors` unless `indicators` is a sound tree for a model of `size`."""
    problems: list[tuple[str, str]] = []
    if size not in SIZES:
        raise ModelErrors([("size", f"one of {', '.join(SIZES)}")])
    _check_level(indicators, "indicators", 1, set(), problems)
    if isinstance(indicators, list):
        top = [n.get("code") for n in indicators if isinstance(n, dict)]
        missing = [c for c in REQUIRED_TOP[size] if c not in top]
        extra = [c for c in top if c not in REQUIRED_TOP[size]]
        if missing:
            problems.append(("indicators", f"missing top indicators: {', '.join(missing)}"))
        if extra:
            problems.append(
                ("indicators", f"top indicators of a {size} model are "
                 f"{', '.join(REQUIRED_TOP[size])}; not {', '.join(map(str, extra))}")
            )  # fmt: skip
    if problems:
        raise ModelErrors(problems)


def leaves(indicators: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every leaf indicator of a (valid) tree, in order."""
    for node in indicators:
        if "children" in node:
            yield from leaves(node["children"])
        else:
            yield node


def check_picks(indicators: list[dict[str, Any]], picks: Mapping[str, str]) -> None:
    """Raise `ModelErrors` unless every pick names a leaf of the model and one of its criteria."""
    by_code = {leaf["code"]: leaf for leaf in leaves(indicators)}
    problems = []
    for code, criterion in picks.items():
        leaf = by_code.get(code)
        if leaf is None:
            problems.append((f"indicators.{code}", "the model has no such leaf indicator"))
        elif criterion not in {c["code"] for c in leaf["criteria"]}:
            choices = ", ".join(c["code"] for c in leaf["criteria"])
            problems.append((f"indicators.{code}", f"one of {choices}"))
    if problems:
        raise ModelErrors(problems)


@dataclass(frozen=True)
class Result:
    """A rating: the score, its grade, the picks applied and the breakdown per indicator."""

    score: Decimal
    grade: str
    picks: dict[str, str]
    breakdown: list[dict[str, Any]]


def _roll(
    nodes: list[dict[str, Any]], picks: Mapping[str, str], share: Decimal, level: int,
    out: list[dict[str, Any]], applied: dict[str, str],
) -> Decimal:  # fmt: skip
    """Weighted deduction of a group (0-200); appends each node's line to `out`."""
    total = Decimal(0)
    for node in nodes:
        weight = Decimal(str(node["weight"]))
        line: dict[str, Any] = {
            "code": node["code"], "name": node["name"], "level": level, "weight": str(weight),
        }  # fmt: skip
        out.append(line)
        if "children" in node:
            deduction = _roll(node["children"], picks, share * weight, level + 1, out, applied)
        else:
            chosen = picks.get(node["code"], node["default"])
            criterion = next(c for c in node["criteria"] if c["code"] == chosen)
            applied[node["code"]] = chosen
            deduction = Decimal(str(criterion["deduction"]))
            line.update(criterion=chosen, criterion_name=criterion["name"])
        # `deduction`: the indicator's own 0-200 points; `points`: what it takes off the score.
        line.update(deduction=str(deduction), points=str(share * weight * deduction))
        total += weight * deduction
    return total


def rate(indicators: list[dict[str, Any]], picks: Mapping[str, str]) -> Result:
    """Score a customer against a (valid) model; unpicked leaves take their default."""
    breakdown: list[dict[str, Any]] = []
    applied: dict[str, str] = {}
    deduction = _roll(indicators, picks, Decimal(1), 1, breakdown, applied)
    deduction = min(deduction.quantize(STEP, rounding=ROUND_UP), MAX_POINTS)
    score = MAX_POINTS - deduction
    return Result(score=score, grade=grade(score), picks=applied, breakdown=breakdown)
