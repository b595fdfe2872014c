"""The work-order state machine as a table: (state, action) -> next state."""

from __future__ import annotations

from enum import StrEnum

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

# Timing points a crew/terminal reports, and the action each one is.
POINT_ACTIONS: dict[str, Action] = {
    "E": A.DELIVER,
    "F": A.ACCEPT,
    "G": A.DEPART,
    "H": A.ARRIVE,
    "finished": A.FINISH,
}

# The timing point each state has reached (the last one it implies).
STATE_POINT: dict[OrderStatus, str] = {
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
}

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
