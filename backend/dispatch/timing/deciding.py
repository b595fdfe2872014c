"""Whether a reported crew point is taken, and what it does to the order: one pure decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, Protocol

from backend.dispatch.timing.states import (
    OPEN_CREW_STATES,
    POINTS,
    STATE_POINT,
    CrewPoint,
    OrderStatus,
    can,
    next_state,
    point_index,
)
from backend.errors import InvalidTransition

# States in which a point the order already went past may still arrive late (a backfill).
_PAST_CREW_STATES = OPEN_CREW_STATES | {
    OrderStatus.FINISHED,
    OrderStatus.FOLLOWED_UP,
    OrderStatus.CLOSED,
}


class PointAhead(InvalidTransition):
    """Refused only because an earlier point is missing; a geofence's proof waits for it."""


class Witnessed(Protocol):
    """What the decision reads of a stored event."""

    point: str
    source: str
    occurred_at: datetime


class Decision(NamedTuple):
    """The order's state after the point, and whether the point is a late one."""

    status: str
    backfilled: bool


def decide(
    *,
    number: str,
    status: str,
    rule: CrewPoint,
    source: str,
    when: datetime,
    same_point: Sequence[Witnessed],
    later_recorded: bool,
) -> Decision:
    """Decide a crew point against the order's state and what this round already holds.

    Args:
        number: the order number, for messages.
        status: the order's current state.
        rule: the point's row of the table (`CREW_POINTS`).
        source: the witness reporting it.
        when: its effective time (a future device time already clamped).
        same_point: the events of this point that count in this dispatch round.
        later_recorded: a later point is already recorded in this round.

    Raises:
        InvalidTransition: the same witness reported it already, or the state forbids it;
            `PointAhead` when only an earlier missing point stands in the way.
    """
    if same_point:
        # Terminal and geofence may both witness a point: keep each source's claim (the
        # earliest wins in the engine), but the same witness twice is a double report.
        if rule.point == "finished" or any(e.source == source for e in same_point):
            raise InvalidTransition(
                f"Point {rule.point} is already recorded for work order {number} (it is {status}).",
                current_state=status,
            )
        # An earlier witness arriving late moves the timeline back: that is a backfill.
        return Decision(status, later_recorded or when < min(e.occurred_at for e in same_point))
    if can(status, rule.action):
        return Decision(next_state(status, rule.action), later_recorded)
    reached = point_index(STATE_POINT[OrderStatus(status)])
    if rule.point in POINTS and status in _PAST_CREW_STATES and point_index(rule.point) < reached:
        return Decision(status, True)  # the order moved past a point that was never recorded
    if status in OPEN_CREW_STATES and point_index(rule.point) > reached + 1:
        missing = POINTS[point_index(rule.point) - 1]  # the point right before this one
        raise PointAhead(
            f"Work order {number} is {status}: point {missing} must be recorded before "
            f"{rule.point}.",
            current_state=status,
            missing=missing,
        )
    next_state(status, rule.action)  # raises the 409 naming the current state
    raise AssertionError("unreachable")  # pragma: no cover - next_state raised
