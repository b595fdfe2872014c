"""Raw paho QoS 1 receive rate vs Fieldline's ingest into PostGIS, and publish→stored latency.

Usage: python bench/bench_ingest.py [--messages N] [--vehicles V] [--fleet F] [--seconds S]

Against a private Mosquitto (deploy/mosquitto/fieldline.conf) on loopback and a scratch PostGIS
database. Both consumers drain the same backlog, queued for their persistent session before they
connect, so the figures measure the consumer alone. Rates are per CPU-second of the consumer
process (its own process time), i.e. "per core". Then the same backlog size drained by 1 and by
2 worker processes on an MQTT 5 shared subscription (wall-clock scaling), and a live run of F
vehicles reporting once a second: publish→stored (commit and ack) of every fix against
publish→received of a bare paho subscriber in the same run. Prints figures and ratios, no
thresholds; records them in var/bench/ingest.json for the report.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bench._results import Measure, record  # noqa: E402
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


def register_session(url: str, client_id: str, prefix: str = "") -> None:
    """Create the consumer's persistent session so the broker queues the backlog for it."""
    client = _client(url, client_id)
    client.loop_start()
    client.subscribe(f"{prefix}{ROOT_TOPIC}/vehicles/+/+", qos=1)
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


def group_consumer(
    url: str, db_url: str, client_id: str, group: str, target: int, out: multiprocessing.Queue
) -> None:
    """(c) One of N workers on the shared subscription `$share/{group}/...`: drain until the
    database holds `target` rows, report (own rows, wall, CPU)."""
    from backend.tracking.ingest.worker import IngestSettings, IngestWorker, tune_gc_for_ingest
    from backend.tracking.models import Position
    from backend.wiring import open_database

    tune_gc_for_ingest()
    database = open_database(db_url)
    settings = IngestSettings(
        mqtt_url=url,
        topic_root=ROOT_TOPIC,
        client_id=client_id,
        shared_group=group,
        publish_orders=False,
        owntracks=False,
        batch_size=1000,
        liveness_every_s=3600,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    worker = IngestWorker(database, settings).start()
    rows = 0
    while rows < target:
        time.sleep(0.05)
        with database.session_factory() as session:
            rows = session.scalar(select(func.count()).select_from(Position)) or 0
    out.put((worker.stored, time.perf_counter() - wall, time.process_time() - cpu))
    worker.stop()


def shared_run(ctx: Any, url: str, db_url: str, vids: list[str], n: int, workers: int) -> tuple:
    """Drain a backlog of `n` fixes with `workers` processes on one shared subscription."""
    from backend.tracking.models import Position
    from backend.wiring import open_database

    group = f"bench{uuid.uuid4().hex[:6]}"
    ids = [f"{group}-{i}" for i in range(workers)]
    for client_id in ids:
        register_session(url, client_id, f"$share/{group}/")
    database = open_database(db_url)
    with database.session_factory() as session:
        before = session.scalar(select(func.count()).select_from(Position)) or 0
    database.engine.dispose()
    # Fixes of another day, so none of them is a duplicate of an earlier run's.
    publish(url, fixes(vids, n, datetime.now(UTC) - timedelta(days=1 + workers)))
    out: multiprocessing.Queue = ctx.Queue()
    procs = [
        ctx.Process(target=group_consumer, args=(url, db_url, cid, group, before + n, out))
        for cid in ids
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    wall = max(r[1] for r in results)
    return n / wall, [r[0] for r in results], sum(r[2] for r in results)


def timed_worker(url: str, db_url: str, control: multiprocessing.Queue, out: Any) -> None:
    """The ingest worker, timing each fix from its publication (its `ts`) to its commit+ack."""
    from backend.tracking.ingest.decode import PositionFix
    from backend.tracking.ingest.worker import IngestSettings, IngestWorker, tune_gc_for_ingest
    from backend.wiring import open_database

    latencies: list[float] = []

    class TimedWorker(IngestWorker):
        def _write(self, batch: list[Any]) -> Any:
            report = super()._write(batch)
            if report is not None:
                done = datetime.now(UTC)
                for received in batch:
                    value = received.inbound.value
                    if isinstance(value, PositionFix):
                        latencies.append((done - value.ts).total_seconds() * 1000)
            return report

    tune_gc_for_ingest()
    settings = IngestSettings(
        mqtt_url=url,
        topic_root=ROOT_TOPIC,
        client_id=f"lat-{uuid.uuid4().hex[:6]}",
        publish_orders=False,
        owntracks=False,
        liveness_every_s=3600,
    )
    worker = TimedWorker(open_database(db_url), settings).start()
    worker.connected.wait(10)
    time.sleep(1)
    out.put("ready")
    sent = control.get()
    deadline = time.monotonic() + 60
    while len(latencies) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    out.put(list(latencies))
    worker.stop()


def raw_timer(url: str, control: multiprocessing.Queue, out: Any) -> None:
    """Baseline: a bare paho subscriber timing each fix from its publication to its receipt."""
    latencies: list[float] = []

    def on_message(_c: object, _u: object, msg: Any) -> None:
        ts = datetime.fromisoformat(json.loads(msg.payload)["ts"])
        latencies.append((datetime.now(UTC) - ts).total_seconds() * 1000)

    client = _client(url, f"rawlat-{uuid.uuid4().hex[:6]}", persistent=False)
    client.on_message = on_message
    client.loop_start()
    client.subscribe(f"{ROOT_TOPIC}/vehicles/+/position", qos=1)
    time.sleep(1)
    out.put("ready")
    sent = control.get()
    deadline = time.monotonic() + 60
    while len(latencies) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    out.put(list(latencies))
    client.disconnect()
    client.loop_stop()


def latency(
    ctx: Any, url: str, db_url: str, vids: list[str], seconds: float
) -> tuple[list[float], list[float]]:
    """Every vehicle reports once a second for `seconds`: publish→received (bare paho) and
    publish→stored (the ingest worker) of every fix, each in its own process."""
    queues = [(ctx.Queue(), ctx.Queue()) for _ in range(2)]
    procs = [
        ctx.Process(target=raw_timer, args=(url, *queues[0])),
        ctx.Process(target=timed_worker, args=(url, db_url, *queues[1])),
    ]
    for proc in procs:
        proc.start()
    for _, out in queues:
        assert out.get(timeout=60) == "ready"
    client = _client(url, f"latpub-{uuid.uuid4().hex[:6]}", persistent=False)
    client.loop_start()
    rate = len(vids)  # 1 Hz each
    sent, seq = 0, 10_000_000
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        due = int((time.perf_counter() - t0) * rate)
        while sent < due:
            vid = vids[sent % len(vids)]
            seq += 1
            body = {
                "ts": datetime.now(UTC).isoformat(),
                "lat": 30.3 + (sent // len(vids)) * 1e-5,
                "lon": 120.3,
                "seq": seq,
            }
            client.publish(f"{ROOT_TOPIC}/vehicles/{vid}/position", json.dumps(body), qos=1)
            sent += 1
        time.sleep(0.002)
    for control, _ in queues:
        control.put(sent)
    raw, stored = (out.get(timeout=120) for _, out in queues)
    for proc in procs:
        proc.join()
    client.disconnect()
    client.loop_stop()
    return sorted(raw), sorted(stored)


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--fleet", type=int, default=2000, help="Vehicles at 1 Hz (latency).")
    parser.add_argument("--seconds", type=float, default=20, help="Length of the latency run.")
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

        scaling = {}
        for workers in (1, 2):
            rate, split, cpu = shared_run(ctx, url, database.url, vids, n, workers)
            scaling[workers] = rate
            print(
                f"(c) {workers} worker(s) on $share: {rate:,.0f} rows/s wall, "
                f"split {split}, {cpu:.2f} s CPU in all"
            )
        print(
            f"(c) 2 workers / 1 worker: {scaling[2] / scaling[1]:.2f}x "
            f"(on {os.cpu_count()} cores shared with Mosquitto and PostgreSQL)"
        )

        fleet = [vid for _, vid in add_vehicles(database, args.fleet, prefix="F")]
        raw_lat, stored_lat = latency(ctx, url, database.url, fleet, args.seconds)
        p95_raw, p95 = pct(raw_lat, 0.95), pct(stored_lat, 0.95)
        print(
            f"(d) {len(fleet)} vehicles @ 1 Hz for {args.seconds:.0f} s: publish->received "
            f"(bare paho) n={len(raw_lat)} p50 {pct(raw_lat, 0.5):.1f} ms p95 {p95_raw:.1f} ms; "
            f"publish->stored n={len(stored_lat)} p50 {pct(stored_lat, 0.5):.1f} ms "
            f"p95 {p95:.1f} ms"
        )
        record(
            "ingest",
            [
                Measure(
                    "MQTT ingest into PostGIS, per core (vs raw paho receive)",
                    ingest_rate,
                    "rows/s per core",
                    baseline=raw_rate,
                    goal=">= 0.5 of raw",
                    met=ingest_rate / raw_rate >= 0.5,
                ),
                Measure(
                    "2 ingest workers on a shared subscription (vs 1 worker), wall",
                    scaling[2],
                    "rows/s",
                    baseline=scaling[1],
                ),
                Measure(
                    f"publish->stored p95, {len(fleet)} vehicles @ 1 Hz (vs publish->received)",
                    p95,
                    "ms",
                    baseline=p95_raw,
                    goal="p95 <= 50 ms",
                    met=p95 <= 50,
                ),
            ],
        )


if __name__ == "__main__":
    main()
