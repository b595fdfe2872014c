"""A stream open in one client neither blocks nor waits for a write in another (both backends).

The app is served by a real threaded server so that the streams and the write are separate
requests on separate threads and connections, as in production.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pysqlite3.dbapi2 as sqlite3
import pytest

from backend.db import utcnow
from backend.demo import DEMO_DEVICE_SECRET
from tests.conftest import Api
from tests.live.server import EventStream, call, login, serving


def _post_fix(address: str, lat: float) -> int:
    ts = int((utcnow() - timedelta(seconds=1)).timestamp())
    query = f"id=T-1001&lat={lat}&lon=120.16&timestamp={ts}&key={DEMO_DEVICE_SECRET}"
    status, _ = call(address, "POST", f"/api/v1/tracking/osmand?{query}")
    return status


def test_open_streams_do_not_block_a_write(backend: Any, committed_db: Any) -> None:
    with serving(backend.app) as address:
        token = login(address, "dispatcher")
        # Without `after` the alert stream looks up the newest alert first: it used to do that
        # in a second session while the request's own session held SQLite's write lock.
        alerts = EventStream(address, "/api/v1/alerts/stream?max_seconds=600", token)
        feed = EventStream(address, "/api/v1/tracking/feed?max_seconds=600", token)
        try:
            assert alerts.status == 200 and feed.status == 200
            assert alerts.next_event("retry") and feed.next_event("retry")  # both are open
            # A write from another client goes through while both streams stay open...
            assert _post_fix(address, 30.2901) == 200
            # ...and the feed delivers it live.
            while True:
                position = feed.next_event("position")
                if (
                    position["properties"]["plate"] == "ZJ-A1001"
                    and abs(position["geometry"]["coordinates"][1] - 30.2901) < 1e-6
                ):
                    break
            assert _post_fix(address, 30.2902) == 200
        finally:
            alerts.close()
            feed.close()


@pytest.mark.spatialite_only
def test_a_get_never_waits_for_the_sqlite_write_lock(backend: Any, committed_db: Any) -> None:
    client = backend.app.test_client()
    headers = Api(client, "dispatcher").headers
    # Another process holds SQLite's write lock (a long ingest batch, say); the same SQLite
    # library as the app's, or the two would not see each other's locks inside one process.
    blocker = sqlite3.connect(committed_db.engine.url.database, timeout=1)
    blocker.isolation_level = None
    blocker.execute("BEGIN IMMEDIATE")
    try:
        # ...reads go on: a GET's unit of work is read-only and begins without the lock.
        response = client.get("/api/v1/alerts?open=true", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert client.get("/api/v1/tracking/vehicles", headers=headers).status_code == 200
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
