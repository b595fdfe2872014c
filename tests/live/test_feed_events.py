"""Order changes and timing points reach the feed live, in scope, and resume after a reconnect."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from backend.demo import seed_org
from backend.dispatch.models import WorkOrder
from backend.errors import ServiceUnavailable
from backend.live.events import EventType
from backend.live.http import EXTENSION
from backend.live.hub import LiveHub, LiveSettings
from backend.org.models import Department
from tests.dispatch.factories import new_order
from tests.live.server import GENEROUS, EventStream, call, login, serving


def _now(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


ORDER = {
    "order_type": "electric",
    "fault_type": "no power",
    "specialty": "low_voltage",
    "caller_name": "Ms Li",
    "caller_phone": "13800000000",
    "address": "12 West Lake Rd",
    "location": {"lat": 30.27, "lon": 120.16},
}

ISSUED = [("order", "at_repair_center"), ("order_event", "B"), ("order_event", "C")]


def _until(stream: EventStream, order_id: str, *wanted: tuple[str, str]) -> list[tuple[str, str]]:
    """Read the order's events until each (kind, point or status) wanted came; return all."""
    seen: list[tuple[str, str]] = []
    while not set(wanted) <= set(seen):
        kind, data = stream.events.get(timeout=GENEROUS)
        assert kind != "closed", f"the stream ended before {wanted}; got {seen}"
        if kind in ("order", "order_event") and data["order_id"] == order_id:
            seen.append((kind, data["status"] if kind == "order" else data["point"]))
            stream.seen_ids.append(stream.id_of(data) or "")
    return seen


def _repair_center(database: Any) -> int:
    with database.session_factory() as session:
        found: int = session.scalar(select(Department.id).where(Department.code == "RC-N"))
    return found


def test_order_changes_are_feed_events(backend: Any, committed_db: Any) -> None:
    with serving(backend.app) as address:
        caller, center = login(address, "callcenter"), login(address, "dispatcher")
        feed = EventStream(address, "/api/v1/tracking/feed?max_seconds=600", caller)
        center_feed = EventStream(address, "/api/v1/tracking/feed?max_seconds=600", center)
        try:
            assert feed.next_event("retry") and center_feed.next_event("retry")
            body = {**ORDER, "hung_up_at": _now(-120)}
            status, order = call(address, "POST", "/api/v1/work-orders", body, caller)
            assert status == 201, order
            created = _until(feed, order["id"], ("order", "new"), ("order_event", "A"))
            assert sorted(created) == [("order", "new"), ("order_event", "A")]
            assert all(feed.seen_ids)  # each carries its resume cursor
            first_id = feed.seen_ids[-1]
            status, issued = call(
                address,
                "POST",
                f"/api/v1/work-orders/{order['id']}/issue",
                {"repair_center_id": _repair_center(committed_db), "issued_at": _now(-60)},
                caller,
            )
            assert status == 200, issued
            issue = _until(feed, order["id"], *ISSUED)
            assert sorted(issue) == ISSUED
            # The repair center saw nothing while the order was the call center's alone.
            assert _until(center_feed, order["id"], *ISSUED) == issue
        finally:
            feed.close()
            center_feed.close()
        # A client coming back with Last-Event-ID gets what it missed, in order. On PostgreSQL
        # a resume also replays changes of transactions still open at its cursor (any in the
        # cluster), so what it had already may come again first: twice, never lost (README).
        again = EventStream(
            address, "/api/v1/tracking/feed?max_seconds=0", caller, last_event_id=first_id
        )
        try:
            replayed = _until(again, order["id"], *ISSUED)
            assert [event for event in replayed if event not in created] == issue
            assert set(replayed) - set(issue) <= set(created)
            if backend.name == "spatialite":  # one writer: the change number alone is exact
                assert replayed == issue
        finally:
            again.close()


def test_idle_subscribers_cost_no_queries(backend: Any, committed_db: Any) -> None:
    hub = backend.app.extensions[EXTENSION]
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(threading.current_thread().name)

    with serving(backend.app) as address:
        token = login(address, "dispatcher")
        streams = [
            EventStream(address, "/api/v1/tracking/feed?max_seconds=600", token) for _ in range(3)
        ]
        event.listen(committed_db.engine, "before_cursor_execute", count)
        try:
            for stream in streams:
                assert stream.next_event("retry")
                stream.next_event("comment")  # a keep-alive: the stream has been waiting
            # Three dispatchers waited a whole keep-alive period: the hub ran not one query (each
            # stream only re-checked its caller, in its own thread, once per period).
            assert "live-hub" not in statements
            rounds = hub.rounds
            ts = int((datetime.now(UTC) - timedelta(seconds=1)).timestamp())
            status, _ = call(
                address,
                "POST",
                f"/api/v1/tracking/osmand?id=T-2001&lat=30.33&lon=120.09&timestamp={ts}"
                "&key=fieldline-device-demo",
            )
            assert status == 200
            for stream in streams:
                stream.next_event("position")
            hub_queries = statements.count("live-hub")
            # One round (a handful of queries) served all three; none ran per subscriber.
            assert 1 <= hub.rounds - rounds <= 2
            assert hub_queries <= 8 * (hub.rounds - rounds)
        finally:
            event.remove(committed_db.engine, "before_cursor_execute", count)
            for stream in streams:
                stream.close()


