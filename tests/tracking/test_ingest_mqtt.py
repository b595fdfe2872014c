"""The ingest worker against real brokers: exactly-once storage, kill -9, broker restart, amqtt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from backend.db import Database
from backend.demo.broker import EmbeddedBroker
from backend.tracking.ingest.worker import IngestSettings, IngestWorker
from backend.tracking.models import IngestCounter, Position
from tests.conftest import BackendRun
from tests.tracking.brokers import Mosquitto, connect, publish_all, unique_root, wait_until
from tests.tracking.orders import dispatched_to

SHARED_BROKER = os.environ.get("FIELDLINE_TEST_MQTT", "mqtt://127.0.0.1:1883")
VID = "T-4001"  # the water crew's vehicle: no other test writes committed rows for it


def fixes(root: str, n: int, base: datetime, first_seq: int = 1) -> list[tuple[str, bytes]]:
    """Fixes one second apart, creeping north-east (well inside every filter)."""
    return [
        (
            f"{root}/vehicles/{VID}/position",
            json.dumps(
                {
                    "ts": (base + timedelta(seconds=i)).isoformat(),
                    "lat": 30.25 + (first_seq + i) * 1e-5,
                    "lon": 120.14 + (first_seq + i) * 1e-5,
                    "acc": 5,
                    "speed": 1.2,
                    "seq": first_seq + i,
                }
            ).encode(),
        )
        for i in range(n)
    ]


def stored(database: Database, base: datetime) -> int:
    with database.session_factory() as session:
        count: int = session.scalar(
            select(func.count())
            .select_from(Position)
            .where(Position.ts >= base, Position.ts < base + timedelta(days=1))
        )
        return count


def counter(database: Database, reason: str, key: str = VID) -> int:
    with database.session_factory() as session:
        value = session.scalar(
            select(IngestCounter.count).where(
                IngestCounter.key == key, IngestCounter.reason == reason
            )
        )
        return int(value or 0)


@pytest.fixture
def base_time(committed_db: Database) -> Iterator[datetime]:
    """A day of 2025 of our own: committed rows of this test never meet another test's."""
    base = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=uuid.uuid4().int % 360)
    yield base
    with committed_db.unit_of_work() as session:
        session.execute(
            delete(Position).where(Position.ts >= base, Position.ts < base + timedelta(days=1))
        )


def worker_settings(url: str, root: str, **kwargs: object) -> IngestSettings:
    return IngestSettings(
        mqtt_url=url,
        topic_root=root,
        client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        owntracks=False,
        publish_orders=False,
        **kwargs,  # type: ignore[arg-type]
    )


def test_worker_stores_each_message_once_and_counts_bad_ones(
    committed_db: Database, base_time: datetime
) -> None:
    root = unique_root()
    worker = IngestWorker(committed_db, worker_settings(SHARED_BROKER, root)).start()
    try:
        wait_until(worker.connected.is_set)
        before = counter(committed_db, "malformed_json")
        publisher = connect(SHARED_BROKER)
        messages = fixes(root, 300, base_time)
        messages += [(f"{root}/vehicles/{VID}/position", b"{oops")]
        messages += messages[:50]  # a terminal resending after a lost PUBACK
        assert publish_all(publisher, messages) == len(messages)
        publisher.loop_stop()
        wait_until(lambda: counter(committed_db, "malformed_json") > before)
        wait_until(lambda: stored(committed_db, base_time) == 300)
        assert counter(committed_db, "malformed_json") == before + 1
    finally:
        worker.stop()


@pytest.fixture
def mosquitto() -> Iterator[Mosquitto]:
    broker = Mosquitto().start()
    yield broker
    broker.close()


def test_worker_reconnects_after_mosquitto_restart(
    committed_db: Database, base_time: datetime, mosquitto: Mosquitto
) -> None:
    root = unique_root()
    worker = IngestWorker(committed_db, worker_settings(mosquitto.url, root)).start()
    try:
        wait_until(worker.connected.is_set)
        publisher = connect(mosquitto.url)
        publish_all(publisher, fixes(root, 100, base_time))
        publisher.loop_stop()
        wait_until(lambda: stored(committed_db, base_time) == 100)
        mosquitto.restart()
        publisher = connect(mosquitto.url)
        publish_all(publisher, fixes(root, 100, base_time + timedelta(seconds=100), 101))
        publisher.loop_stop()
        wait_until(lambda: stored(committed_db, base_time) == 200)
        assert worker.connects >= 2
    finally:
        worker.stop()


@pytest.mark.slow
def test_kill_9_mid_stream_loses_and_duplicates_nothing(
    backend: BackendRun, committed_db: Database, base_time: datetime, mosquitto: Mosquitto
) -> None:
    root, client_id = unique_root(), f"ingest-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": backend.url,
        "MQTT_URL": mosquitto.url,
        "MQTT_TOPIC_ROOT": root,
        "INGEST_CLIENT_ID": client_id,
        "INGEST_BATCH_SIZE": "50",
        "LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).parent / "fieldline"), "ingest", "--no-orders"]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603

    total = 3000
    worker = start()
    publisher = connect(mosquitto.url, client_id=f"pub-{client_id}")
    try:
        # Until the worker subscribed, nothing is queued for it: wait for its first fix.
        wait_until(
            lambda: (
                publish_all(publisher, fixes(root, 1, base_time))
                and stored(committed_db, base_time)
            )
        )
        # The first half streams in while the worker runs; it is killed as soon as some of it
        # is stored, so part of that half is in flight (delivered, not yet acknowledged).
        stream = fixes(root, total - 1, base_time + timedelta(seconds=1), 2)
        half = len(stream) // 2
        sender = threading.Thread(target=publish_all, args=(publisher, stream[:half]))
        sender.start()
        wait_until(lambda: stored(committed_db, base_time) > 300, every=0.01)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        at_kill = stored(committed_db, base_time)
        sender.join()
        # The second half arrives while no worker runs: the broker keeps it for the session.
        publish_all(publisher, stream[half:])
        worker = start()
        wait_until(lambda: stored(committed_db, base_time) >= total)
        assert stored(committed_db, base_time) == total
        assert at_kill <= half + 1 < total  # the kill really came mid-stream
    finally:
        publisher.loop_stop()
        worker.send_signal(signal.SIGKILL)
        worker.wait()


