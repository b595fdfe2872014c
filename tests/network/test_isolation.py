"""Valve isolation on small networks with known answers (no database)."""

from __future__ import annotations

import pytest

from backend.network.isolation import isolate

#   S ─p1─ V1 ─p2─ J1 ─p3─ V2 ─p4─ J2
#                  │               │
#                  p5              p6
#                  │               │
#                  V3 ─────p7───── J3 ─p8─ V4 ─p9─ J4
# A loop J1-V2-J2-J3-V3-J1 (a cycle with valves V2 and V3 on it).
PIPES = {
    "p1": ("S", "V1"),
    "p2": ("V1", "J1"),
    "p3": ("J1", "V2"),
    "p4": ("V2", "J2"),
    "p5": ("J1", "V3"),
    "p6": ("J2", "J3"),
    "p7": ("V3", "J3"),
    "p8": ("J3", "V4"),
    "p9": ("V4", "J4"),
}
VALVES = {"V1", "V2", "V3", "V4"}


def test_pipe_between_junction_and_valves() -> None:
    result = isolate(PIPES, VALVES, "p3", sources={"S"})
    assert result.valves == {"V1", "V2", "V3"}
    assert result.pipes == {"p2", "p3", "p5"}
    assert result.isolable


def test_cycle_is_walked_once() -> None:
    result = isolate(PIPES, VALVES, "p6", sources={"S"})
    assert result.valves == {"V2", "V3", "V4"}
    assert result.pipes == {"p4", "p6", "p7", "p8"}


def test_pipe_touching_the_source_cannot_be_isolated() -> None:
    result = isolate(PIPES, VALVES, "p1", sources={"S"})
    assert not result.isolable and result.sources_reached == {"S"}
    assert result.valves == {"V1"}


def test_no_valve_at_all() -> None:
    result = isolate(PIPES, set(), "p9", sources={"S"})
    assert not result.isolable
    assert result.valves == frozenset() and result.pipes == set(PIPES)
    closed = isolate(PIPES, set(), "p9")  # no source: the whole component is the segment
    assert closed.isolable and closed.pipes == set(PIPES)


def test_unknown_pipe() -> None:
    with pytest.raises(KeyError):
        isolate(PIPES, VALVES, "nope")


def test_what_only_the_isolated_stretch_fed_is_cut_off_too() -> None:
    """Plant S - p1 - V1 - p2 (broken) - V2 - p3 - hydrant H: p3 and H lose their water."""
    result = isolate({"p1": ("S", "V1"), "p2": ("V1", "V2"), "p3": ("V2", "H")},
                     {"V1", "V2"}, "p2", sources={"S"})  # fmt: skip
    assert (result.valves, result.pipes, result.cut_off) == ({"V1", "V2"}, {"p2"}, {"p3"})
    # Fed from another side as well, nothing is cut off.
    looped = isolate({"p1": ("S", "V1"), "p2": ("V1", "V2"), "p3": ("V2", "H"), "p4": ("S", "H")},
                     {"V1", "V2"}, "p2", sources={"S"})  # fmt: skip
    assert looped.cut_off == frozenset()


def test_a_valve_already_shut_feeds_nothing_beyond_it() -> None:
    """S - V1 - p2 (broken) - V2 - p3 - H, and H - p4 - V3 (shut, a zone boundary) - p5 - S:
    H is fed only through the broken stretch, so it runs dry."""
    pipes = {"p1": ("S", "V1"), "p2": ("V1", "V2"), "p3": ("V2", "H"), "p4": ("H", "V3"),
             "p5": ("V3", "S")}  # fmt: skip
    result = isolate(pipes, {"V1", "V2", "V3"}, "p2", sources={"S"}, shut={"V3"})
    assert result.cut_off == {"p3", "p4"}
