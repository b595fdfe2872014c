"""The ingest frozen past its keepalive while vehicles publish QoS 1: the broker drops it and
queues for its session; once it runs again it stores every acknowledged fix exactly once and
drains the backlog.

Bounded: five vehicles, a few thousand fixes, a freeze of a few seconds (keepalive 1 s).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from backend.db import Database
from tests.conftest import BackendRun
from tests.faults.stack import Service, fieldline
from tests.tracking.brokers import Mosquitto, connect, publish_all, unique_root, wait_until

VEHICLES = ["T-1001", "T-1002", "T-2001", "T-3001", "T-4001"]
KEEPALIVE_S = 1  # the broker drops a silent client after 1.5 keepalives
FREEZE_S = 8  # Mosquitto 2.0 checks keepalives every 5-6 s
RATE = 1000  # fixes per second, all vehicles together

pytestmark = pytest.mark.slow


@pytest.fixture
def base(committed_db: Database) -> Iterator[datetime]:
    """A day of 2024 of our own (other committed tests use 2025)."""
    day = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 360)
    yield day
    with committed_db.unit_of_work() as session:
        session.execute(
            text("DELETE FROM positions WHERE ts >= :day AND ts < :end"),
            {"day": day, "end": day + timedelta(days=1)},
        )


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto().start()
    yield broker
    broker.close()


class Fleet:
    """Vehicles publishing fixes QoS 1 at `RATE`; remembers each fix the broker acknowledged."""

    def __init__(self, broker: Mosquitto, root: str, base: datetime) -> None:
        self.client = connect(broker.url, client_id=f"frozen-pub-{uuid.uuid4().hex[:6]}")
        self.root, self.base = root, base
        self.acked: set[tuple[str, int]] = set()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.seq = 0

    def fixes(self, seq: int) -> list[tuple[str, bytes]]:
        """One fix of every vehicle, `seq` seconds after the base (a slow, steady creep)."""
        ts = (self.base + timedelta(seconds=seq)).isoformat()
        return [
            (
                f"{self.root}/vehicles/{vid}/position",
                json.dumps(
                    {"ts": ts, "lat": 30.25 + seq * 1e-6, "lon": 120.1 + i * 0.01, "seq": seq}
                ).encode(),
            )
            for i, vid in enumerate(VEHICLES)
        ]

    def _run(self) -> None:
        rounds = max(1, RATE // len(VEHICLES) // 10)  # ten sends a second
        while not self.stopping.is_set():
            started = time.monotonic()
            sent = []
            for _ in range(rounds):
                self.seq += 1
                for (topic, payload), vid in zip(self.fixes(self.seq), VEHICLES, strict=True):
                    sent.append(((vid, self.seq), self.client.publish(topic, payload, qos=1)))
            for key, info in sent:
                try:
                    info.wait_for_publish(timeout=10)
                except (RuntimeError, ValueError):
                    continue
                if info.is_published():  # the broker has it: it must be stored
                    self.acked.add(key)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

    def start(self) -> Fleet:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(30)
        self.client.loop_stop()


# PostGIS only: the soak's and production's backend; both backends would double the CI time.
@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_frozen_ingest_stores_every_acked_fix_once_and_catches_up(
    backend: BackendRun, committed_db: Database, base: datetime, mosquitto: Mosquitto
) -> None:
    root = unique_root()
    env = {
        **os.environ,
        "DATABASE_URL": backend.url,
        "MQTT_URL": mosquitto.url,
        "MQTT_TOPIC_ROOT": root,
        "INGEST_CLIENT_ID": f"frozen-{uuid.uuid4().hex[:8]}",
        "INGEST_KEEPALIVE_SECONDS": str(KEEPALIVE_S),
        "LOG_LEVEL": "INFO",
    }
    ingest = Service("ingest-frozen", fieldline("ingest", "--no-orders"), env)

    def stored() -> list[tuple[str, int]]:
        with committed_db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT v.terminal_id, p.seq FROM positions p JOIN vehicles v "
                    "ON v.id = p.vehicle_id WHERE p.ts >= :day AND p.ts < :end"
                ),
                {"day": base, "end": base + timedelta(days=1)},
            )
            return [(vid, int(seq)) for vid, seq in rows]

    ingest.start()
    assert ingest.process is not None
    fleet = Fleet(mosquitto, root, base)
    try:
        # Until the ingest subscribed, no session queues for it: probe until a fix is stored.
        wait_until(lambda: publish_all(fleet.client, fleet.fixes(0)) and stored())
        fleet.start()
        wait_until(lambda: len(stored()) > 2 * RATE)
        os.killpg(ingest.process.pid, signal.SIGSTOP)
        time.sleep(FREEZE_S)
        os.killpg(ingest.process.pid, signal.SIGCONT)
        time.sleep(3)  # the fleet keeps publishing onto the backlog
        fleet.stop()
        published = fleet.acked | {(vid, 0) for vid in VEHICLES}
        # A bound on waiting only: a stalled ingest never gets there.
        wait_until(lambda: len(stored()) >= len(published), timeout=60)
        rows = stored()
        assert len(rows) == len(set(rows)) and set(rows) >= published
        assert len(published) > 5 * RATE
        # The freeze really cost the connection: the ingest came back on its session.
        assert ingest.log.read_text().count("session present: True") >= 1, ingest.tail()
    except BaseException:
        print(f"--- ingest log\n{ingest.tail(60)}")  # noqa: T201
        raise
    finally:
        if ingest.process is not None:  # a failed assertion must not leave it frozen
            os.killpg(ingest.process.pid, signal.SIGCONT)
        fleet.stop()
        ingest.stop()
