"""Shared set-up of the tracking benchmarks: a scratch PostGIS database and a private Mosquitto."""

from __future__ import annotations

import getpass
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, select, text

from backend import migrate
from backend.db import Database
from backend.demo import seed_org
from backend.org.models import Department, Vehicle
from backend.wiring import open_database

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("FIELDLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_postgis() -> Iterator[Database]:
    """A migrated, seeded PostGIS database dropped afterwards."""
    name = f"fieldline_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        engine.dispose()
        migrate.upgrade(url)
        database = open_database(url)
        with database.unit_of_work(actor="bench") as session:
            seed_org(session)
        yield database
        database.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def scratch_spatialite() -> Iterator[Database]:
    """A migrated, seeded SpatiaLite file removed afterwards."""
    folder = tempfile.mkdtemp(prefix="fieldline-bench-")
    url = f"sqlite:///{folder}/bench.db"
    try:
        migrate.upgrade(url)
        database = Database(url)
        with database.unit_of_work(actor="bench") as session:
            seed_org(session)
        yield database
        database.engine.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def add_vehicles(
    database: Database, count: int, prefix: str = "B", start: int = 0
) -> list[tuple[int, str]]:
    """Insert `count` vehicles with terminals (numbered from `start`); return (id, vid) pairs."""
    specialties = ["low_voltage", "10kv", "meters", "water"]
    with database.unit_of_work(actor="bench") as session:
        department_id = session.scalar(select(Department.id).where(Department.code == "ST-URB"))
    for chunk in range(start, start + count, 50_000):  # short transactions, bounded memory
        rows = [
            {
                "plate": f"{prefix}-{i:07d}",
                "department_id": department_id,
                "specialty": specialties[i % 4],
                "terminal_id": f"{prefix}{i:07d}",
                "datum": "wgs84",
                "report_interval_s": 10,
            }
            for i in range(chunk, min(start + count, chunk + 50_000))
        ]
        with database.unit_of_work(actor="bench") as session:
            session.execute(insert(Vehicle), rows)
    with database.session_factory() as session:
        found = session.execute(
            text(
                "SELECT id, terminal_id FROM vehicles WHERE terminal_id LIKE :p "
                "AND terminal_id >= :first ORDER BY id"
            ),
            {"p": f"{prefix}%", "first": f"{prefix}{start:07d}"},
        )
        return [(vid, terminal) for vid, terminal in found]


def free_port() -> int:
    """An unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def private_mosquitto() -> Iterator[str]:
    """Mosquitto with deploy/mosquitto/fieldline.conf (anonymous) on a free port."""
    folder = Path(tempfile.mkdtemp(prefix="fieldline-bench-mosq-"))
    port = free_port()
    keep = ("listener", "password_file", "acl_file", "allow_anonymous", "persistence_location")
    shipped = (ROOT / "deploy" / "mosquitto" / "fieldline.conf").read_text().splitlines()
    lines = [line for line in shipped if not line.strip().startswith(keep)]
    lines += [
        f"listener {port} 127.0.0.1",
        f"persistence_location {folder}/",
        f"user {getpass.getuser()}",
        "allow_anonymous true",
    ]
    conf = folder / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    process = subprocess.Popen([binary, "-c", str(conf)], stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)


# One Python client tops out near 2,000 QoS 1 messages a second: a fleet publishes from several.
PUBLISHERS = 4
# How many seconds of its vehicles' fixes a publisher buffers while the broker is not acking.
BUFFER_SECONDS = 30


def fleet_publisher(
    url: str,
    root: str,
    vids: list[str],
    acked: Any,
    refused: Any,
    stopping: Any,
    seq_base: int = 0,
) -> None:
    """Each of `vids` once a second at its own phase, QoS 1; count what the broker acknowledged.

    Real vehicles are not synchronised, so the fleet's fixes are spread over the second in
    10 ms slots; a burst of every vehicle at the top of the second would measure the
    publisher's queue, not the pipeline. Each body's `ts` is when it was handed to the client
    library (latencies are measured from it). Acks are counted locally and added to the
    shared counter twice a second: a lock per ack costs more than the publish. Run it in a
    process of its own (several for a large fleet: `PUBLISHERS`).

    Like a terminal's, the outbound buffer is bounded: `BUFFER_SECONDS` of its vehicles' fixes.
    A fix the full buffer refuses is counted in `refused` (never acknowledged, so never owed).
    Unbounded, a publisher starved of CPU grew its queue to hundreds of MB and then spent a
    core draining it, starving the pipeline it measures.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-{uuid.uuid4().hex[:8]}")
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(max(len(vids) * BUFFER_SECONDS, 5000))
    local, refused_here = [0], [0]
    client.on_publish = lambda *_a: local.__setitem__(0, local[0] + 1)
    client.connect(host, int(port))
    client.loop_start()
    lons = {vid: 120.0 + i * 1e-3 for i, vid in enumerate(vids)}
    slots = 100
    per_slot = [vids[i::slots] for i in range(slots)]
    flushed, refused_flushed, second, start = 0, 0, 0, time.monotonic()
    while not stopping.is_set():
        second += 1
        for slot, group in enumerate(per_slot):
            time.sleep(max(0.0, start + second - 1 + slot / slots - time.monotonic()))
            for vid in group:
                body = {
                    "ts": datetime.now(UTC).isoformat(),
                    # Back and forth along a meridian, 1 m/s: never a jump the ingest's
                    # speed filter would drop (a wrap every hour dropped 2 fixes a vehicle).
                    "lat": 30.2 + abs(second % 7200 - 3600) * 1e-5,
                    "lon": lons[vid],
                    "acc": 5,
                    "seq": seq_base + second,
                }
                info = client.publish(f"{root}/vehicles/{vid}/position", json.dumps(body), qos=1)
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                    refused_here[0] += 1
            if slot % 50 == 0:
                flushed = _flush(acked, local[0], flushed)
                refused_flushed = _flush(refused, refused_here[0], refused_flushed)
            if stopping.is_set():
                break
    time.sleep(2)
    client.loop_stop()
    _flush(acked, local[0], flushed)
    _flush(refused, refused_here[0], refused_flushed)


def _flush(counter: Any, count: int, flushed: int) -> int:
    """Add the acks counted since the last flush to the shared counter; return the new mark."""
    with counter.get_lock():
        counter.value += count - flushed
    return count


@dataclass(frozen=True)
class Fleet:
    """Publisher processes and their shared counters (multiprocessing Values)."""

    procs: list[Any]
    acked: Any  # fixes the broker acknowledged
    refused: Any  # fixes a full outbound buffer refused
    stopping: Any  # set it to stop publishing


def start_fleet(url: str, root: str, vids: list[str], seq_base: int = 0) -> Fleet:
    """Start `PUBLISHERS` fleet publisher processes.

    Forked, not spawned: a spawned child re-imports the calling script and with it SQLAlchemy
    and the app, which takes tens of seconds on a loaded machine; the publisher needs only
    paho, which it imports itself.
    """
    ctx = multiprocessing.get_context("fork")
    acked, refused, stopping = ctx.Value("q", 0), ctx.Value("q", 0), ctx.Event()
    procs = [
        ctx.Process(
            target=fleet_publisher,
            args=(url, root, vids[i::PUBLISHERS], acked, refused, stopping, seq_base),
            daemon=True,
        )
        for i in range(PUBLISHERS)
    ]
    for proc in procs:
        proc.start()
    return Fleet(procs, acked, refused, stopping)
