"""The indexed nearest-vehicle search gives exactly the answer of measuring every vehicle."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.org.models import Department, Vehicle
from backend.tracking.models import VehicleState
from backend.tracking.nearest import nearest_by_scan, nearest_free_vehicles
from gis.geometry import point_ewkt

CENTRE = (120.17, 30.27)


def _scatter(session: Session, rng: random.Random, count: int) -> None:
    """Vehicles in a dense core and a sparse ring; some offline, four specialties."""
    department = session.scalar(select(Department.id).where(Department.code == "ST-URB"))
    specialties = ["low_voltage", "10kv", "meters", "water"]
    session.execute(
        insert(Vehicle),
        [
            {"plate": f"K-{i:04d}", "department_id": department, "specialty": specialties[i % 4],
             "terminal_id": f"K{i:04d}", "datum": "wgs84", "report_interval_s": 10}
            for i in range(count)
        ],
    )  # fmt: skip
    ids = session.scalars(select(Vehicle.id).where(Vehicle.plate.like("K-%"))).all()
    now = utcnow()
    rows = []
    for vehicle_id in ids:
        spread = 0.01 if rng.random() < 0.7 else 0.3  # about 1 km or 30 km
        lon = CENTRE[0] + rng.uniform(-spread, spread)
        lat = CENTRE[1] + rng.uniform(-spread, spread)
        rows.append({
            "vehicle_id": vehicle_id, "ts": now - timedelta(seconds=5), "lat": lat, "lon": lon,
            "geom": point_ewkt(lon, lat), "seq": 1,
            "liveness": "offline" if rng.random() < 0.1 else "online",
            "connected": True, "available": True, "last_seen": now, "updated_at": now,
        })  # fmt: skip
    session.execute(insert(VehicleState), rows)


def test_indexed_search_matches_measuring_every_vehicle(session: Session) -> None:
    rng = random.Random(7)
    _scatter(session, rng, 400)
    checked = 0
    for _ in range(40):
        spread = rng.choice((0.005, 0.05, 0.4))  # in the core, at its edge, far out
        lon, lat = (
            CENTRE[0] + rng.uniform(-spread, spread),
            CENTRE[1] + rng.uniform(-spread, spread),
        )
        specialty = rng.choice((None, "10kv"))
        limit = rng.choice((1, 5, 12))
        radius = rng.choice((2_000.0, 50_000.0))
        args = dict(session=session, actor=None, lon=lon, lat=lat, specialty=specialty,
                    limit=limit, max_distance_m=radius)  # fmt: skip
        indexed = [c.vehicle_id for c in nearest_free_vehicles(**args)]  # type: ignore[arg-type]
        scanned = [c.vehicle_id for c in nearest_by_scan(**args)]  # type: ignore[arg-type]
        assert indexed == scanned, (lon, lat, specialty, limit, radius)
        checked += bool(indexed)
    assert checked > 20  # most queries found vehicles: the comparison was not of empty lists