def _order_events(stream: EventStream) -> dict[str, str]:
    """Read until the stream ends; return each order's last `order` event's SSE id."""
    found: dict[str, str] = {}
    while True:
        kind, data = stream.events.get(timeout=GENEROUS)
        if kind == "closed":
            return found
        if kind == "order":
            found[data["order_id"]] = stream.id_of(data) or ""


def test_a_resume_gets_a_change_that_committed_after_a_later_one_was_sent(
    backend: Any, committed_db: Any
) -> None:
    """PostgreSQL hands out change ids before commit: a lower id can commit after a higher one
    reached the client. Resuming with Last-Event-ID must still deliver it (on SQLite writers
    take turns, so ids are in commit order and the same resume holds trivially)."""
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        late, early = (new_order(session, demo, at=datetime.now(UTC)).id for _ in range(2))
    with serving(backend.app) as address:
        token = login(address, "callcenter")
        feed = EventStream(address, "/api/v1/tracking/feed?max_seconds=600", token)
        slow = committed_db.session_factory()
        try:
            assert feed.next_event("retry")
            if backend.name == "postgis":  # the slow writer takes its change id first
                slow.get(WorkOrder, late).crew_note = "slow"
                slow.flush()
            with committed_db.unit_of_work(actor="test") as session:
                session.get(WorkOrder, early).crew_note = "fast"
            while True:
                kind, data = feed.events.get(timeout=GENEROUS)
                assert kind != "closed"
                if kind == "order" and data["order_id"] == str(early):
                    cursor = feed.id_of(data)
                    break
        finally:
            feed.close()
        if backend.name != "postgis":
            slow.get(WorkOrder, late).crew_note = "slow"
        slow.commit()  # after the client went away with the higher change's id
        slow.close()
        assert cursor
        again = EventStream(
            address, "/api/v1/tracking/feed?max_seconds=0", token, last_event_id=cursor
        )
        try:
            assert str(late) in _order_events(again)
        finally:
            again.close()
        bad = EventStream(address, "/api/v1/tracking/feed", token, last_event_id="1.x")
        assert bad.status == 400
        bad.close()


def test_the_listener_ends_with_the_last_stream_and_on_teardown(committed_db: Any) -> None:
    hub = LiveHub(committed_db, LiveSettings(keepalive_s=GENEROUS))  # not the app's: stop is final
    sub = hub.subscribe(None, [EventType.ORDER])
    listener = hub.listener
    assert listener is not None and listener.is_alive()
    hub.unsubscribe(sub)  # no waiting out the keep-alive: it lets go of its connection now
    listener.join(GENEROUS)
    assert not listener.is_alive() and hub.listener is None
    hub.subscribe(None, [EventType.ORDER])
    listener = hub.listener
    hub.stop()  # app teardown, with a stream still open
    assert listener is not None and not listener.is_alive()
    with pytest.raises(ServiceUnavailable):
        hub.subscribe(None, [EventType.ORDER])


def _outage_states(stream: EventStream, outage_id: str, last: str) -> list[tuple[str, str]]:
    """Read the outage's events until it reaches `last`; return (status, SSE id) of each."""
    seen: list[tuple[str, str]] = []
    while not seen or seen[-1][0] != last:
        kind, data = stream.events.get(timeout=GENEROUS)
        assert kind != "closed", f"the stream ended before {last}; got {seen}"
        if kind == "outage" and data["id"] == outage_id:
            seen.append((data["status"], stream.id_of(data) or ""))
    return seen


def test_outage_changes_are_feed_events(backend: Any, committed_db: Any) -> None:
    from tests.network.helpers import area_body, line_body
    from tests.network.test_outages import outage_body

    with serving(backend.app) as address:
        center, caller = login(address, "dispatcher"), login(address, "callcenter")
        status, line = call(address, "POST", "/api/v1/network/lines", line_body(), center)
        assert status == 201, line
        areas = [
            call(address, "POST", "/api/v1/network/areas", area_body(line["id"]), center)[1]
            for _ in range(2)
        ]
        # The call center answers for every line of its company: it follows the outage live.
        feed = EventStream(address, "/api/v1/tracking/feed?max_seconds=600", caller)
        try:
            assert feed.next_event("retry")
            status, outage = call(address, "POST", "/api/v1/outages", outage_body(line), center)
            assert status == 201, outage
            [(_, first_id)] = _outage_states(feed, outage["id"], "confirmed")
            assert first_id  # resumable, like order events
            path = f"/api/v1/outages/{outage['id']}/transition"
            partial = {"to": "partially_restored", "area_ids": [areas[0]["id"]]}
            assert call(address, "POST", path, partial, center)[0] == 200
            [(_, partial_id)] = _outage_states(feed, outage["id"], "partially_restored")
            assert call(address, "POST", path, {"to": "restored"}, center)[0] == 200
            [(_, restored_id)] = _outage_states(feed, outage["id"], "restored")
            assert len({first_id, partial_id, restored_id}) == 3
        finally:
            feed.close()
        # Coming back with the first outage event's id replays what came after it.
        again = EventStream(
            address, "/api/v1/tracking/feed?max_seconds=0", caller, last_event_id=first_id
        )
        try:
            replayed = _outage_states(again, outage["id"], "restored")
            assert [s for s, _ in replayed][-1] == "restored"
            assert all(at for _, at in replayed)
        finally:
            again.close()
