"""The indexed nearest-vehicle search gives exactly the answer of measuring every vehicle."""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.demo import DemoOrg
from backend.dispatch.models import CrewStatus, WorkOrder
from backend.org.models import Department, Vehicle
from backend.tracking.models import VehicleState
from backend.tracking.nearest import nearest_by_scan, nearest_free_vehicles
from gis.geometry import point_ewkt
from gis.queries import DegreeWindow

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


# Random fleets anywhere on the globe: clusters from metres to a degree across, vehicles
# sharing one spot (ties broken by id), offline vehicles, vehicles holding open orders,
# crews that stood down; searches with and without busy vehicles, near and far limits.
_spot = st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0))
_vehicle = st.fixed_dictionaries({
    "spot": st.integers(0, 23), "specialty": st.sampled_from(["10kv", "meters"]),
    "offline": st.booleans(), "busy": st.integers(0, 3), "stood_down": st.integers(0, 4),
})  # fmt: skip
_fleet = st.fixed_dictionaries({
    "lon": st.floats(-179.9, 179.9), "lat": st.floats(-80.0, 80.0),
    "scale": st.sampled_from([0.0001, 0.01, 0.2, 1.0]),
    "spots": st.lists(_spot, min_size=24, max_size=24),
    "vehicles": st.lists(_vehicle, max_size=60),
    "queries": st.lists(
        st.tuples(_spot, st.sampled_from([None, "10kv"]), st.integers(1, 4),
                  st.sampled_from([300.0, 5_000.0, 50_000.0, 200_000.0]), st.booleans()),
        min_size=1, max_size=6,
    ),
})  # fmt: skip


def _place_fleet(session: Session, demo: DemoOrg, fleet: dict[str, Any]) -> None:
    department = demo.departments["ST-URB"].id
    stood_down = demo.crews["Urban Crew 2"].id
    session.merge(CrewStatus(crew_id=stood_down, available=False, reason="meal",
                             changed_by="test"))  # fmt: skip
    now = utcnow()
    for n, v in enumerate(fleet["vehicles"]):
        dx, dy = fleet["spots"][v["spot"]]
        lon = max(-180.0, min(180.0, fleet["lon"] + dx * fleet["scale"]))
        lat = max(-90.0, min(90.0, fleet["lat"] + dy * fleet["scale"]))
        crew = stood_down if v["stood_down"] == 0 else None
        vehicle = Vehicle(plate=f"P-{n:03d}", department_id=department, specialty=v["specialty"],
                          terminal_id=f"P{n:03d}", datum="wgs84", report_interval_s=10,
                          crew_id=crew)  # fmt: skip
        session.add(vehicle)
        session.flush()
        session.add(VehicleState(vehicle_id=vehicle.id, ts=now, lat=lat, lon=lon,
                                 geom=point_ewkt(lon, lat), seq=1,
                                 liveness="offline" if v["offline"] else "online",
                                 connected=True, available=True, last_seen=now,
                                 updated_at=now))  # fmt: skip
        if v["busy"] == 0:
            session.add(WorkOrder(number=f"KNN-{n:03d}", order_type="electric",
                                  status="en_route", region_code="HZ", fault_type="outage",
                                  specialty=v["specialty"], department_id=department,
                                  call_center_id=demo.departments["CALL"].id,
                                  vehicle_id=vehicle.id))  # fmt: skip
    session.flush()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fleet=_fleet)
def test_random_fleets_nearest_equals_measuring_every_vehicle(
    session: Session, demo: DemoOrg, fleet: dict[str, Any]
) -> None:
    savepoint = session.begin_nested()
    try:
        _place_fleet(session, demo, fleet)
        for (dx, dy), specialty, limit, radius, include_busy in fleet["queries"]:
            lon = max(-180.0, min(180.0, fleet["lon"] + dx * fleet["scale"] * 1.5))
            lat = max(-90.0, min(90.0, fleet["lat"] + dy * fleet["scale"] * 1.5))
            args = dict(session=session, actor=None, lon=lon, lat=lat, specialty=specialty,
                        limit=limit, max_distance_m=radius, include_busy=include_busy)  # fmt: skip
            indexed = [(c.vehicle_id, c.distance_m) for c in nearest_free_vehicles(**args)]  # type: ignore[arg-type]
            scanned = [(c.vehicle_id, c.distance_m) for c in nearest_by_scan(**args)]  # type: ignore[arg-type]
            assert indexed == scanned
    finally:
        savepoint.rollback()


def test_the_degree_window_holds_every_point_within_its_radius() -> None:
    """Geodesic circles (pyproj, WGS-84) fit inside the window; the per-degree bound holds."""
    geod = Geod(ellps="WGS84")
    rng = random.Random(11)
    for _ in range(2_000):
        lon, lat = rng.uniform(-179, 179), rng.uniform(-88, 88)
        radius = rng.choice((100.0, 5_000.0, 50_000.0, 300_000.0))
        window = DegreeWindow.around(lon, lat, radius)
        if window.wraps:
            continue
        west, south, east, north = window.bounds
        for azimuth in range(0, 360, 15):
            reach = radius * rng.choice((0.2, 0.7, 1.0))
            plon, plat, _ = geod.fwd(lon, lat, azimuth, reach)
            assert west <= plon <= east and south <= plat <= north, (lon, lat, radius, azimuth)
            degrees = math.hypot(plon - lon, plat - lat)
            assert degrees * window.metres_per_degree <= reach, (lon, lat, reach, azimuth)


def test_walk_goes_past_vehicles_nearer_in_degrees_but_farther_in_metres(
    session: Session, demo: DemoOrg
) -> None:
    """At 60 N a degree east is half a degree north: the walk must not stop at the north row.

    Four vehicles 0.010 deg north (about 1.1 km) come first in planar degrees; eight lie
    0.012 deg east (about 670 m). Only a bound in metres per degree taken at the window's
    latitude sends the walk past the northern ones to the eastern nearest.
    """
    fleet = {
        "lon": 10.0, "lat": 60.0, "scale": 1.0,
        "spots": [(0.0, 0.010), (0.012, 0.0)] + [(0.0, 0.0)] * 22,
        "vehicles": [{"spot": 0 if n < 4 else 1, "specialty": "10kv", "offline": False,
                      "busy": 1, "stood_down": 1} for n in range(12)],
    }  # fmt: skip
    savepoint = session.begin_nested()
    try:
        _place_fleet(session, demo, fleet)
        args = dict(session=session, actor=None, lon=10.0, lat=60.0, limit=1)
        indexed = nearest_free_vehicles(**args)  # type: ignore[arg-type]
        assert [c.vehicle_id for c in indexed] == [c.vehicle_id for c in nearest_by_scan(**args)]  # type: ignore[arg-type]
        assert 600 < indexed[0].distance_m < 700
    finally:
        savepoint.rollback()
