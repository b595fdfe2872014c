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
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
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
from bench._scale import scaled, scaled_seconds  # noqa: E402
from bench._tracking_env import (  # noqa: E402
    PUBLISHERS,
    add_vehicles,
    private_mosquitto,
    scratch_postgis,
    start_fleet,
)

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
    """The ingest worker, timing each fix from its publication (its `ts`) to its commit+ack.

    Also reports its own CPU time and batch count over the run (the cost per message under
    a trickle, where batches are small).
    """
    from backend.config import Config
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
        linger_s=Config().INGEST_LINGER_MS / 1000,  # as `fieldline ingest` would
    )
    worker = TimedWorker(open_database(db_url), settings).start()
    worker.connected.wait(10)
    time.sleep(1)
    out.put(("ready", os.getpid()))
    cpu, batches = time.process_time(), worker.batches
    sent = control.get()
    deadline = time.monotonic() + 120
    while len(latencies) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    out.put((list(latencies), time.process_time() - cpu, worker.batches - batches))
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
    out.put(("ready", os.getpid()))
    cpu = time.process_time()
    sent = control.get()
    deadline = time.monotonic() + 120
    while len(latencies) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    out.put((list(latencies), time.process_time() - cpu, 0))
    client.disconnect()
    client.loop_stop()


@dataclass
class LiveRun:
    """What the live run measured: sorted latencies, and the ingest's CPU over the run."""

    raw: list[float]
    stored: list[float]
    sent: int
    seconds: float
    ingest_cpu: float
    batches: int
    profile: list[tuple[str, float, float]]


def latency(
    ctx: Any, url: str, db_url: str, vids: list[str], seconds: float, *, profile: bool = False
) -> LiveRun:
    """Every vehicle reports once a second, each at its own phase of the second (as real
    terminals do; `PUBLISHERS` processes), for `seconds`: publish→received (bare paho) and
    publish→stored (the ingest worker) of every fix, each in its own process. With `profile`,
    py-spy samples the ingest process for the whole run."""
    queues = [(ctx.Queue(), ctx.Queue()) for _ in range(2)]
    procs = [
        ctx.Process(target=raw_timer, args=(url, *queues[0])),
        ctx.Process(target=timed_worker, args=(url, db_url, *queues[1])),
    ]
    for proc in procs:
        proc.start()
    pids = []
    for _, out in queues:
        ready, pid = out.get(timeout=60)
        assert ready == "ready"
        pids.append(pid)
    spy = _start_profiler(pids[1], seconds) if profile else None
    fleet = start_fleet(url, ROOT_TOPIC, vids, seq_base=10_000_000)
    t0 = time.perf_counter()
    time.sleep(seconds)
    fleet.stopping.set()
    for pub in fleet.procs:
        pub.join(60)
    took = time.perf_counter() - t0
    sent = int(fleet.acked.value)
    for control, _ in queues:
        control.put(sent)
    (raw, _, _), (stored, cpu, batches) = (out.get(timeout=180) for _, out in queues)
    for proc in procs:
        proc.join()
    found = _profile_summary(spy) if spy is not None else []
    return LiveRun(sorted(raw), sorted(stored), sent, took, cpu, batches, found)


def _start_profiler(pid: int, seconds: float) -> tuple[subprocess.Popen[bytes], Path] | None:
    """py-spy recording `pid` (all threads, idle excluded) as collapsed stacks, if installed."""
    binary = shutil.which("py-spy")
    if binary is None:
        print("(py-spy not on PATH: no profile)")
        return None
    target = Path(tempfile.mkdtemp(prefix="fieldline-spy-")) / "ingest.txt"
    command = [binary, "record", "--pid", str(pid), "--format", "raw", "--rate", "250"]
    command += ["--duration", str(int(seconds) + 2), "--output", str(target), "--nonblocking"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    return process, target


def _profile_summary(
    spy: tuple[subprocess.Popen[bytes], Path], top: int = 25
) -> list[tuple[str, float, float]]:
    """(function, inclusive share, own share) of the samples, the heaviest first."""
    process, target = spy
    process.wait(120)
    if not target.exists():
        return []
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in target.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
                  + ")" for f in stack.split(";")]  # fmt: skip
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return []
    return [(f, n / total, own[f] / total) for f, n in inclusive.most_common(top)]


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def live(ctx: Any, url: str, database: Any, fleet_size: int, seconds: float, profile: bool) -> None:
    """(d) The fleet at 1 Hz: latencies, the ingest's CPU per message, optionally its profile."""
    fleet = [vid for _, vid in add_vehicles(database, fleet_size, prefix="F")]
    run = latency(ctx, url, database.url, fleet, seconds, profile=profile)
    raw_lat, stored_lat = run.raw, run.stored
    p95_raw, p95 = pct(raw_lat, 0.95), pct(stored_lat, 0.95)
    per_msg_us = run.ingest_cpu / max(1, len(stored_lat)) * 1e6
    print(
        f"(d) {len(fleet)} vehicles @ 1 Hz (spread over the second, {PUBLISHERS} publishers) "
        f"for {run.seconds:.0f} s, {run.sent} acked: publish->received (bare paho) "
        f"n={len(raw_lat)} p50 {pct(raw_lat, 0.5):.1f} ms p95 {p95_raw:.1f} ms; "
        f"publish->stored n={len(stored_lat)} p50 {pct(stored_lat, 0.5):.1f} ms "
        f"p95 {p95:.1f} ms"
    )
    print(
        f"(d) ingest CPU {run.ingest_cpu:.1f} s over {run.seconds:.0f} s "
        f"({run.ingest_cpu / run.seconds:.0%} of a core), {per_msg_us:.0f} us/msg, "
        f"{run.batches} batches ({len(stored_lat) / max(1, run.batches):.1f} msgs/batch)"
    )
    if run.profile:
        print("(d) py-spy of the ingest process (inclusive, own share of its samples):")
        for frame, inclusive, own in run.profile:
            print(f"    {inclusive:6.1%} {own:6.1%}  {frame}")
    record(
        "ingest_live",
        [
            Measure(
                f"publish->stored p95, {len(fleet)} vehicles @ 1 Hz (vs publish->received)",
                p95,
                "ms",
                baseline=p95_raw,
                goal="p95 <= 50 ms",
                met=p95 <= 50,
            ),
            Measure(
                f"publish->stored p50, {len(fleet)} vehicles @ 1 Hz (vs publish->received)",
                pct(stored_lat, 0.5),
                "ms",
                baseline=pct(raw_lat, 0.5),
            ),
            Measure(
                f"ingest CPU per message, {len(fleet)} vehicles @ 1 Hz",
                per_msg_us,
                "us/msg",
            ),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=scaled(20_000, 1000))
    parser.add_argument("--vehicles", type=int, default=scaled(200, 20))
    parser.add_argument(
        "--fleet", type=int, default=scaled(2000, 50), help="Vehicles at 1 Hz (latency)."
    )
    parser.add_argument(
        "--seconds", type=float, default=scaled_seconds(20, 3), help="Length of the latency run."
    )
    parser.add_argument("--only-live", action="store_true", help="Only the 1 Hz fleet run.")
    parser.add_argument("--profile", action="store_true", help="py-spy the live run's ingest.")
    args = parser.parse_args()
    n = args.messages
    ctx = multiprocessing.get_context("spawn")
    with scratch_postgis() as database, private_mosquitto() as url:
        if args.only_live:
            live(ctx, url, database, args.fleet, args.seconds, args.profile)
            return
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
            ],
        )
        live(ctx, url, database, args.fleet, args.seconds, args.profile)


if __name__ == "__main__":
    main()
