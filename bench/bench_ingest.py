"""Raw paho QoS 1 receive rate vs Fieldline's ingest into PostGIS, and publish→stored latency.

Usage: python bench/bench_ingest.py [--messages N] [--vehicles V]

Against a private Mosquitto (deploy/mosquitto/fieldline.conf) on loopback and a scratch PostGIS
database. Both consumers drain the same backlog, queued for their persistent session before they
connect, so the figures measure the consumer alone. Rates are per CPU-second of the consumer
process (its own process time), i.e. "per core". Prints figures and ratios, no thresholds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench._tracking_env import add_vehicles, private_mosquitto, scratch_postgis  # noqa: E402

ROOT_TOPIC = "bench/v1"


def _client(url: str, client_id: str, *, persistent: bool = True) -> mqtt.Client:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    client.connect(host, int(port), clean_start=not persistent, properties=props)
    return client


def register_session(url: str, client_id: str) -> None:
    """Create the consumer's persistent session so the broker queues the backlog for it."""
    client = _client(url, client_id)
    client.loop_start()
    client.subscribe(f"{ROOT_TOPIC}/vehicles/+/+", qos=1)
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


def fixes(vids: list[str], n: int, base: datetime) -> list[tuple[str, bytes]]:
    """`n` fixes round-robin over the vehicles, 1 s apart per vehicle, creeping along."""
    out = []
    for i in range(n):
        vid, k = vids[i % len(vids)], i // len(vids)
        body = {
            "ts": (base + timedelta(seconds=k)).isoformat(),
            "lat": 30.2 + k * 2e-5,
            "lon": 120.1 + (i % len(vids)) * 1e-3,
            "acc": 5,
            "speed": 2.0,
            "heading": 90,
            "batt": 80,
            "seq": k + 1,
        }
        out.append((f"{ROOT_TOPIC}/vehicles/{vid}/position", json.dumps(body).encode()))
    return out


def publish(url: str, messages: list[tuple[str, bytes]]) -> float:
    """Publish QoS 1 and wait for every PUBACK; return seconds taken."""
    client = _client(url, f"pub-{uuid.uuid4().hex[:6]}", persistent=False)
    client.loop_start()
    start = time.perf_counter()
    infos = [client.publish(t, p, qos=1) for t, p in messages]
    for info in infos:
        info.wait_for_publish(120)
    took = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return took


def raw_consumer(url: str, client_id: str, expected: int, out: multiprocessing.Queue) -> None:
    """(a) paho receive with no processing: count messages, auto-ack."""
    from backend.tracking.ingest.worker import tune_gc_for_ingest

    tune_gc_for_ingest()  # the same process tuning as the ingest, so only the work differs
    received = 0
    done = threading.Event()

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal received
        received += 1
        if received >= expected:
            done.set()

    client = _client(url, client_id)
    client.on_message = on_message
    cpu, wall = time.process_time(), time.perf_counter()
    client.loop_start()
    done.wait(300)
    out.put((received, time.perf_counter() - wall, time.process_time() - cpu))
    client.disconnect()
    client.loop_stop()


