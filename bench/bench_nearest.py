"""Nearest free vehicle at 10k, 100k and 1M vehicles, indexed search vs measuring every vehicle.

Usage: python bench/bench_nearest.py [--sizes 10000,100000,1000000] [--queries Q]
       [--scan-queries S] [--backend postgis|spatialite]

Vehicles are generated over a 40 km square around Hangzhou (the same database grows from one
size to the next, by COPY on PostgreSQL): a tenth offline, a tenth holding an open order.
Queries run as the demo dispatcher (scope and authorization included), each its own
transaction, through the function `GET /tracking/nearest` serves. For each size, Q queries
of the 5 nearest free '10kv' vehicles go through `nearest_free_vehicles` (PostGIS: a GiST
`<->` walk past busy vehicles until the answer is certain; SpatiaLite: R*Tree windows
widened until the answer is exact) and S of them also through `nearest_by_scan` (the
distance to every free vehicle, sorted: what a query without the index does). Prints
p50/p95 of both and whether their answers agree; records them for `bench/report.py` with a
chart of p95 against size.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from backend.auth.actor import actor_for_user  # noqa: E402
from backend.auth.models import User  # noqa: E402
from backend.db import Database  # noqa: E402
from backend.dispatch.models import WorkOrder  # noqa: E402
from backend.org.models import Department, Vehicle  # noqa: E402
from backend.tracking.models import VehicleState  # noqa: E402
from backend.tracking.nearest import nearest_by_scan, nearest_free_vehicles  # noqa: E402
from bench import _results  # noqa: E402
from bench._generate import progress  # noqa: E402
from bench._results import Measure, record  # noqa: E402
from bench._scale import scaled  # noqa: E402
from bench._tracking_env import scratch_postgis, scratch_spatialite  # noqa: E402
from gis.geometry import point_ewkt  # noqa: E402

CENTRE = (120.17, 30.27)  # Hangzhou
SPREAD_DEG = 0.4  # about 40 km across
GOAL_MS = 5.0
SCRATCH: dict[str, Callable[[], AbstractContextManager[Database]]] = {
    "postgis": scratch_postgis,
    "spatialite": scratch_spatialite,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _spot(rng: random.Random) -> tuple[float, float]:
    return (
        CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2,
        CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2,
    )


SPECIALTIES = ("low_voltage", "10kv", "meters", "water")
OFFLINE_SHARE = 0.1  # offline vehicles stay in the index but never answer
BUSY_SHARE = 0.1  # vehicles holding an open order: the search walks past them
VEHICLE_COLUMNS = ("plate", "department_id", "specialty", "terminal_id", "datum",
                   "report_interval_s", "created_at")  # fmt: skip


def grow(database: Database, have: int, want: int, rng: random.Random) -> None:
    """Add vehicles, their current positions and some open orders until there are `want`.

    PostgreSQL takes COPY, SQLite one executemany per table: a million rows in minutes.
    """
    with database.unit_of_work(actor="bench") as session:
        department = session.scalar(select(Department.id).where(Department.code == "ST-URB"))
        call_center = session.scalar(select(Department.id).where(Department.code == "CALL"))
    now = datetime.now(UTC)
    bar = progress(want - have, f"adding vehicles up to {want:,}", "vehicle")
    for first in range(have, want, 100_000):
        last = min(want, first + 100_000)
        vehicles = [(f"N-{i:07d}", department, SPECIALTIES[i % 4], f"N{i:07d}", "wgs84", 10, now)
                    for i in range(first, last)]  # fmt: skip
        if database.engine.dialect.name == "postgresql":
            _copy(database, f"vehicles ({', '.join(VEHICLE_COLUMNS)})", vehicles)
        else:
            with database.engine.begin() as conn:
                conn.execute(insert(Vehicle), [dict(zip(VEHICLE_COLUMNS, v, strict=True))
                                               for v in vehicles])  # fmt: skip
        with database.engine.connect() as conn:
            span = {"a": f"N-{first:07d}", "b": f"N-{last - 1:07d}"}
            ids = conn.execute(text("SELECT id FROM vehicles WHERE plate >= :a AND plate <= :b "
                                    "ORDER BY plate"), span).scalars().all()  # fmt: skip
        states, orders = [], []
        for vehicle_id in ids:
            lon, lat = _spot(rng)
            liveness = "offline" if rng.random() < OFFLINE_SHARE else "online"
            states.append((vehicle_id, now, lat, lon, point_ewkt(lon, lat), 1, liveness, True,
                           True, now, now))  # fmt: skip
            if rng.random() < BUSY_SHARE:
                orders.append((uuid.uuid4(), f"NB-{vehicle_id}", "electric", "en_route", 2, "HZ",
                               "outage", "10kv", department, call_center, vehicle_id, 0, now,
                               now, 0, {}, False))  # fmt: skip
        state_cols = ("vehicle_id", "ts", "lat", "lon", "geom", "seq", "liveness", "connected",
                      "available", "last_seen", "updated_at")  # fmt: skip
        order_cols = ("id", "number", "order_type", "status", "priority", "region_code",
                      "fault_type", "specialty", "department_id", "call_center_id", "vehicle_id",
                      "dispatch_round", "created_at", "updated_at", "version", "field_versions",
                      "deleted")  # fmt: skip
        if database.engine.dialect.name == "postgresql":
            _copy(database, f"vehicle_states ({', '.join(state_cols)})", states)
            _copy(
                database,
                f"work_orders ({', '.join(order_cols)})",
                [(*r[:-2], "{}", r[-1]) for r in orders],
            )  # JSON as its text
        else:
            with database.engine.begin() as conn:
                conn.execute(insert(VehicleState), [dict(zip(state_cols, r, strict=True))
                                                    for r in states])  # fmt: skip
            with database.unit_of_work(actor="bench") as session:
                session.execute(insert(WorkOrder), [dict(zip(order_cols, r, strict=True))
                                                    for r in orders])  # fmt: skip
        bar.update(last - first)
    bar.close()
    with database.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def _copy(database: Database, target: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY rows into `table (columns)` on PostgreSQL."""
    raw = database.engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def timed(database: Database, search: Callable[..., list], points: list) -> tuple[list, list]:
    """Milliseconds per query, and the answers (vehicle ids), as the repair center's dispatcher.

    The dispatcher's scope and authorization are part of the measured path, as in
    `GET /tracking/nearest`.
    """
    times, answers = [], []
    with database.session_factory() as session:
        user = session.scalar(select(User).where(User.username == "dispatcher"))
        assert user is not None, "seed_org makes the demo dispatcher"
        actor = actor_for_user(session, user)
    # Each query its own transaction (as each API request is): a session held open across
    # minutes of queries would hold back the server's transaction horizon for everyone.
    autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
    with Session(autocommit) as session:
        for lon, lat in points:
            start = time.perf_counter()
            found = search(session=session, actor=actor, lon=lon, lat=lat, specialty="10kv")
            times.append((time.perf_counter() - start) * 1000)
            answers.append([c.vehicle_id for c in found])
    return times, answers


