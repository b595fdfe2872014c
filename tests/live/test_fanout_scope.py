"""Shared bytes never cross scopes: each audience's batch holds only what its scope may see."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from backend.live.events import EventType
from backend.live.fanout import Batch, Subscription
from backend.live.hub import LiveHub, LiveSettings
from backend.org.models import Department
from tests.conftest import assert_problem
from tests.live.server import GENEROUS, EventStream, call, login, serving

POSITIONS = [EventType.POSITION]


def _move(address: str, terminal: str, lat: float, lon: float) -> float:
    """Report a fix newer than any stored; return its `ts` as the feed will carry it."""
    sent = round(time.time(), 3)
    status, _ = call(
        address,
        "POST",
        f"/api/v1/tracking/osmand?id={terminal}&lat={lat:.6f}&lon={lon:.6f}"
        f"&timestamp={sent:.3f}&key=fieldline-device-demo",
    )
    assert status == 200
    return sent


def _until_plate(sub: Subscription, plate: str, found: list[Batch]) -> None:
    """Take batches (into `found`) until one carries the plate's position."""
    while not any(
        item.event.data["properties"]["plate"] == plate for batch in found for item in batch.items
    ):
        found += sub.take(GENEROUS)
        assert not sub.lagging


def _plates(batches: list[Batch]) -> set[str]:
    return {item.event.data["properties"]["plate"] for b in batches for item in b.items}


def test_dispatchers_of_one_scope_share_bytes_another_scope_gets_none_of_them(
    committed_db: Any, backend: Any
) -> None:
    with committed_db.session_factory() as session:
        ids = dict(session.execute(select(Department.code, Department.id)).all())
    urban, suburban = frozenset({ids["ST-URB"]}), frozenset({ids["ST-SUB"]})
    hub = LiveHub(committed_db, LiveSettings(poll_s=0.05, round_s=0))
    try:
        first, second = hub.subscribe(urban, POSITIONS), hub.subscribe(urban, POSITIONS)
        other = hub.subscribe(suburban, POSITIONS)
        with serving(backend.app) as address:
            # One round may carry both moves: the suburban vehicle's bytes must stay out of
            # the urban batch, and the urban vehicle's out of the suburban one.
            _move(address, "T-1001", 30.2951, 120.1651)
            _move(address, "T-2001", 30.3301, 120.0901)
            seen: list[Batch] = []
            _until_plate(first, "ZJ-A1001", seen)
            theirs: list[Batch] = []
            _until_plate(other, "ZJ-A2001", theirs)
        assert "ZJ-A2001" not in _plates(seen) and "ZJ-A1001" not in _plates(theirs)
        assert all(b"ZJ-A2001" not in batch.body for batch in seen)
        assert all(b"ZJ-A1001" not in batch.body for batch in theirs)
        # The same scope gets the very same batches (formatted once), the other scope its own.
        shared = second.take(GENEROUS)
        assert len(shared) >= len(seen)
        assert all(mine is ours for mine, ours in zip(seen, shared, strict=False))
        assert not any(batch is mine for batch in theirs for mine in seen)
    finally:
        hub.stop()


def test_a_viewport_limits_the_positions_of_a_stream(committed_db: Any, backend: Any) -> None:
    with serving(backend.app) as address:
        token = login(address, "dispatcher")
        # Around the suburban station only: the urban vehicle is 8 km east of it.
        boxed = EventStream(
            address, "/api/v1/tracking/feed?max_seconds=600&bbox=120.08,30.32,120.10,30.34", token
        )
        try:
            assert boxed.status == 200 and boxed.next_event("retry")
            _move(address, "T-1001", 30.2952, 120.1652)
            at = _move(address, "T-2001", 30.3302, 120.0902)
            moved = datetime.fromtimestamp(at, UTC)
            while True:  # the urban vehicle moved first: it would have come before this
                props = boxed.next_event("position")["properties"]
                assert props["plate"] != "ZJ-A1001", "a position outside the viewport"
                if abs(datetime.fromisoformat(props["ts"]) - moved) <= timedelta(milliseconds=2):
                    break
        finally:
            boxed.close()


def test_a_bad_viewport_is_a_422_problem(api: Any) -> None:
    dispatcher = api("dispatcher")
    for bbox in ("120,30,121", "121,30,120,31", "a,b,c,d", "120,30,121,91", "nan,30,121,31"):
        response = dispatcher.get(f"/api/v1/tracking/feed?max_seconds=0&bbox={bbox}")
        body = assert_problem(response, 422)
        assert "bbox" in str(body.get("errors", body)), body
