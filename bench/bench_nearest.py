"""Nearest free vehicle among N (default 10,000) on PostGIS: KNN on the GiST index vs brute force.

Usage: python bench/bench_nearest.py [--vehicles N] [--queries Q]

The brute force computes the geodesic distance to every vehicle and sorts (what a query without
the index does). Prints p50/p95 per query and the ratio; no thresholds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from sqlalchemy import insert, select  # noqa: E402

from backend.org.models import Vehicle  # noqa: E402
from backend.tracking.models import VehicleState  # noqa: E402
from backend.tracking.nearest import nearest_free_vehicles  # noqa: E402
from bench._results import Measure, record  # noqa: E402
from bench._tracking_env import add_vehicles, scratch_postgis  # noqa: E402
from gis.geometry import point_ewkt  # noqa: E402
from gis.queries import distance_m, make_point  # noqa: E402

CENTRE = (120.17, 30.27)  # Hangzhou
SPREAD_DEG = 0.4  # about 40 km across


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vehicles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(20250301)
    with scratch_postgis() as database:
        vehicles = add_vehicles(database, args.vehicles, prefix="N")
        now = datetime.now(UTC)
        rows = []
        for vehicle_id, _ in vehicles:
            lon = CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2
            lat = CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2
            rows.append(
                {
                    "vehicle_id": vehicle_id,
                    "ts": now,
                    "lat": lat,
                    "lon": lon,
                    "geom": point_ewkt(lon, lat),
                    "seq": 1,
                    "liveness": "online",
                    "connected": True,
                    "available": rng.random() < 0.8,
                    "last_seen": now,
                    "updated_at": now,
                }
            )
        with database.unit_of_work(actor="bench") as session:
            session.execute(insert(VehicleState), rows)
        with database.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE vehicle_states")
        points = [
            (
                CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2,
                CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG) / 2,
            )
            for _ in range(args.queries)
        ]
        knn: list[float] = []
        brute: list[float] = []
        agree = 0
        with database.session_factory() as session:
            for lon, lat in points:
                start = time.perf_counter()
                found = nearest_free_vehicles(
                    session=session, actor=None, lon=lon, lat=lat, specialty="10kv", limit=5
                )
                knn.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                metres = distance_m(
                    "postgresql", VehicleState.geom, make_point("postgresql", lon, lat)
                )
                scan = session.execute(
                    select(VehicleState.vehicle_id, metres)
                    .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
                    .where(VehicleState.available.is_(True), Vehicle.specialty == "10kv")
                    .order_by(metres)
                    .limit(5)
                ).all()
                brute.append((time.perf_counter() - start) * 1000)
                agree += [c.vehicle_id for c in found] == [v for v, _ in scan]
        k50, k95 = statistics.median(knn), percentile(knn, 0.95)
        b50, b95 = statistics.median(brute), percentile(brute, 0.95)
        print(f"{args.vehicles} vehicles, {args.queries} queries (5 nearest free '10kv')")
        print(f"KNN (GiST <->)  p50 {k50:.2f} ms  p95 {k95:.2f} ms")
        print(f"brute force     p50 {b50:.2f} ms  p95 {b95:.2f} ms")
        print(f"speed-up        p50 x{b50 / k50:.1f}  p95 x{b95 / k95:.1f}")
        print(f"same top-5 as brute force: {agree}/{args.queries}")
        record("nearest", [
            Measure(f"KNN p95, {args.vehicles:,} vehicles, PostGIS", k95, "ms", baseline=b95,
                    goal="p95 <= 5 ms", met=k95 <= 5.0),
        ])  # fmt: skip


if __name__ == "__main__":
    main()
