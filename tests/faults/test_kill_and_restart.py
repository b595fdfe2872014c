"""Fault injection under load: kill -9 the API, the ingest and the worker; restart Mosquitto and
PostgreSQL; then count what was acknowledged but lost, and what was stored twice: all 0.

Bounded: a handful of vehicles at 10 Hz and one handheld pushing, for about a minute.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backend.demo import DEMO_DEVICE_SECRET
from bench._loopback import call_json, healthy
from sync.protocol import format_time
from tests.faults.stack import PrivateCluster, Service, fieldline, gunicorn
from tests.tracking.brokers import Mosquitto, connect, free_port, wait_until

VEHICLES = ["T-1001", "T-1002", "T-2001", "T-3001", "T-4001"]
ROOT = "faults/v1"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    cluster = PrivateCluster()
    try:
        cluster.create_database()
        yield cluster
    finally:
        cluster.drop()


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto().start()
    try:
        yield broker
    finally:
        broker.close()


def _env(cluster: PrivateCluster, broker: Mosquitto, blobs: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "MQTT_URL": broker.url,
        "MQTT_TOPIC_ROOT": ROOT,
        "INGEST_CLIENT_ID": "faults-ingest",
        "SECRET_KEY": "faults-" + "k" * 40,
        "BLOB_DIR": blobs,
        "LOG_LEVEL": "WARNING",
    }


class Load:
    """Vehicles publishing fixes (QoS 1) and a handheld pushing readings, counting acks."""

    def __init__(self, broker: Mosquitto, api_port: int) -> None:
        self.broker, self.port = broker, api_port
        self.acked_fixes: set[tuple[str, int]] = set()
        self.acked_mutations: set[str] = set()
        self.stopping = threading.Event()
        self.base = datetime.now(UTC) - timedelta(minutes=30)
        self.threads = [
            threading.Thread(target=self._publish, daemon=True),
            threading.Thread(target=self._push, daemon=True),
        ]

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)

    def _publish(self) -> None:
        client = connect(self.broker.url, client_id=f"faults-pub-{uuid.uuid4().hex[:6]}")
        seq = 0
        while not self.stopping.is_set():
            seq += 1
            sent = []
            for i, vid in enumerate(VEHICLES):
                body = {
                    "ts": (self.base + timedelta(seconds=seq)).isoformat(),
                    "lat": 30.25 + seq * 1e-5,
                    "lon": 120.10 + i * 0.01,
                    "acc": 5,
                    "seq": seq,
                }
                topic = f"{ROOT}/vehicles/{vid}/position"
                sent.append((vid, client.publish(topic, json.dumps(body), qos=1)))
            for vid, info in sent:
                try:
                    info.wait_for_publish(timeout=5)
                except (RuntimeError, ValueError):
                    continue
                if info.is_published():  # the broker acknowledged it: it must be stored
                    self.acked_fixes.add((vid, seq))
            time.sleep(0.1)
        client.loop_stop()

    def _push(self) -> None:
        token = None
        while not self.stopping.is_set():
            try:
                if token is None:
                    body = {"identifier": "H-1001", "secret": DEMO_DEVICE_SECRET}
                    status, reply = call_json(self.port, "POST", "/api/v1/auth/device-login", body)
                    token = reply["access_token"] if status == 200 else None
                    continue
                mutation = {
                    "mutation_id": str(uuid.uuid4()),
                    "entity": "meter_reading",
                    "id": str(uuid.uuid4()),
                    "op": "append",
                    "base_version": None,
                    "fields": {
                        "meter_id": str(uuid.uuid4()),
                        "value": 1234.5,
                        "reading_kind": "kwh",
                        "read_at": format_time(datetime.now(UTC)),
                    },
                    "occurred_at": format_time(datetime.now(UTC)),
                }
                batch = {
                    "device_id": "H-1001",
                    "batch_id": str(uuid.uuid4()),
                    "sent_at": format_time(datetime.now(UTC)),
                    "mutations": [mutation],
                }
                # A client retries the same batch until it gets an answer (replays are no-ops).
                while not self.stopping.is_set():
                    try:
                        status, reply = call_json(
                            self.port, "POST", "/api/v1/sync/push", batch, token
                        )
                    except OSError:
                        time.sleep(0.2)
                        continue
                    if status == 200:
                        [verdict] = reply["verdicts"]
                        if verdict["verdict"] in ("applied", "duplicate"):
                            self.acked_mutations.add(mutation["id"])
                        break
                    if status == 401:
                        token = None
                        break
                    time.sleep(0.2)  # 503 while the database restarts
            except OSError:
                time.sleep(0.2)
            time.sleep(0.05)


def test_acknowledged_data_survives_kills_and_restarts(
    cluster: PrivateCluster, mosquitto: Mosquitto, tmp_path: Any
) -> None:
    env = _env(cluster, mosquitto, str(tmp_path / "blobs"))
    import subprocess

    subprocess.run(fieldline("db", "upgrade"), env=env, check=True, capture_output=True)  # noqa: S603
    subprocess.run(fieldline("seed-demo"), env=env, check=True, capture_output=True)  # noqa: S603
    port = free_port()
    api = Service("api", gunicorn(port), env, ready=lambda: healthy(port))
    ingest = Service("ingest", fieldline("ingest"), env)
    worker = Service("worker", fieldline("worker", "--interval", "1"), env)
    services = [api, ingest, worker]
    engine = create_engine(
        cluster.url.replace("postgresql://", "postgresql+psycopg://"), pool_pre_ping=True
    )

    def stored_fixes() -> set[tuple[str, int]]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT v.terminal_id, p.seq FROM positions p JOIN vehicles v "
                    "ON v.id = p.vehicle_id WHERE p.ts >= :base"
                ),
                {"base": load.base},
            )
            return {(vid, int(seq)) for vid, seq in rows}

    for service in services:
        service.start()
    load = Load(mosquitto, port)
    try:
        # Until the ingest subscribed, no session queues for it: probe until a fix is stored.
        probe = connect(mosquitto.url, client_id="faults-probe")
        body = {"ts": load.base.isoformat(), "lat": 30.25, "lon": 120.1, "acc": 5, "seq": 0}
        topic = f"{ROOT}/vehicles/{VEHICLES[0]}/position"
        wait_until(lambda: probe.publish(topic, json.dumps(body), qos=1) and stored_fixes())
        probe.loop_stop()
        load.start()
        wait_until(lambda: len(stored_fixes()) > 20)
        for fault in (
            ingest.kill9,
            ingest.start,
            api.kill9,
            api.start,
            worker.kill9,
            worker.start,
            mosquitto.restart,
            cluster.restart,
        ):
            time.sleep(2)
            fault()
        time.sleep(3)
        load.stop()

        def caught_up() -> bool:
            return load.acked_fixes <= stored_fixes()

        wait_until(caught_up, timeout=120)
        with engine.connect() as conn:
            duplicates = conn.execute(
                text(
                    "SELECT count(*) - count(DISTINCT (vehicle_id, ts, seq)) FROM positions "
                    "WHERE ts >= :base"
                ),
                {"base": load.base},
            ).scalar_one()
            mutation_ids = list(load.acked_mutations)
            stored_mutations = conn.execute(
                text("SELECT id::text FROM meter_readings WHERE id::text = ANY(:ids)"),
                {"ids": mutation_ids},
            ).all()
            twice = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT order_id, dispatch_round, point, source "
                    "FROM tracking_checkpoints GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"
                )
            ).scalar_one()
        lost_fixes = load.acked_fixes - stored_fixes()
        lost_mutations = set(mutation_ids) - {row[0] for row in stored_mutations}
        assert len(load.acked_fixes) > 100 and len(load.acked_mutations) > 10
        assert (len(lost_fixes), len(lost_mutations), duplicates, twice) == (0, 0, 0, 0)
    except BaseException:
        for service in services:
            print(f"--- {service.name} log\n{service.tail()}")  # noqa: T201
        raise
    finally:
        load.stop()
        for service in services:
            service.stop()
        engine.dispose()
