"""The hub's collector: each change once, in scope order, liveness changes as `state` events."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.demo import DemoOrg
from backend.live.collect import Collector
from backend.live.events import EventType
from backend.tracking.ingest.store import refresh_liveness
from tests.tracking.test_routes import place_vehicles


def test_liveness_changes_become_state_events(session: Session, demo: DemoOrg) -> None:
    place_vehicles(session)
    collector = Collector(session)
    assert collector.round(session) == []  # what existed before the hub started is not news
    changes = refresh_liveness(session, utcnow() + timedelta(seconds=35))  # 3.5 x 10 s
    assert sorted(state for _, state in changes) == ["stale"] * 4
    events = collector.round(session)
    states = [e for e in events if e.type == EventType.STATE]
    assert len(states) == 4 and {e.data["liveness"] for e in states} == {"stale"}
    assert {e.type for e in events} == {EventType.STATE, EventType.POSITION}
    assert collector.round(session) == []  # sent once
    ranked = {e.data["plate"]: e.departments for e in states}
    assert ranked["ZJ-A1001"] == frozenset({demo.vehicles["ZJ-A1001"].department_id})


def test_a_dispatchers_subscription_sees_only_its_scope(session: Session, demo: DemoOrg) -> None:
    collector = Collector(session)
    place_vehicles(session)
    events = collector.round(session)
    positions = [e for e in events if e.type == EventType.POSITION]
    assert len(positions) == 4
    call_center = frozenset({demo.departments["CALL"].id})
    assert not any(e.visible_to(call_center) for e in positions)
    assert all(e.visible_to(None) for e in positions)


def test_a_new_subscriber_gets_only_alerts_still_open(session: Session, demo: DemoOrg) -> None:
    from backend.dispatch.models import Alert
    from backend.live.backlog import alerts
    from tests.dispatch.factories import new_order

    order = new_order(session, demo)
    now = utcnow()
    department = demo.departments["CALL"].id

    def alert(stage: int, **state: object) -> Alert:
        row = Alert(
            order_id=order.id,
            tier="repair_center",
            stage=stage,
            department_id=department,
            message="not accepted",
            due_at=now,
            **state,
        )
        session.add(row)
        return row

    still_open = alert(1)
    alert(2, acknowledged_at=now, acknowledged_by="user:1:admin")
    alert(3, settled_at=now)  # the order was accepted: its cause is gone
    session.flush()
    backlog = alerts(session, frozenset({department}))
    assert [event.data["id"] for event in backlog] == [still_open.id]


def test_the_map_feed_carries_alerts_only_to_those_who_may_read_them(
    session: Session, demo: DemoOrg
) -> None:
    from backend.tracking.routes import feed_events_for
    from tests.dispatch.factories import actor

    assert EventType.ALERT in feed_events_for(actor(session, "dispatcher"))
    auditor_sees = feed_events_for(actor(session, "auditor"))  # tracking yes, alerts no
    assert EventType.ALERT not in auditor_sees and EventType.POSITION in auditor_sees
