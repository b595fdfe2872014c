"""The simulator drives a terminal end to end through the real ingest worker and Mosquitto."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from sqlalchemy import delete, select

from backend.db import Database, utcnow
from backend.org.models import Vehicle
from backend.tracking.ingest.worker import IngestWorker
from backend.tracking.models import Checkpoint, OutboundMessage, Position, TerminalMessage
from backend.tracking.simulator import Simulator, SimulatorSettings
from tests.tracking.brokers import unique_root, wait_until
from tests.tracking.orders import dispatched_to
from tests.tracking.test_ingest_mqtt import SHARED_BROKER, worker_settings

VID = "T-3001"
DEPOT = (120.2100, 30.2600)
SITE = (120.2130, 30.2620)  # about 370 m away


def test_simulated_terminal_acks_accepts_drives_and_arrives(committed_db: Database) -> None:
    root, started = unique_root(), utcnow()
    vehicle_id: int | None = None
    settings = worker_settings(SHARED_BROKER, root)
    settings.publish_orders, settings.outbox_every_s = True, 0.2
    worker = IngestWorker(committed_db, settings).start()
    simulator = Simulator(
        SimulatorSettings(
            mqtt_url=SHARED_BROKER,
            topic_root=root,
            fleet=[(VID, DEPOT)],
            vehicles=1,
            rate_hz=4,
            duration_s=60,
            time_scale=20,
            seed=7,
            run_id=uuid.uuid4().hex[:6],
        )
    )
    runner = threading.Thread(target=simulator.run)
    runner.start()
    order = dispatched_to(committed_db, VID, SITE)
    try:
        wait_until(worker.connected.is_set)
        order_id = order.__enter__()
        with committed_db.session_factory() as session:
            vehicle_id = session.scalar(select(Vehicle.id).where(Vehicle.terminal_id == VID))

        def points() -> set[tuple[str, str]]:
            with committed_db.session_factory() as session:
                rows = session.execute(
                    select(Checkpoint.point, Checkpoint.source).where(
                        Checkpoint.order_id == order_id
                    )
                )
                return {(p, s) for p, s in rows}

        wanted = {
            ("E", "terminal"),
            ("F", "terminal"),
            ("G", "geofence"),
            ("H", "geofence"),
            ("H", "terminal"),
        }
        wait_until(lambda: wanted <= points())
        assert simulator.stats["acks"] == 1
    finally:
        simulator.stop()
        runner.join()
        worker.stop()
        order.__exit__(None, None, None)
        with committed_db.unit_of_work() as session:
            for model in (Checkpoint, OutboundMessage, TerminalMessage):
                session.execute(delete(model).where(model.order_id == order_id))
            session.execute(
                delete(Position).where(
                    Position.vehicle_id == vehicle_id, Position.ts >= started - timedelta(hours=1)
                )
            )
