"""The one table of states and points: consistent in itself and with the sync entity spec."""

from __future__ import annotations

from backend.dispatch.timing.sla import EventSource
from backend.dispatch.timing.states import (
    AVAILABILITY_EVENTS,
    CREW_POINTS,
    DEVICE_POINTS,
    DEVICE_SOURCES,
    POINTS,
    STATE_POINT,
    STATUS_POINTS,
    TERMINAL_EVENTS,
    TRANSITIONS,
    OrderStatus,
)
from backend.tracking.ingest.decode import EventType
from sync.entities import (
    DEVICE_EVENT_SOURCES,
    DEVICE_TIMING_POINTS,
    TIMING_EVENT,
    WORK_ORDER,
    WORK_ORDER_STATUS,
)


def test_sync_spec_matches_the_dispatch_table() -> None:
    assert tuple(DEVICE_TIMING_POINTS) == DEVICE_POINTS
    assert set(DEVICE_EVENT_SOURCES) == {s.value for s in DEVICE_SOURCES}
    assert WORK_ORDER_STATUS.states == tuple(s.value for s in OrderStatus)
    assert WORK_ORDER_STATUS.device_states == frozenset(STATUS_POINTS)
    assert WORK_ORDER.machine is WORK_ORDER_STATUS
    for point in DEVICE_POINTS:  # the entity's validators accept exactly the table's values
        assert TIMING_EVENT.normalize({"point": point})["point"] == point


def test_terminal_event_types_are_the_table() -> None:
    reported = {e.value for e in EventType} - set(AVAILABILITY_EVENTS)
    assert reported == set(TERMINAL_EVENTS)
    assert set(AVAILABILITY_EVENTS) <= {e.value for e in EventType}


def test_each_crew_point_moves_to_its_state() -> None:
    for rule in CREW_POINTS.values():
        assert any(a is rule.action and t is rule.state for (_, a), t in TRANSITIONS.items())
        assert rule.sources <= set(EventSource) - {EventSource.SYSTEM}
        if rule.point in POINTS:
            assert STATE_POINT[rule.state] == rule.point
    assert EventSource.GEOFENCE not in CREW_POINTS["F"].sources
    assert EventSource.GEOFENCE in CREW_POINTS["G"].sources
