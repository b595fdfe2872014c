"""The ingest batch on both backends: exactly-once positions, filters, state, events, geofences."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.demo import DemoOrg
from backend.tracking.ingest.decode import DecodeError, decode_mqtt
from backend.tracking.ingest.pipeline import Inbound, Pipeline
from backend.tracking.models import (
    Checkpoint,
    IngestCounter,
    OutboundMessage,
    Position,
    TerminalMessage,
    VehicleState,
)
from gis.geometry import local_projection
from tests.tracking.orders import dispatch_to_vehicle

VID = "T-1001"
SITE = (120.1700, 30.3000)


def inbound(topic_leaf: str, body: dict[str, object] | bytes, vid: str = VID) -> Inbound:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    topic = f"fieldline/v1/vehicles/{vid}/{topic_leaf}"
    try:
        value: object = decode_mqtt(topic, payload)
    except DecodeError as exc:
        value = exc
    return Inbound(key=vid, value=value, received_at=utcnow(), topic_vehicle=vid)  # type: ignore[arg-type]


def fix(ts: datetime, lon: float, lat: float, seq: int, speed: float = 0.0) -> Inbound:
    return inbound(
        "position",
        {"ts": ts.isoformat(), "lat": lat, "lon": lon, "acc": 5, "speed": speed, "seq": seq},
    )


def counters(session: Session, key: str = VID) -> dict[str, int]:
    rows = session.execute(
        select(IngestCounter.reason, IngestCounter.count).where(IngestCounter.key == key)
    )
    return {reason: count for reason, count in rows}


def vehicle_id(demo: DemoOrg) -> int:
    return demo.vehicles["ZJ-A1001"].id


def test_positions_are_stored_exactly_once(session: Session, demo: DemoOrg) -> None:
    pipeline = Pipeline()
    t0 = utcnow() - timedelta(seconds=30)
    batch = [fix(t0 + timedelta(seconds=i), 120.16 + i * 1e-4, 30.29, i + 1) for i in range(5)]
    assert pipeline.process(session, batch).stored == 5
    # The broker redelivers the same batch after a crash before the ack: nothing new.
    report = Pipeline().process(session, batch)
    assert report.stored == 0
    total = session.scalar(
        select(func.count()).select_from(Position).where(Position.vehicle_id == vehicle_id(demo))
    )
    assert total == 5
    assert counters(session)["stored"] == 5
    assert counters(session)["duplicate"] == 5
    state = session.get(VehicleState, vehicle_id(demo))
    assert state is not None and state.seq == 5 and state.liveness == "online"


def test_state_moves_only_forward(session: Session, demo: DemoOrg) -> None:
    pipeline = Pipeline()
    t0 = utcnow() - timedelta(minutes=10)
    pipeline.process(session, [fix(t0 + timedelta(minutes=5), 120.16, 30.29, 10)])
    # A late batch from before: stored, backfilled, but the map does not jump back.
    pipeline.process(session, [fix(t0, 120.1601, 30.2901, 9)])
    state = session.get(VehicleState, vehicle_id(demo))
    assert state is not None and state.seq == 10
    late = session.scalar(select(Position).where(Position.seq == 9))
    assert late is not None and late.backfilled


def test_filters_and_bad_input_are_counted(session: Session, demo: DemoOrg) -> None:
    now = utcnow()
    batch = [
        fix(now - timedelta(seconds=10), 120.16, 30.29, 1),
        fix(now - timedelta(seconds=9), 0.0, 0.0, 2),  # null island
        fix(now + timedelta(hours=1), 120.16, 30.29, 3),  # future
        fix(now - timedelta(seconds=8), 121.5, 31.2, 4),  # 150 km in a second
        inbound("position", b"{not json"),
        inbound("position", b'{"ts": 1, "lat": "NaN", "lon": 1}'),
        inbound("position", {"ts": now.isoformat(), "lat": 30.0, "lon": 120.0}, vid="NOPE"),
    ]
    report = Pipeline().process(session, batch)
    assert report.stored == 1
    seen = counters(session)
    assert seen["null_island"] == 1
    assert seen["future"] == 1
    assert seen["impossible_speed"] == 1
    assert seen["malformed_json"] == 1
    assert counters(session, "NOPE") == {"unknown_vehicle": 1}


def test_gcj02_terminal_is_stored_in_wgs84(session: Session, demo: DemoOrg) -> None:
    vehicle = demo.vehicles["ZJ-A1001"]
    vehicle.datum = "gcj02"
    session.flush()
    Pipeline().process(session, [fix(utcnow() - timedelta(seconds=5), 120.16, 30.29, 1)])
    stored = session.scalar(select(Position).where(Position.vehicle_id == vehicle.id))
    assert stored is not None and stored.datum == "gcj02"
    # GCJ-02 is offset by a few hundred metres around Hangzhou.
    assert 0.001 < abs(stored.lon - 120.16) < 0.01


def test_terminal_events_are_idempotent_and_checked(session: Session, demo: DemoOrg) -> None:
    now = utcnow()
    order, message = dispatch_to_vehicle(session, demo, now - timedelta(seconds=30))
    oid = str(order.id)
    ack = {"order_id": oid, "message_id": message.message_id, "ts": now.isoformat()}
    accepted = {"event_id": "ev-1", "order_id": oid, "type": "accepted", "ts": now.isoformat()}
    foreign = {"event_id": "ev-2", "order_id": "not-mine", "type": "arrived", "ts": now.isoformat()}
    batch = [inbound("ack", ack), inbound("event", accepted), inbound("event", foreign)]
    pipeline = Pipeline()
    pipeline.process(session, batch)
    pipeline.process(session, batch)  # replayed ids change nothing
    points = session.execute(
        select(Checkpoint.point, Checkpoint.source).where(Checkpoint.order_id == oid)
    ).all()
    assert sorted(points) == [("E", "terminal"), ("F", "terminal")]
    assert order.status == "accepted"
    assert session.scalar(select(func.count()).select_from(TerminalMessage)) == 3
    assert session.get(OutboundMessage, message.id).acked_at is not None  # type: ignore[union-attr]
    seen = counters(session)
    assert seen["event_order_not_held"] == 1
    assert seen["event_replayed"] == 2
    assert seen["ack_replayed"] == 1


def test_geofence_departure_and_arrival_with_late_points(session: Session, demo: DemoOrg) -> None:
    t0 = utcnow() - timedelta(minutes=20)
    order, _ = dispatch_to_vehicle(session, demo, t0)
    oid = str(order.id)
    start = (120.1650, 30.2950)
    accepted = {
        "event_id": "ev-acc",
        "order_id": oid,
        "type": "accepted",
        "ts": (t0 + timedelta(seconds=30)).isoformat(),
    }
    project = local_projection(*SITE)
    sx, sy = project.forward(*start)
    track = []
    for i in range(0, 40):  # drive from start to the site in 40 fixes, 10 s apart
        f = min(i / 30, 1.0)
        lon, lat = project.inverse(sx * (1 - f), sy * (1 - f))
        speed = 0.0 if i >= 30 or i < 3 else 8.0
        track.append(fix(t0 + timedelta(seconds=10 * i), lon, lat, i + 1, speed))
    pipeline = Pipeline()
    # The first part live; the terminal's backlog (fixes 20-39) arrives later, shuffled.
    pipeline.process(session, [inbound("event", accepted), *track[:20]])
    created = session.execute(
        select(Checkpoint.point, Checkpoint.source).where(Checkpoint.order_id == oid)
    ).all()
    assert ("G", "geofence") in created and ("H", "geofence") not in created
    pipeline.process(session, list(reversed(track[20:])))
    arrival = session.scalar(
        select(Checkpoint).where(Checkpoint.order_id == oid, Checkpoint.point == "H")
    )
    assert arrival is not None and arrival.source == "geofence"
    assert arrival.occurred_at == t0 + timedelta(seconds=300)  # first fix at the site
    assert arrival.backfilled
    assert order.status == "on_site"
    # A terminal "arrived" for the same point is kept alongside, not instead.
    arrived = {
        "event_id": "ev-arr",
        "order_id": oid,
        "type": "arrived",
        "ts": (t0 + timedelta(seconds=320)).isoformat(),
    }
    pipeline.process(session, [inbound("event", arrived)])
    sources = session.scalars(
        select(Checkpoint.source).where(Checkpoint.order_id == oid, Checkpoint.point == "H")
    ).all()
    assert sorted(sources) == ["geofence", "terminal"]


def test_utc_is_kept(session: Session, demo: DemoOrg) -> None:
    ts = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    Pipeline().process(session, [fix(ts, 120.16, 30.29, 77)])
    stored = session.scalar(select(Position.ts).where(Position.seq == 77))
    assert stored == ts


def test_owntracks_and_last_will(session: Session, demo: DemoOrg) -> None:
    from backend.tracking.ingest.pipeline import decode_message as _decode

    ts = int((utcnow() - timedelta(seconds=5)).timestamp())
    body = {"_type": "location", "lat": 30.29, "lon": 120.16, "tst": ts, "vel": 36, "acc": 9}
    owntracks = _decode("owntracks/T-1001/phone", json.dumps(body).encode(), "fieldline/v1")
    will = _decode("fieldline/v1/vehicles/T-1001/status", b"offline", "fieldline/v1")
    Pipeline().process(session, [owntracks, will])
    stored = session.scalar(select(Position).where(Position.source == "owntracks"))
    assert stored is not None and stored.speed == 10.0  # 36 km/h
    state = session.get(VehicleState, vehicle_id(demo))
    assert state is not None and state.liveness == "offline" and not state.connected
