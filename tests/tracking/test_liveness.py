"""Liveness: a whole fleet falling silent changes state in a fixed number of statements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.demo import DemoOrg
from backend.org.models import Vehicle
from backend.tracking.ingest.decode import PositionFix
from backend.tracking.ingest.pipeline import Inbound, Pipeline
from backend.tracking.ingest.store import refresh_liveness

FLEET = 150


@pytest.fixture
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session's engine runs while the test runs."""
    seen: list[str] = []
    engine = session.get_bind().engine

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _fleet_heard_now(session: Session, demo: DemoOrg) -> dict[str, int]:
    """FLEET vehicles (10 s report interval), each with one fix stored just now."""
    department_id = demo.vehicles["ZJ-A1001"].department_id
    session.execute(
        insert(Vehicle),
        [
            {
                "plate": f"LV-{i:04d}",
                "department_id": department_id,
                "specialty": "10kv",
                "terminal_id": f"LV{i:04d}",
                "datum": "wgs84",
                "report_interval_s": 10,
            }
            for i in range(FLEET)
        ],
    )
    now = utcnow()
    items = [
        Inbound(
            key=f"LV{i:04d}",
            value=PositionFix(vehicle=f"LV{i:04d}", ts=now, lat=30.2 + i * 1e-4, lon=120.1, seq=1),
            received_at=now,
        )
        for i in range(FLEET)
    ]
    assert Pipeline().process(session, items).stored == FLEET
    rows = session.execute(
        select(Vehicle.terminal_id, Vehicle.id).where(Vehicle.plate.like("LV-%"))
    )
    return {terminal: vehicle_id for terminal, vehicle_id in rows}


def test_a_silent_fleet_goes_stale_then_offline_in_a_few_statements(
    session: Session, demo: DemoOrg, statements: list[str]
) -> None:
    ids = _fleet_heard_now(session, demo)
    fleet = set(ids.values())
    statements.clear()
    # 3.5 report intervals of silence: stale; the whole fleet in one read and one update.
    stale = refresh_liveness(session, utcnow() + timedelta(seconds=35))
    assert {v for v, state in stale if state == "stale"} >= fleet
    assert len(statements) <= 2, statements
    # Already stale: nothing to change, one read.
    statements.clear()
    assert [
        c for c in refresh_liveness(session, utcnow() + timedelta(seconds=40)) if c[0] in fleet
    ] == []
    assert len(statements) == 1
    # Past ten intervals: offline, again one update for all of them.
    statements.clear()
    offline = refresh_liveness(session, utcnow() + timedelta(seconds=105))
    assert {v for v, state in offline if state == "offline"} >= fleet
    assert len(statements) <= 3, statements