def ingest_consumer(
    url: str, db_url: str, client_id: str, expected: int, out: multiprocessing.Queue
) -> None:
    """(b) Fieldline's ingest worker: decode, filter, store in PostGIS, ack after commit."""
    from backend.tracking.ingest.worker import IngestSettings, IngestWorker, tune_gc_for_ingest
    from backend.tracking.models import Position
    from backend.wiring import open_database

    tune_gc_for_ingest()  # as `fieldline ingest` does
    database = open_database(db_url)
    settings = IngestSettings(
        mqtt_url=url,
        topic_root=ROOT_TOPIC,
        client_id=client_id,
        publish_orders=False,
        owntracks=False,
        batch_size=1000,
        liveness_every_s=3600,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    worker = IngestWorker(database, settings).start()
    while worker.stored < expected:
        time.sleep(0.02)
    took_wall, took_cpu = time.perf_counter() - wall, time.process_time() - cpu
    with database.session_factory() as session:
        rows = session.scalar(select(func.count()).select_from(Position))
    out.put((rows, took_wall, took_cpu, worker.batches))
    worker.stop()


def latency(url: str, db_url: str, vids: list[str], rate: int, seconds: float) -> list[float]:
    """Publish at `rate`/s with a live worker; publish→stored from the fix ts to recorded_at."""
    from backend.tracking.ingest.worker import IngestSettings, IngestWorker
    from backend.tracking.models import Position
    from backend.wiring import open_database

    database = open_database(db_url)
    settings = IngestSettings(
        mqtt_url=url,
        topic_root=ROOT_TOPIC,
        client_id=f"lat-{uuid.uuid4().hex[:6]}",
        publish_orders=False,
        owntracks=False,
        liveness_every_s=3600,
    )
    worker = IngestWorker(database, settings).start()
    worker.connected.wait(10)
    time.sleep(0.5)
    client = _client(url, f"latpub-{uuid.uuid4().hex[:6]}", persistent=False)
    client.loop_start()
    start = datetime.now(UTC)
    sent, seq = 0, 10_000_000
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        due = int((time.perf_counter() - t0) * rate)
        while sent < due:
            vid = vids[sent % len(vids)]
            seq += 1
            body = {"ts": datetime.now(UTC).isoformat(), "lat": 30.3, "lon": 120.3, "seq": seq}
            client.publish(f"{ROOT_TOPIC}/vehicles/{vid}/position", json.dumps(body), qos=1)
            sent += 1
        time.sleep(0.001)
    deadline = time.time() + 30
    while time.time() < deadline:
        with database.session_factory() as session:
            rows = session.execute(
                select(Position.ts, Position.recorded_at).where(Position.ts >= start)
            ).all()
        if len(rows) >= sent:
            break
        time.sleep(0.2)
    worker.stop()
    client.disconnect()
    client.loop_stop()
    return [(recorded - ts).total_seconds() * 1000 for ts, recorded in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--rate", type=int, default=500, help="Messages/s in the latency run.")
    args = parser.parse_args()
    n = args.messages
    ctx = multiprocessing.get_context("spawn")
    with scratch_postgis() as database, private_mosquitto() as url:
        vids = [vid for _, vid in add_vehicles(database, args.vehicles)]
        base = datetime.now(UTC) - timedelta(hours=2)
        messages = fixes(vids, n, base)
        print(f"{n} QoS 1 position messages from {len(vids)} vehicles; Mosquitto at {url}")

        raw_id, ingest_id = f"raw-{uuid.uuid4().hex[:6]}", f"ingest-{uuid.uuid4().hex[:6]}"
        register_session(url, raw_id)
        register_session(url, ingest_id)
        took = publish(url, messages)
        print(f"published in {took:.1f} s ({n / took:,.0f} msg/s), queued for both consumers")

        out: multiprocessing.Queue = ctx.Queue()
        proc = ctx.Process(target=raw_consumer, args=(url, raw_id, n, out))
        proc.start()
        got, wall, cpu = out.get(timeout=300)
        proc.join()
        raw_rate = got / cpu
        print(
            f"(a) raw paho receive : {got} msgs, {wall:.2f} s wall, {cpu:.2f} s CPU "
            f"-> {got / wall:,.0f} msg/s wall, {raw_rate:,.0f} msg/s per core"
        )

        proc = ctx.Process(target=ingest_consumer, args=(url, database.url, ingest_id, n, out))
        proc.start()
        rows, wall, cpu, batches = out.get(timeout=300)
        proc.join()
        ingest_rate = rows / cpu
        print(
            f"(b) Fieldline ingest : {rows} rows in PostGIS, {batches} batches, {wall:.2f} s "
            f"wall, {cpu:.2f} s CPU -> {rows / wall:,.0f} rows/s wall, "
            f"{ingest_rate:,.0f} rows/s per core (ingest process)"
        )
        print(f"(b)/(a) per core     : {ingest_rate / raw_rate:.2f}")

        lat = sorted(latency(url, database.url, vids, args.rate, 5.0))
        if lat:
            p50 = statistics.median(lat)
            p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
            print(
                f"publish->stored at {args.rate} msg/s: n={len(lat)} p50 {p50:.1f} ms, "
                f"p95 {p95:.1f} ms"
            )


if __name__ == "__main__":
    main()
