"""The one table of order states, transitions, timing points and who may report each point.

Every path that moves an order reads this module: the REST and sync handlers, the vehicle
terminal (MQTT), the geofence and the dispatcher. `sync/entities.py` declares the device side
of the same facts without importing backend; `tests/dispatch/test_states.py` keeps them equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from backend.dispatch.timing.sla import EventSource, TimingPoint
from backend.errors import InvalidTransition


class OrderStatus(StrEnum):
    """Where a repair order is in the three-tier flow."""

    NEW = "new"  # taken by the call center, A recorded
    AT_REPAIR_CENTER = "at_repair_center"  # issued (B) and delivered to the repair center (C)
    CENTER_ACCEPTED = "center_accepted"  # the repair center took it on
    DISPATCHED = "dispatched"  # D: sent to a crew and vehicle
    DELIVERED = "delivered"  # E: the terminal/handheld has it
    ACCEPTED = "accepted"  # F
    EN_ROUTE = "en_route"  # G
    ON_SITE = "on_site"  # H
    FINISHED = "finished"  # repair done; the crew fills the fault record
    FOLLOWED_UP = "followed_up"  # the call center called the customer back
    CLOSED = "closed"


class Action(StrEnum):
    """What may happen to an order; timing points E-H map onto deliver .. arrive."""

    ISSUE = "issue"
    CENTER_ACCEPT = "center_accept"
    DISPATCH = "dispatch"
    DELIVER = "deliver"
    ACCEPT = "accept"
    DEPART = "depart"
    ARRIVE = "arrive"
    FINISH = "finish"
    RECORD_FAULT = "record_fault"
    FOLLOW_UP = "follow_up"
    CLOSE = "close"
    RECALL_FROM_CENTER = "recall_from_center"
    RECALL_FROM_CREW = "recall_from_crew"


S, A = OrderStatus, Action

TRANSITIONS: dict[tuple[OrderStatus, Action], OrderStatus] = {
    (S.NEW, A.ISSUE): S.AT_REPAIR_CENTER,
    (S.AT_REPAIR_CENTER, A.CENTER_ACCEPT): S.CENTER_ACCEPTED,
    (S.AT_REPAIR_CENTER, A.DISPATCH): S.DISPATCHED,
    (S.AT_REPAIR_CENTER, A.RECALL_FROM_CENTER): S.NEW,
    (S.CENTER_ACCEPTED, A.DISPATCH): S.DISPATCHED,
    (S.CENTER_ACCEPTED, A.RECALL_FROM_CENTER): S.NEW,
    (S.DISPATCHED, A.DELIVER): S.DELIVERED,
    # A terminal ack (E) may be lost or arrive later: accepting straight away is allowed.
    (S.DISPATCHED, A.ACCEPT): S.ACCEPTED,
    (S.DISPATCHED, A.RECALL_FROM_CREW): S.CENTER_ACCEPTED,
    (S.DELIVERED, A.ACCEPT): S.ACCEPTED,
    (S.DELIVERED, A.RECALL_FROM_CREW): S.CENTER_ACCEPTED,
    (S.ACCEPTED, A.DEPART): S.EN_ROUTE,
    (S.ACCEPTED, A.RECALL_FROM_CREW): S.CENTER_ACCEPTED,
    (S.EN_ROUTE, A.ARRIVE): S.ON_SITE,
    (S.EN_ROUTE, A.RECALL_FROM_CREW): S.CENTER_ACCEPTED,
    (S.ON_SITE, A.FINISH): S.FINISHED,
    (S.FINISHED, A.RECORD_FAULT): S.FINISHED,
    (S.FINISHED, A.FOLLOW_UP): S.FOLLOWED_UP,
    (S.FOLLOWED_UP, A.CLOSE): S.CLOSED,
}

# A-H in the order they happen (the SLA engine's points).
POINTS: tuple[str, ...] = tuple(p.value for p in TimingPoint)

Src = EventSource
# Witnesses a crew-side point may come from. The server's own clock (`system`) sets A-D only;
# a geofence proves movement (G, H), never a decision (F) or paperwork (finished).
_CREW = frozenset({Src.TERMINAL, Src.SYNC, Src.MANUAL})
_MOVES = _CREW | {Src.GEOFENCE}


class CrewPoint(NamedTuple):
    """A point the crew side reports: the action it is, the state it reaches, its witnesses."""

    point: str
    action: Action
    state: OrderStatus
    sources: frozenset[EventSource]
    terminal_event: str | None  # the terminal's MQTT event type (E is the order ack instead)


# fmt: off
CREW_POINTS: Mapping[str, CrewPoint] = MappingProxyType({
    "E":        CrewPoint("E", A.DELIVER, S.DELIVERED, _CREW, None),
    "F":        CrewPoint("F", A.ACCEPT, S.ACCEPTED, _CREW, "accepted"),
    "G":        CrewPoint("G", A.DEPART, S.EN_ROUTE, _MOVES, "departed"),
    "H":        CrewPoint("H", A.ARRIVE, S.ON_SITE, _MOVES, "arrived"),
    "finished": CrewPoint("finished", A.FINISH, S.FINISHED, _CREW, "finished"),
})
# fmt: on

# Crew availability reported from the field (terminal event type / sync point -> available).
AVAILABILITY_EVENTS: Mapping[str, bool] = MappingProxyType(
    {"unavailable": False, "available": True}
)

# Everything a device may report as a timing event, and the witnesses it may name.
DEVICE_POINTS: tuple[str, ...] = (*CREW_POINTS, *AVAILABILITY_EVENTS)
DEVICE_SOURCES: frozenset[EventSource] = frozenset().union(
    *(p.sources for p in CREW_POINTS.values())
)

# Terminal event type -> the crew point it reports.
TERMINAL_EVENTS: Mapping[str, str] = MappingProxyType(
    {p.terminal_event: p.point for p in CREW_POINTS.values() if p.terminal_event}
)
# A device's forward move of an order's status is the crew reporting this point (E is not a
# status a handheld sets: it reports E as a timing event when the order reaches it).
STATUS_POINTS: Mapping[str, str] = MappingProxyType(
    {p.state.value: p.point for p in CREW_POINTS.values() if p.point != "E"}
)

# The timing point each state has reached (the last one it implies).
# fmt: off
STATE_POINT: Mapping[OrderStatus, str] = MappingProxyType({
    S.NEW: "A",
    S.AT_REPAIR_CENTER: "C",
    S.CENTER_ACCEPTED: "C",
    S.DISPATCHED: "D",
    S.DELIVERED: "E",
    S.ACCEPTED: "F",
    S.EN_ROUTE: "G",
    S.ON_SITE: "H",
    S.FINISHED: "H",
    S.FOLLOWED_UP: "H",
    S.CLOSED: "H",
})
# fmt: on


def point_index(point: str) -> int:
    """Position of a point in A-H; `finished` and lifecycle kinds sort after H."""
    return POINTS.index(point) if point in POINTS else len(POINTS)


# Orders in these states hold a crew and count towards its load and its vehicle's queue.
OPEN_CREW_STATES = frozenset({S.DISPATCHED, S.DELIVERED, S.ACCEPTED, S.EN_ROUTE, S.ON_SITE})
# Orders still waiting for someone to accept them.
AWAITING_CENTER = frozenset({S.AT_REPAIR_CENTER})
AWAITING_CREW = frozenset({S.DISPATCHED, S.DELIVERED})


def can(state: str, action: Action) -> bool:
    """Tell whether `action` is allowed in `state`."""
    return (OrderStatus(state), action) in TRANSITIONS


def next_state(state: str, action: Action) -> OrderStatus:
    """Return the state after `action`, or raise a 409 naming the current state."""
    target = TRANSITIONS.get((OrderStatus(state), action))
    if target is None:
        allowed = sorted(a.value for (s, a) in TRANSITIONS if s == state)
        raise InvalidTransition(
            f"Cannot {action.value.replace('_', ' ')} an order that is {state}; "
            f"allowed now: {', '.join(allowed) or 'nothing'}.",
            current_state=state,
            action=action.value,
            allowed=allowed,
        )
    return target