def run(backend: str, sizes: list[int], queries: int, scans: int) -> Iterator[dict]:
    rng = random.Random(20250301)
    with SCRATCH[backend]() as database:
        have = 0
        for size in sizes:
            started = time.perf_counter()
            grow(database, have, size, rng)
            have = size
            print(f"{backend}: {size:,} vehicles ({time.perf_counter() - started:.0f} s to add)")
            points = [_spot(rng) for _ in range(queries)]
            timed(database, nearest_free_vehicles, points[:10])  # warm the caches
            knn, found = timed(database, nearest_free_vehicles, points)
            scan, expected = timed(database, nearest_by_scan, points[:scans])
            agree = sum(a == b for a, b in zip(found, expected, strict=False))
            row = {
                "backend": backend, "size": size, "knn50": statistics.median(knn),
                "knn95": percentile(knn, 0.95), "scan50": statistics.median(scan),
                "scan95": percentile(scan, 0.95), "agree": agree, "scans": len(scan),
            }  # fmt: skip
            print(f"  indexed  p50 {row['knn50']:8.2f} ms  p95 {row['knn95']:8.2f} ms")
            print(f"  scan     p50 {row['scan50']:8.2f} ms  p95 {row['scan95']:8.2f} ms")
            print(f"  same 5 nearest as the scan: {agree}/{len(scan)}")
            yield row


def chart(rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for backend in sorted({r["backend"] for r in rows}):
        mine = [r for r in rows if r["backend"] == backend]
        sizes = [r["size"] for r in mine]
        ax.plot(sizes, [r["knn95"] for r in mine], marker="o", label=f"{backend} indexed p95")
        ax.plot(sizes, [r["scan95"] for r in mine], marker="x", linestyle="--",
                label=f"{backend} scan p95")  # fmt: skip
    ax.axhline(GOAL_MS, color="#c62828", linewidth=0.8, label="goal")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vehicles")
    ax.set_ylabel("ms per query (log)")
    ax.set_title("5 nearest free vehicles")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _results.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = _results.RESULTS_DIR / "nearest.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=",".join(str(scaled(n, 100)) for n in (10_000, 100_000, 1_000_000))
    )
    parser.add_argument("--queries", type=int, default=scaled(200, 20))
    parser.add_argument("--scan-queries", type=int, default=scaled(20, 5))
    parser.add_argument("--backend", choices=sorted(SCRATCH), action="append")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rows = []
    for backend in args.backend or ["postgis", "spatialite"]:
        rows += list(run(backend, sizes, args.queries, args.scan_queries))
    measures = [
        Measure(f"nearest p95, {r['backend']}, {r['size']:,} vehicles", r["knn95"], "ms",
                baseline=r["scan95"], goal=f"p95 <= {GOAL_MS:g} ms (flat)",
                met=r["knn95"] <= GOAL_MS and r["agree"] == r["scans"])
        for r in rows
    ]  # fmt: skip
    record("nearest", measures, charts=[chart(rows)])


if __name__ == "__main__":
    main()
