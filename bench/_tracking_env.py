"""Shared set-up of the tracking benchmarks: a scratch PostGIS database and a private Mosquitto."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
