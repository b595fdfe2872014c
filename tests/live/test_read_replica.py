"""READ_DATABASE_URL: reports and the live feed's rounds read from the replica engine; writes,
logins and the rest stay on the primary.

The "replica" here is a second engine on the same PostgreSQL database under its own
`application_name`, so the server itself (pg_stat_activity) tells which connection ran what;
a lagging physical standby behaves the same for these paths (the hub waits for it to replay
what was notified, see `LiveHub._await_replica`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from backend.app import create_app
from backend.config import TestConfig
from backend.db import Database
from backend.live import http as live
from backend.wiring import open_database
from tests.live.server import EventStream, call, login, serving

pytestmark = pytest.mark.postgis_only

REPLICA_APP = "fieldline_replica_test"


class Recorder:
    """Every statement an engine ran, with the thread that ran it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append((threading.current_thread().name, statement))

    def statements(self, thread: str | None = None) -> list[str]:
        return [s for t, s in self.seen if thread is None or t == thread]


@pytest.fixture
def replicated(backend: Any, committed_db: Any) -> Iterator[tuple[Any, Database]]:
    """An app whose READ_DATABASE_URL is the same database under another application_name."""
    replica_url = f"{backend.url}?application_name={REPLICA_APP}"
    database = open_database(backend.url, replica_url)
    app = create_app(
        TestConfig(DATABASE_URL=backend.url, READ_DATABASE_URL=replica_url), database=database
    )
    try:
        yield app, database
    finally:
        live.stop(app)
        database.dispose()


def _recording(database: Database) -> tuple[Recorder, Recorder]:
    primary, replica = Recorder(), Recorder()
    assert database.replica_engine is not None
    event.listen(database.engine, "before_cursor_execute", primary)
    event.listen(database.replica_engine, "before_cursor_execute", replica)
    return primary, replica


def test_reports_run_on_the_replica_engine(replicated: tuple[Any, Database]) -> None:
    app, database = replicated
    primary, replica = _recording(database)
    start = datetime(2026, 3, 2, tzinfo=UTC)
    window = f"from={start.isoformat()}&to={(start + timedelta(days=1)).isoformat()}"
    window = window.replace("+", "%2B")
    with serving(app) as address:
        token = login(address, "supervisor")
        primary.seen.clear()
        status, body = call(address, "GET", f"/api/v1/reports/vehicle-busy?{window}", token=token)
    assert status == 200, body
    reads = replica.statements()
    assert reads, "the report read nothing from the replica engine"
    # The primary only authenticated the caller: none of the report's queries ran there.
    assert not set(reads) & set(primary.statements())
    # And the server agrees: the connection it served on is the replica's (its own name).
    with database.engine.connect() as conn:
        served = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": REPLICA_APP},
        ).scalar_one()
    assert served >= 1


def test_the_live_feed_reads_from_the_replica_and_sees_each_write(
    replicated: tuple[Any, Database],
) -> None:
    app, database = replicated
    primary, replica = _recording(database)
    with serving(app) as address:
        token = login(address, "dispatcher")
        stream = EventStream(address, "/api/v1/tracking/feed?max_seconds=120", token)
        try:
            assert stream.next_event("retry")
            sent = round(datetime.now(UTC).timestamp(), 3)
            status, _ = call(
                address,
                "POST",
                f"/api/v1/tracking/osmand?id=T-2001&lat=30.3312&lon=120.09&timestamp={sent:.3f}"
                "&key=fieldline-device-demo",
            )
            assert status == 200
            at = datetime.fromtimestamp(sent, UTC)
            while True:  # the write (on the primary) reaches the feed (read on the replica)
                feature = stream.next_event("position")
                if abs(datetime.fromisoformat(feature["properties"]["ts"]) - at) < timedelta(
                    milliseconds=2
                ):
                    break
        finally:
            stream.close()
    assert replica.statements("live-hub"), "the hub's rounds did not read the replica"
    assert not primary.statements("live-hub"), "the hub read the primary"
    writes = [
        s for s in primary.statements() if s.lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert writes, "the fix was not written on the primary"
    assert not [s for s in replica.statements() if s.lstrip().upper().startswith("INSERT")]