def test_embedded_amqtt_broker_path(committed_db: Database, base_time: datetime) -> None:
    broker = EmbeddedBroker(port=21883).start()
    root = unique_root()
    worker = IngestWorker(committed_db, worker_settings(broker.url, root, mqtt_version=4)).start()
    try:
        wait_until(worker.connected.is_set)
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        publish_all(publisher, fixes(root, 50, base_time))
        publisher.loop_stop()
        wait_until(lambda: stored(committed_db, base_time) == 50)
    finally:
        worker.stop()
        broker.stop()


def test_orders_reach_the_terminal_and_its_ack_sets_e(committed_db: Database) -> None:
    from backend.tracking.models import Checkpoint, OutboundMessage, TerminalMessage

    root = unique_root()
    terminal = connect(SHARED_BROKER)
    received: list[dict[str, object]] = []
    with dispatched_to(committed_db, VID, (120.15, 30.26), address="1 Test Rd") as order_id:

        def on_order(_c: object, _u: object, msg: object) -> None:
            body = json.loads(msg.payload)  # type: ignore[attr-defined]
            if body.get("order_id") == order_id and body.get("kind") == "order":
                received.append(body)
                now = datetime.now(UTC).isoformat()
                ack = {"order_id": order_id, "message_id": body["message_id"], "ts": now}
                terminal.publish(f"{root}/vehicles/{VID}/ack", json.dumps(ack), qos=1)

        terminal.on_message = on_order
        terminal.subscribe(f"{root}/vehicles/{VID}/orders", qos=1)
        settings = worker_settings(SHARED_BROKER, root)
        settings.publish_orders, settings.outbox_every_s = True, 0.2
        worker = IngestWorker(committed_db, settings).start()

        def e_recorded() -> bool:
            with committed_db.session_factory() as session:
                return bool(
                    session.scalar(
                        select(Checkpoint.id).where(
                            Checkpoint.order_id == order_id, Checkpoint.point == "E"
                        )
                    )
                )

        try:
            wait_until(e_recorded)
            assert len(received) == 1 and received[0]["address"] == "1 Test Rd"
        finally:
            worker.stop()
            terminal.loop_stop()
    with committed_db.unit_of_work() as session:
        for model in (Checkpoint, OutboundMessage, TerminalMessage):
            session.execute(delete(model).where(model.order_id == order_id))


def test_shared_subscription_splits_the_stream(
    committed_db: Database, base_time: datetime, mosquitto: Mosquitto
) -> None:
    root = unique_root()
    workers = [
        IngestWorker(
            committed_db, worker_settings(mosquitto.url, root, shared_group="ingest")
        ).start()
        for _ in range(2)
    ]
    try:
        for worker in workers:
            wait_until(worker.connected.is_set)
        publisher = connect(mosquitto.url)
        publish_all(publisher, fixes(root, 400, base_time))
        publisher.loop_stop()
        wait_until(lambda: stored(committed_db, base_time) == 400)
        # Each message went to one worker only; the broker used both. (A worker counts a batch
        # after it committed and acknowledged it: wait for the counters too.)
        wait_until(lambda: sum(w.stored for w in workers) >= 400)
        assert sum(w.stored for w in workers) == 400
        assert all(w.stored > 0 for w in workers)
    finally:
        for worker in workers:
            worker.stop()


def test_two_workers_on_a_shared_subscription_store_each_message_once(
    committed_db: Database, base_time: datetime
) -> None:
    root, group = unique_root(), f"fl-{uuid.uuid4().hex[:8]}"
    workers = [
        IngestWorker(committed_db, worker_settings(SHARED_BROKER, root, shared_group=group))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    publisher = connect(SHARED_BROKER)
    try:
        for worker in workers:
            wait_until(worker.connected.is_set)
        # Until both subscribed, the group may have no member to queue for: probe first.
        wait_until(
            lambda: (
                publish_all(publisher, fixes(root, 1, base_time))
                and stored(committed_db, base_time)
                and all(w.connects for w in workers)
            )
        )
        publish_all(publisher, fixes(root, 600, base_time + timedelta(seconds=1), 2))
        wait_until(lambda: stored(committed_db, base_time) >= 601)
        assert stored(committed_db, base_time) == 601
        # A worker counts a batch just after its commit: wait for the counters to catch up too.
        wait_until(lambda: sum(worker.stored for worker in workers) >= 601)
        # The broker split the stream: both stored some, neither stored anything twice.
        assert all(worker.stored > 0 for worker in workers)
        assert sum(worker.stored for worker in workers) == 601
    finally:
        publisher.loop_stop()
        for worker in workers:
            worker.stop()
