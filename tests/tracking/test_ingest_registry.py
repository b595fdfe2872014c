"""The ingest sees registry changes at once and never acknowledges a message it could not place."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.cli import main
from backend.db import Database, utcnow
from backend.demo import DemoOrg
from backend.org.models import Department, Vehicle
from backend.tracking.ingest.pipeline import Inbound, Pipeline, decode_message
from backend.tracking.ingest.worker import IngestWorker
from backend.tracking.models import DeadLetter, IngestCounter, Position, VehicleState
from gis.datum import Datum, to_wgs84
from tests.conftest import Api
from tests.tracking.brokers import connect, publish_all, unique_root, wait_until
from tests.tracking.test_ingest_mqtt import SHARED_BROKER, worker_settings

ROOT = "fieldline/v1"


def message(vid: str, ts: Any, lon: float, lat: float, seq: int, root: str = ROOT) -> tuple:
    body = {"ts": ts.isoformat(), "lat": lat, "lon": lon, "acc": 5, "seq": seq}
    return f"{root}/vehicles/{vid}/position", json.dumps(body).encode()


def test_a_vehicle_registered_while_the_worker_runs_loses_no_fix(
    backend: Any, committed_db: Database
) -> None:
    root, vid = unique_root(), f"T-{uuid.uuid4().hex[:8]}"
    base = utcnow() - timedelta(minutes=5)
    worker = IngestWorker(committed_db, worker_settings(SHARED_BROKER, root)).start()
    admin = Api(backend.app.test_client(), "admin")
    try:
        wait_until(worker.connected.is_set)
        publisher = connect(SHARED_BROKER)
        early = [
            message(vid, base + timedelta(seconds=i), 120.16, 30.29, i, root) for i in range(3)
        ]
        assert publish_all(publisher, early) == 3
        # Processed and acknowledged: parked, not lost.
        wait_until(lambda: _parked(committed_db, vid) == 3)
        with committed_db.session_factory() as session:
            department = session.scalar(select(Department.id).where(Department.code == "ST-URB"))
        created = admin.post(
            "/api/v1/vehicles",
            json={
                "plate": f"ZJ-{vid[2:8]}",
                "department_id": department,
                "specialty": "low_voltage",
                "terminal_id": vid,
            },
        )
        assert created.status_code == 201, created.get_json()
        # The very next fixes count (no reload after a delay); the parked ones come back too.
        later = [
            message(vid, base + timedelta(seconds=i), 120.16, 30.29 + i * 1e-5, i, root)
            for i in range(3, 6)
        ]
        assert publish_all(publisher, later) == 3
        publisher.loop_stop()
        vehicle_id = created.get_json()["id"]
        wait_until(lambda: _stored(committed_db, vehicle_id) == 6)
        assert _parked(committed_db, vid) == 0
    finally:
        worker.stop()
        with committed_db.unit_of_work() as session:
            session.execute(delete(DeadLetter).where(DeadLetter.key == vid))
            session.execute(delete(IngestCounter).where(IngestCounter.key == vid))
            ids = select(Vehicle.id).where(Vehicle.terminal_id == vid)
            session.execute(delete(Position).where(Position.vehicle_id.in_(ids)))
            session.execute(delete(VehicleState).where(VehicleState.vehicle_id.in_(ids)))
            session.execute(delete(Vehicle).where(Vehicle.terminal_id == vid))


def _parked(database: Database, vid: str) -> int:
    with database.session_factory() as session:
        found: int = session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.key == vid)
        )
        return found


def _stored(database: Database, vehicle_id: int) -> int:
    with database.session_factory() as session:
        found: int = session.scalar(
            select(func.count()).select_from(Position).where(Position.vehicle_id == vehicle_id)
        )
        return found


def test_a_datum_change_applies_to_the_next_fix_without_a_speed_rejection(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    vehicle = demo.vehicles["ZJ-A1001"]
    assert vehicle.datum == "wgs84" and vehicle.terminal_id == "T-1001"
    pipeline = Pipeline()  # a running worker: it has read the registry before the change
    now = utcnow()
    # The terminal reports GCJ-02 (a Chinese phone) while the registry still says WGS-84.
    gcj = (120.1600, 30.2900)
    first = decode_message(*message("T-1001", now - timedelta(seconds=10), *gcj, 1), ROOT)
    assert pipeline.process(session, [first]).stored == 1
    response = api("admin").patch(f"/api/v1/vehicles/{vehicle.id}", json={"datum": "gcj02"})
    assert response.status_code == 200, response.get_json()
    # One second later the same place, now converted: ~500 m from the first, stored anyway.
    second = decode_message(*message("T-1001", now - timedelta(seconds=9), *gcj, 2), ROOT)
    report = pipeline.process(session, [second])
    assert report.stored == 1, report.counts
    stored = session.scalar(
        select(Position).where(Position.vehicle_id == vehicle.id, Position.seq == 2)
    )
    assert stored is not None and stored.datum == "gcj02"
    lon, lat = to_wgs84(*gcj, Datum.GCJ02)
    assert abs(stored.lon - lon) < 1e-9 and abs(stored.lat - lat) < 1e-9


def test_parked_messages_replay_from_the_cli(app: Any, session: Session, demo: DemoOrg) -> None:
    vid = "T-LATE-1"
    ts = utcnow() - timedelta(minutes=3)
    item = decode_message(*message(vid, ts, 120.17, 30.28, 7), ROOT)
    report = Pipeline().process(session, [item])
    assert report.stored == 0 and report.parked == 1
    assert session.scalar(select(IngestCounter.count).where(IngestCounter.key == vid)) == 1
    # Nothing to attribute yet: the replay leaves it parked, counting the attempt.
    result = app.test_cli_runner().invoke(main, ["ingest", "replay-dead-letters"])
    assert result.exit_code == 0, result.output
    assert "replayed 0 message(s)" in result.output and "1 still" in result.output
    session.add(
        Vehicle(
            plate="ZJ-LATE1",
            department_id=demo.departments["ST-URB"].id,
            specialty="low_voltage",
            terminal_id=vid,
        )
    )
    session.commit()
    result = app.test_cli_runner().invoke(main, ["ingest", "replay-dead-letters"])
    assert result.exit_code == 0, result.output
    assert "replayed 1 message(s) (1 position(s) stored)" in result.output
    stored = session.scalar(
        select(Position)
        .join(Vehicle, Vehicle.id == Position.vehicle_id)
        .where(Vehicle.terminal_id == vid)
    )
    assert stored is not None and stored.ts == ts and stored.seq == 7
    assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0


def test_inbound_without_the_raw_message_is_counted_not_parked(
    session: Session, demo: DemoOrg
) -> None:
    item = decode_message(*message("T-NONE", utcnow(), 120.1, 30.2, 1), ROOT)
    bare = Inbound(key=item.key, value=item.value, received_at=item.received_at)
    report = Pipeline().process(session, [bare])
    assert report.parked == 0 and [i.key for i in report.unattributed] == ["T-NONE"]
