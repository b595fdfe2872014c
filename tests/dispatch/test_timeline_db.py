"""The DB-backed timeline: exact segments, breaches written once, backfills, late arrivals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from backend.dispatch import service
from backend.dispatch.models import SlaBreach, TimingEvent
from backend.dispatch.timing.events import order_timeline
from backend.dispatch.timing.recording import record_timing_event
from tests.dispatch.factories import T0, actor, minutes, new_order, walk


def durations(session, order):
    timeline, _ = order_timeline(session, order)
    return {
        s.segment: (
            s.duration / timedelta(minutes=1) if s.duration is not None else None,
            str(s.color),
        )
        for s in timeline.segments
    }


def test_segments_colors_and_breach_departments(session, demo):
    order = new_order(session, demo)  # A 0, B 1, C 1
    walk(session, demo, order, {"D": 3.5, "E": 4, "F": 7, "G": 8, "H": 40})
    got = durations(session, order)
    assert got == {
        "AB": (1, "yellow"),
        "BC": (0, "green"),
        "CD": (2.5, "red"),
        "DE": (0.5, "green"),
        "EF": (3, "red"),
        "FG": (1, "green"),
        "GH": (32, "red"),
    }
    breaches = {
        b.segment: b
        for b in session.scalars(select(SlaBreach).where(SlaBreach.order_id == order.id))
    }
    assert set(breaches) == {"CD", "EF", "GH"}  # A->H is 40 min: within 45
    assert breaches["CD"].department_id == demo.departments["RC-N"].id
    assert breaches["EF"].department_id == demo.departments["ST-URB"].id
    assert breaches["GH"].duration_s == 32 * 60 and breaches["GH"].limit_s == 28 * 60


def test_breach_written_once_and_immutable(session, demo):
    order = new_order(session, demo)
    walk(session, demo, order, {"D": 10})
    rows = session.scalars(select(SlaBreach).where(SlaBreach.order_id == order.id)).all()
    assert [r.segment for r in rows] == ["CD"]
    walk(session, demo, order, {"E": 11})
    assert (
        session.scalar(
            select(SlaBreach.id).where(SlaBreach.segment == "CD", SlaBreach.order_id == order.id)
        )
        == rows[0].id
    )
    with pytest.raises(Exception, match="append-only"):
        with session.begin_nested():
            session.execute(text("UPDATE sla_breaches SET duration_s = 0"))


def test_timing_events_are_append_only(session, demo):
    new_order(session, demo)
    with pytest.raises(Exception, match="append-only"):
        with session.begin_nested():
            session.execute(text("DELETE FROM timing_events"))


def test_late_e_is_backfilled_and_recomputes(session, demo):
    order = new_order(session, demo)
    walk(session, demo, order, {"D": 2, "F": 4})  # the terminal ack was lost
    timeline, _ = order_timeline(session, order)
    assert str(timeline.segment("DE").status) == "unknown"
    event, created = record_timing_event(
        session=session,
        actor=actor(session, "crew1"),
        order_id=order.id,
        point="E",
        occurred_at=T0 + minutes(3),
        source="sync",
        event_id="late-e",
        now=T0 + minutes(30),
    )
    assert created and event.backfilled
    got = durations(session, order)
    assert got["DE"] == (1, "yellow") and got["EF"] == (1, "yellow")
    assert order.status == "accepted"  # a backfill never moves the state


def test_terminal_and_geofence_both_kept_earliest_wins(session, demo):
    order = new_order(session, demo)
    walk(session, demo, order, {"D": 2, "E": 2.5, "F": 3, "G": 4, "H": 20})
    record_timing_event(
        session=session,
        actor=actor(session, "crew1"),
        order_id=order.id,
        point="H",
        occurred_at=T0 + minutes(18),
        source="geofence",
        event_id="geo-h",
        now=T0 + minutes(21),
    )
    assert durations(session, order)["GH"][0] == 14
    assert session.scalar(select(TimingEvent.backfilled).where(TimingEvent.event_id == "geo-h"))


def test_a_recorded_breach_says_whether_the_timeline_still_shows_it(session, demo):
    """A breach row is never rewritten; the timeline marks one later evidence undid."""
    from backend.dispatch.timing.timelines import timeline

    order = new_order(session, demo)
    walk(session, demo, order, {"D": 2, "E": 2.5, "F": 3, "G": 4, "H": 40})  # GH 36 > 28 min
    dispatcher = actor(session, "dispatcher")
    before = timeline(session=session, actor=dispatcher, order_id=order.id)
    assert [(b["segment"], b["current"]) for b in before["breaches"]] == [("GH", True)]
    record_timing_event(
        session=session, actor=actor(session, "crew1"), order_id=order.id, point="H",
        occurred_at=T0 + minutes(20), source="geofence", event_id="geo-h-early",
        now=T0 + minutes(41),
    )  # fmt: skip
    after = timeline(session=session, actor=dispatcher, order_id=order.id)
    gh = next(s for s in after["segments"] if s["segment"] == "GH")
    assert gh["breached"] is False and gh["duration_s"] == 16 * 60
    assert [(b["segment"], b["duration_s"], b["current"]) for b in after["breaches"]] == [
        ("GH", 36 * 60, False)
    ]


def test_mark_delivered_from_terminal_ack(session, demo):
    order = new_order(session, demo)
    walk(session, demo, order, {"D": 2})
    vehicle = demo.vehicles["ZJ-A1001"].id
    first, created = service.mark_delivered(
        session=session,
        actor=actor(session, "admin"),
        order_id=order.id,
        vehicle_id=vehicle,
        occurred_at=T0 + minutes(2.5),
        event_id="ack-1",
        now=T0 + minutes(3),
    )
    again, created_again = service.mark_delivered(
        session=session,
        actor=actor(session, "admin"),
        order_id=order.id,
        vehicle_id=vehicle,
        occurred_at=T0 + minutes(2.7),
        event_id="ack-2",
        now=T0 + minutes(3),
    )
    assert created and not created_again and again.id == first.id
    assert order.status == "delivered"


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    order_of_arrival=st.permutations(["E", "F", "G", "H"]),
    gaps=st.lists(st.integers(0, 600), min_size=4, max_size=4),
)
def test_arrival_order_does_not_change_the_timeline(session, demo, order_of_arrival, gaps):
    """Points synced from an offline handheld in any order give the in-order timeline."""
    with session.begin_nested() as nested:
        order = new_order(session, demo)
        walk(session, demo, order, {"D": 2})
        times, t = {}, T0 + minutes(2)
        for point, gap in zip("EFGH", gaps, strict=True):
            t += timedelta(seconds=gap)
            times[point] = t
        pending = list(order_of_arrival)
        while pending:  # the device retries what the state machine refused until all land
            for point in list(pending):
                try:
                    with session.begin_nested():
                        record_timing_event(
                            session=session,
                            actor=actor(session, "crew1"),
                            order_id=order.id,
                            point=point,
                            occurred_at=times[point],
                            source="sync",
                            event_id=f"{order.id}-{point}",
                            now=T0 + minutes(60),
                        )
                    pending.remove(point)
                except Exception:  # noqa: S112 - refused out of order: retried next pass
                    continue
        timeline, _ = order_timeline(session, order)
        for a, b in ("DE", "EF", "FG", "GH"):
            expected = times[b] - (times[a] if a != "D" else T0 + minutes(2))
            assert timeline.segment(a + b).duration == expected
        nested.rollback()
