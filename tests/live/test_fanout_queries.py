"""Fan-out: the database work of the live feed does not grow with the number of dispatchers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from backend.live.http import EXTENSION
from tests.live.server import EventStream, call, login, serving

CHANGES = 4
MS = timedelta(milliseconds=2)


def _fix_time(feature: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(feature["properties"]["ts"])


def _feed_queries(backend: Any, database: Any, subscribers: int, lat0: float) -> tuple[int, int]:
    """Open `subscribers` feeds, move a vehicle CHANGES times, each time until every feed got
    it; return (statements the hub ran, rounds it took) while they were open."""
    hub = backend.app.extensions[EXTENSION]
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(threading.current_thread().name)

    with serving(backend.app) as address:
        token = login(address, "dispatcher")
        streams = [
            EventStream(address, "/api/v1/tracking/feed?max_seconds=600", token)
            for _ in range(subscribers)
        ]
        try:
            for stream in streams:
                assert stream.next_event("retry")
            event.listen(database.engine, "before_cursor_execute", count)
            rounds = hub.rounds
            for i in range(CHANGES):
                # A fix a few metres on, newer than any stored: the vehicle's state moves.
                sent = round(time.time(), 3)
                status, _ = call(
                    address,
                    "POST",
                    f"/api/v1/tracking/osmand?id=T-2001&lat={lat0 + i * 5e-5:.6f}&lon=120.09"
                    f"&timestamp={sent:.3f}&key=fieldline-device-demo",
                )
                assert status == 200
                at = datetime.fromtimestamp(sent, UTC)
                for stream in streams:  # every dispatcher sees this move before the next
                    while abs(_fix_time(stream.next_event("position")) - at) > MS:
                        pass
            return statements.count("live-hub"), hub.rounds - rounds
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
            for stream in streams:
                stream.close()


def test_feed_queries_do_not_grow_with_subscribers(backend: Any, committed_db: Any) -> None:
    alone, alone_rounds = _feed_queries(backend, committed_db, 1, 30.33)
    # Further along the same street: a jump would be filtered out as impossible speed.
    crowd, crowd_rounds = _feed_queries(backend, committed_db, 25, 30.33 + CHANGES * 5e-5)
    assert alone > 0 and alone_rounds >= 1
    # The same moves cost the same rounds of the same few queries, for 1 reader or for 25
    # (a round may split in two when a commit lands mid-round: hence the factor 2, not 25).
    assert crowd_rounds <= 2 * max(alone_rounds, CHANGES)
    assert crowd <= 2 * alone
