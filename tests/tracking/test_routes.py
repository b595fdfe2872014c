"""Tracking API: live vehicles, track GeoJSON, nearest free vehicle, SSE feed, metrics, OsmAnd."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.demo import DEMO_DEVICE_SECRET, DemoOrg
from backend.dispatch import service
from backend.tracking.ingest.decode import PositionFix
from backend.tracking.ingest.pipeline import Inbound, Pipeline
from backend.tracking.models import Position
from backend.tracking.nearest import nearest_free_vehicles
from tests.conftest import assert_problem
from tests.dispatch.factories import actor, new_order

# (plate, vid, lon, lat): from the fault, urban 0.7 km, emergency 5.1, water 5.3, suburban 9.
PLACES = [
    ("ZJ-A1001", "T-1001", 120.1650, 30.2950),
    ("ZJ-A2001", "T-2001", 120.0900, 30.3300),
    ("ZJ-A3001", "T-3001", 120.2100, 30.2600),
    ("ZJ-A4001", "T-4001", 120.1400, 30.2500),
]
FAULT = (120.1700, 30.2900)


def place_vehicles(session: Session) -> None:
    now = utcnow()
    items = [
        Inbound(
            key=vid,
            value=PositionFix(vehicle=vid, ts=now - timedelta(seconds=5), lat=lat, lon=lon, seq=1),
            received_at=now,
        )
        for _, vid, lon, lat in PLACES
    ]
    Pipeline().process(session, items)


def test_nearest_free_vehicle_ranks_by_distance(session: Session, demo: DemoOrg) -> None:
    place_vehicles(session)
    found = nearest_free_vehicles(session=session, actor=None, lon=FAULT[0], lat=FAULT[1])
    assert [c.plate for c in found] == ["ZJ-A1001", "ZJ-A3001", "ZJ-A4001", "ZJ-A2001"]
    assert 500 < found[0].distance_m < 1000  # about 670 m
    assert found[0].eta_min > 0
    tenkv = nearest_free_vehicles(
        session=session, actor=None, lon=FAULT[0], lat=FAULT[1], specialty="10kv"
    )
    assert [c.plate for c in tenkv] == ["ZJ-A3001", "ZJ-A2001"]
    # A vehicle holding an order is not free; a small radius leaves the far ones out.
    order = new_order(session, demo)
    service.dispatch_order(
        session=session,
        actor=actor(session, "dispatcher"),
        order_id=order.id,
        crew_id=demo.crews["Urban Crew 1"].id,
        vehicle_id=demo.vehicles["ZJ-A1001"].id,
    )
    near = nearest_free_vehicles(
        session=session, actor=None, lon=FAULT[0], lat=FAULT[1], max_distance_m=5200
    )
    assert [c.plate for c in near] == ["ZJ-A3001"]  # 5.1 km; the water vehicle is 5.3 km


def test_nearest_endpoint_is_scoped(api: Any, session: Session, demo: DemoOrg) -> None:
    place_vehicles(session)
    body = api("dispatcher").get(f"/api/v1/tracking/nearest?lon={FAULT[0]}&lat={FAULT[1]}")
    assert body.status_code == 200, body.get_json()
    assert body.get_json()["candidates"][0]["plate"] == "ZJ-A1001"
    assert_problem(api("crew1").get("/api/v1/tracking/nearest?lon=1&lat=1"), 403)
    assert_problem(api("dispatcher").get("/api/v1/tracking/nearest?lon=500&lat=1"), 422)


def test_live_vehicles_and_track_geojson(api: Any, session: Session, demo: DemoOrg) -> None:
    place_vehicles(session)
    vehicle = demo.vehicles["ZJ-A1001"]
    now = utcnow()
    fixes = [
        PositionFix(
            vehicle="T-1001", ts=now - timedelta(seconds=60 - i), lat=30.29, lon=120.16 + i * 1e-4
        )
        for i in range(3)
    ]
    Pipeline().process(session, [Inbound("T-1001", f, now) for f in fixes])
    dispatcher = api("dispatcher")
    live = dispatcher.get("/api/v1/tracking/vehicles").get_json()
    assert {f["properties"]["plate"] for f in live["features"]} >= {"ZJ-A1001", "ZJ-A4001"}
    since = (now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    url = f"/api/v1/tracking/vehicles/{vehicle.id}/track?since={since}"
    track = dispatcher.get(url).get_json()
    assert track["features"][0]["geometry"]["type"] == "LineString"
    assert len(track["features"]) == 1 + 4  # the line and every fix (placement + 3)
    gcj = dispatcher.get(url + "&datum=gcj02").get_json()
    wgs_lon = track["features"][1]["geometry"]["coordinates"][0]
    gcj_lon = gcj["features"][1]["geometry"]["coordinates"][0]
    assert 0.001 < gcj_lon - wgs_lon < 0.01
    assert_problem(api("crew1").get(url), 403)
    assert_problem(dispatcher.get("/api/v1/tracking/vehicles/99999/track"), 404)


def test_feed_streams_positions_and_checkpoints(api: Any, session: Session, demo: DemoOrg) -> None:
    place_vehicles(session)
    response = api("dispatcher").get("/api/v1/tracking/feed?max_seconds=0")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    assert text.count("event: position") == 4
    assert "event: end" in text
    # The call center's scope (its own department) holds no vehicles.
    other = api("callcenter").get("/api/v1/tracking/feed?max_seconds=0").get_data(as_text=True)
    assert "event: position" not in other


def test_metrics_show_filter_counters(api: Any, session: Session, demo: DemoOrg) -> None:
    now = utcnow()
    bad = PositionFix(vehicle="T-1001", ts=now, lat=0.0, lon=0.0)
    Pipeline().process(session, [Inbound("T-1001", bad, now)])
    text = api("supervisor").get("/api/v1/tracking/metrics").get_data(as_text=True)
    assert 'fieldline_ingest_messages_total{vehicle="T-1001",reason="null_island"} 1' in text


def test_osmand_http_endpoint_authenticates_each_device(
    client: Any, session: Session, demo: DemoOrg
) -> None:
    ts = int((utcnow() - timedelta(seconds=3)).timestamp())
    query = f"id=T-1001&lat=30.29&lon=120.16&timestamp={ts}&speed=10&accuracy=8"
    ok = client.post(f"/api/v1/tracking/osmand?{query}&key={DEMO_DEVICE_SECRET}")
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert ok.get_json() == {"stored": 1}
    stored = session.scalar(select(Position).where(Position.source == "osmand"))
    assert stored is not None and abs(stored.speed - 10 * 1852 / 3600) < 1e-6  # type: ignore[operator]
    assert_problem(client.post(f"/api/v1/tracking/osmand?{query}&key=wrong"), 401)
    # Device T-1001's secret does not let it report as T-2001.
    basic = base64.b64encode(f"T-1001:{DEMO_DEVICE_SECRET}".encode()).decode()
    spoof = query.replace("id=T-1001", "id=T-2001")
    response = client.post(
        f"/api/v1/tracking/osmand?{spoof}", headers={"Authorization": f"Basic {basic}"}
    )
    assert_problem(response, 403)
    traccar = {
        "device_id": "T-1001",
        "location": {
            "timestamp": (utcnow() - timedelta(seconds=1)).isoformat(),
            "coords": {"latitude": 30.2901, "longitude": 120.1601, "speed": 3, "accuracy": 5},
        },
    }
    response = client.post(
        "/api/v1/tracking/osmand", json=traccar, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.get_json() == {"stored": 1}
    bad = client.post(f"/api/v1/tracking/osmand?id=T-1001&lat=x&key={DEMO_DEVICE_SECRET}")
    assert_problem(bad, 422)


def test_osmand_says_why_a_fix_was_dropped(client: Any, session: Session, demo: DemoOrg) -> None:
    def send(ts: datetime, lat: float = 30.29, accuracy: float = 8) -> Any:
        query = f"id=T-1001&lat={lat}&lon=120.16&timestamp={int(ts.timestamp())}"
        response = client.post(
            f"/api/v1/tracking/osmand?{query}&accuracy={accuracy}&key={DEMO_DEVICE_SECRET}"
        )
        assert response.status_code == 200, response.get_data(as_text=True)  # never resent
        return response.get_json()

    now = utcnow()
    assert send(now - timedelta(seconds=30)) == {"stored": 1}
    assert send(now - timedelta(seconds=30)) == {"stored": 0, "dropped": 1, "reason": "duplicate"}
    poor = send(now - timedelta(seconds=20), accuracy=5000)
    assert poor == {"stored": 0, "dropped": 1, "reason": "poor_accuracy"}
    ahead = send(now + timedelta(hours=1))
    assert ahead == {"stored": 0, "dropped": 1, "reason": "future"}
    jump = send(now - timedelta(seconds=10), lat=31.29)  # 111 km in 20 s
    assert jump == {"stored": 0, "dropped": 1, "reason": "impossible_speed"}
    assert len(session.scalars(select(Position).where(Position.source == "osmand")).all()) == 1


def test_dispatch_candidates_get_distance_and_eta(session: Session, demo: DemoOrg) -> None:
    from backend.tracking.nearest import with_distances

    place_vehicles(session)
    ranked = [
        {"crew_id": 9, "load": 0, "vehicles": [{"id": demo.vehicles["ZJ-A2001"].id}]},
        {"crew_id": 8, "load": 0, "vehicles": [{"id": demo.vehicles["ZJ-A3001"].id}]},
        {"crew_id": 7, "load": 1, "vehicles": [{"id": demo.vehicles["ZJ-A1001"].id}]},
        {"crew_id": 6, "load": 0, "vehicles": []},
    ]
    out = with_distances(session=session, ranked=ranked, lon=FAULT[0], lat=FAULT[1])
    assert [c["crew_id"] for c in out] == [8, 9, 6, 7]  # load first, then the nearer vehicle
    assert out[0]["distance_m"] < out[1]["distance_m"] and out[0]["eta_min"] > 0
    assert out[2]["distance_m"] is None


def test_osmand_stores_under_the_devices_own_vehicle(
    client: Any, session: Session, demo: DemoOrg
) -> None:
    from backend.auth.models import Device
    from backend.auth.passwords import hash_secret

    # A phone registered with an identifier that happens to be another vehicle's terminal id
    # format: its fixes still belong to the vehicle it is fitted to.
    phone = Device(identifier="5", kind="vehicle_terminal", secret_hash=hash_secret("s3cret"),
                   department_id=demo.departments["ST-WAT"].id,
                   vehicle_id=demo.vehicles["ZJ-A4001"].id)  # fmt: skip
    session.add(phone)
    session.flush()
    ts = int((utcnow() - timedelta(seconds=3)).timestamp())
    ok = client.post(f"/api/v1/tracking/osmand?id=5&lat=30.25&lon=120.14&timestamp={ts}&key=s3cret")
    assert ok.get_json() == {"stored": 1}, ok.get_data(as_text=True)
    stored = session.scalars(select(Position).where(Position.source == "osmand")).one()
    assert stored.vehicle_id == demo.vehicles["ZJ-A4001"].id
    # A handheld (no vehicle) is no position source: the endpoint does not admit it.
    response = client.post(
        f"/api/v1/tracking/osmand?id=H-1001&lat=30.25&lon=120.14&timestamp={ts}"
        f"&key={DEMO_DEVICE_SECRET}"
    )
    assert_problem(response, 401)
