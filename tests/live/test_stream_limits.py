"""Open streams are capped per user and per process, end on their own, and follow their caller.

Served by a real threaded server (both backends): each stream holds a server thread, as in
production, and a place that must come back however the stream ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from backend.auth.models import User
from backend.demo import DEMO_PASSWORD
from backend.live import backlog
from backend.live.capacity import StreamLimits, StreamSlots
from backend.live.http import EXTENSION, SLOTS
from backend.org.models import Department
from tests.live.server import GENEROUS, EventStream, call, login, serving
from tests.tracking.brokers import wait_until

FEED = "/api/v1/tracking/feed"
ALERTS = "/api/v1/alerts/stream"


@pytest.fixture
def limited(backend: Any, committed_db: Any, monkeypatch: pytest.MonkeyPatch) -> StreamSlots:
    """The app with 2 streams per user, 3 per process, and a keep-alive (and recheck) of 0.2 s."""
    app = backend.app
    hub = app.extensions[EXTENSION]
    monkeypatch.setattr(hub, "settings", replace(hub.settings, keepalive_s=0.2))
    found = StreamSlots(StreamLimits(per_user=2, per_process=3, retry_after_s=7))
    monkeypatch.setitem(app.extensions, SLOTS, found)
    return found


@pytest.fixture
def address(backend: Any, limited: StreamSlots) -> Iterator[str]:
    with serving(backend.app) as found:
        yield found


def _refused(response: Any) -> None:
    assert response.status == 429
    assert response.getheader("Retry-After") == "7"
    assert response.getheader("Content-Type") == "application/problem+json"


def _user_id(database: Any, username: str) -> int:
    with database.unit_of_work() as session:
        found: int = session.scalars(select(User.id).where(User.username == username)).one()
        return found


def _department_id(database: Any, code: str) -> int:
    with database.unit_of_work() as session:
        found: int = session.scalars(select(Department.id).where(Department.code == code)).one()
        return found


def test_streams_past_a_cap_are_refused_until_one_ends(limited: StreamSlots, address: str) -> None:
    dispatcher, supervisor = login(address, "dispatcher"), login(address, "supervisor")
    opened = [EventStream(address, FEED, dispatcher), EventStream(address, ALERTS, dispatcher)]
    try:
        assert [s.status for s in opened] == [200, 200]
        third = EventStream(address, FEED, dispatcher)  # the user's cap, on any stream route
        _refused(third.response)
        third.close()
        opened.append(EventStream(address, ALERTS, supervisor))
        assert opened[-1].status == 200
        fourth = EventStream(address, FEED, supervisor)  # the process's cap
        _refused(fourth.response)
        fourth.close()
        # The API answers on: a refused stream holds no thread.
        assert call(address, "GET", "/healthz")[0] == 200
        # A client gone frees its place (noticed at the next keep-alive write).
        opened.pop(0).close()
        wait_until(lambda: limited.open_count("user:" + str(_me(address, dispatcher))) == 1)
        again = EventStream(address, FEED, dispatcher)
        opened.append(again)
        assert again.status == 200
    finally:
        for each in opened:
            each.close()
    wait_until(lambda: limited.open_count() == 0)


def _me(address: str, token: str) -> int:
    status, body = call(address, "GET", "/api/v1/auth/me", token=token)
    assert status == 200, body
    found: int = body["id"]
    return found


def test_the_server_bounds_a_stream_and_frees_its_place(
    limited: StreamSlots, address: str, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(backend.app.config, "LIVE_MAX_STREAM_SECONDS", 0.5)
    token = login(address, "dispatcher")
    asked_less = EventStream(address, f"{ALERTS}?max_seconds=0.3", token)
    asked_more = EventStream(address, f"{FEED}?max_seconds=600", token)
    try:
        assert asked_less.next_event("end") == {"reason": "max_seconds"}
        assert asked_more.next_event("end") == {"reason": "lifetime"}
        assert asked_more.events.get(timeout=GENEROUS) == ("closed", None)  # the server hung up
    finally:
        asked_less.close()
        asked_more.close()
    wait_until(lambda: limited.open_count() == 0)


def test_a_lagging_stream_frees_its_place(
    limited: StreamSlots, address: str, backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = backend.app.extensions[EXTENSION]
    monkeypatch.setattr(hub, "settings", replace(hub.settings, queue_size=0))
    token = login(address, "dispatcher")
    before = {sub for group in hub._audiences.values() for sub in group}
    feed = EventStream(address, FEED, token)
    try:
        assert feed.next_event("retry")
        # One event the stream may not skip, past its (empty) queue: as if it fell behind.
        (sub,) = {sub for group in hub._audiences.values() for sub in group} - before
        sub.offer(SimpleNamespace(others=1))
        assert feed.next_event("end") == {"reason": "lagging"}
    finally:
        feed.close()
    wait_until(lambda: limited.open_count() == 0)


def test_a_stream_that_fails_to_open_frees_its_place(
    limited: StreamSlots, address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the backlog query failed")

    monkeypatch.setattr(backlog, "positions", broken)
    token = login(address, "dispatcher")
    for _ in range(3):  # more than the user's cap: each failure gave its place back
        status, body = call(address, "GET", FEED, token=token)
        assert status == 500, body
    assert limited.open_count() == 0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"active": False}, "revoked"),
        ({"role": "crew"}, "forbidden"),
        ({"department": "ROOT"}, "scope_changed"),
    ],
)
def test_a_stream_ends_when_its_caller_changes(
    limited: StreamSlots,
    address: str,
    committed_db: Any,
    change: dict[str, Any],
    reason: str,
) -> None:
    admin = login(address, "admin")
    # A supervisor of its own: disabling a shared demo login would revoke the tokens other
    # modules keep for it (their clients log in once).
    _, supervisor = call(
        address, "GET", f"/api/v1/users/{_user_id(committed_db, 'supervisor')}", token=admin
    )
    username = f"stream-{uuid.uuid4().hex[:8]}"
    status, created = call(
        address,
        "POST",
        "/api/v1/users",
        {
            "username": username,
            "full_name": "Stream tester",
            "password": DEMO_PASSWORD,
            "role": "supervisor",
            "department_id": supervisor["department_id"],
        },
        admin,
    )
    assert status == 201, created
    user_id = created["id"]
    if "department" in change:
        # A new dict, never the parameter's: both backends' cases share that one, and once
        # emptied by the first case it left the second a PATCH that changed nothing.
        change = {"department_id": _department_id(committed_db, change["department"])}
    feed = EventStream(address, FEED, login(address, username))
    try:
        assert feed.next_event("retry")
        assert feed.next_event("comment")  # a keep-alive: the caller is still allowed
        status, body = call(address, "PATCH", f"/api/v1/users/{user_id}", change, admin)
        assert status == 200, body
        assert {key: body[key] for key in change} == change  # the caller did change
        assert feed.next_event("end") == {"reason": reason}
    finally:
        feed.close()
        assert (
            call(address, "PATCH", f"/api/v1/users/{user_id}", {"active": False}, admin)[0] == 200
        )
    wait_until(lambda: limited.open_count() == 0)


def test_logging_out_ends_an_open_stream(limited: StreamSlots, address: str) -> None:
    token = login(address, "dispatcher")  # a login session of its own: logout ends only it
    feed = EventStream(address, FEED, token)
    try:
        assert feed.next_event("retry")
        assert feed.next_event("comment")  # a keep-alive: the session is still live
        status, body = call(address, "POST", "/api/v1/auth/logout", {}, token)
        assert status == 204, body
        assert feed.next_event("end") == {"reason": "revoked"}
    finally:
        feed.close()
    wait_until(lambda: limited.open_count() == 0)
