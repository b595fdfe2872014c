"""A dispatched order reaches the terminal queue; ack, events and geofences set E-H on the order."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import point_element, utcnow
from backend.demo import DemoOrg
from backend.dispatch import service
from backend.dispatch.models import TimingEvent
from backend.tracking.ingest.decode import decode_mqtt
from backend.tracking.ingest.pipeline import Inbound, Pipeline
from backend.tracking.models import OutboundMessage
from backend.tracking.terminal import mark_published, pending_messages
from gis.geometry import local_projection
from tests.dispatch.factories import actor, new_order

SITE = (120.1700, 30.3000)
DEPOT = (120.1650, 30.2950)


def message(leaf: str, body: dict[str, object]) -> Inbound:
    topic = f"fieldline/v1/vehicles/T-1001/{leaf}"
    return Inbound("T-1001", decode_mqtt(topic, json.dumps(body).encode()), utcnow())


def fix(seconds: float, lon: float, lat: float, seq: int, speed: float) -> Inbound:
    ts = (t0 + timedelta(seconds=seconds)).isoformat()
    body = {"ts": ts, "lat": lat, "lon": lon, "acc": 5, "speed": speed, "seq": seq}
    return message("position", body)


t0 = utcnow() - timedelta(minutes=30)


def test_terminal_and_geofence_set_e_to_h(session: Session, demo: DemoOrg) -> None:
    order = new_order(session, demo, at=t0 - timedelta(minutes=5))
    order.location = point_element(*SITE)
    session.flush()
    service.dispatch_order(
        session=session,
        actor=actor(session, "dispatcher"),
        order_id=order.id,
        crew_id=demo.crews["Urban Crew 1"].id,
        vehicle_id=demo.vehicles["ZJ-A1001"].id,
        now=t0,
    )
    pending = [(m, vid) for m, vid in pending_messages(session) if m.order_id == str(order.id)]
    assert [(m.kind, vid) for m, vid in pending] == [("order", "T-1001")]
    queued: OutboundMessage = pending[0][0]
    mark_published(session, queued.message_id, t0 + timedelta(seconds=1))

    at = (t0 + timedelta(seconds=20)).isoformat()
    ack = {"order_id": str(order.id), "message_id": queued.message_id, "ts": at}
    accept = {"event_id": "e-acc", "order_id": str(order.id), "type": "accepted", "ts": at}
    project = local_projection(*SITE)
    dx, dy = project.forward(*DEPOT)
    track = []
    for i in range(40):  # leave the depot after acceptance, reach the site at fix 30, stay
        f = min(max(i - 3, 0) / 27, 1.0)
        lon, lat = project.inverse(dx * (1 - f), dy * (1 - f))
        track.append(fix(10 * i, lon, lat, i + 1, 0.0 if i < 3 or i >= 30 else 9.0))
    pipeline = Pipeline()
    pipeline.process(session, [message("ack", ack), message("event", accept), *track[:10]])
    pipeline.process(session, track[10:])
    arrived = {
        "event_id": "e-arr",
        "order_id": str(order.id),
        "type": "arrived",
        "ts": (t0 + timedelta(seconds=400)).isoformat(),
    }
    pipeline.process(session, [message("event", arrived)])

    events = session.execute(
        select(TimingEvent.point, TimingEvent.source).where(TimingEvent.order_id == order.id)
    ).all()
    assert {("E", "terminal"), ("F", "terminal"), ("G", "geofence")} <= set(events)
    # Both witnesses of arrival are kept; the geofence saw it first.
    assert {("H", "geofence"), ("H", "terminal")} <= set(events)
    h = session.scalars(
        select(TimingEvent.occurred_at).where(
            TimingEvent.order_id == order.id, TimingEvent.point == "H"
        )
    ).all()
    assert min(h) == t0 + timedelta(seconds=300)


def test_a_disabled_terminal_moves_no_order(session: Session, demo: DemoOrg) -> None:
    """Until Mosquitto reloads its files a disabled terminal can still publish: refused here."""
    from backend.auth import service as auth
    from backend.auth.models import Device
    from backend.tracking.models import Checkpoint, TerminalMessage

    order = new_order(session, demo, at=t0 - timedelta(minutes=5))
    order.location = point_element(*SITE)
    session.flush()
    service.dispatch_order(
        session=session, actor=actor(session, "dispatcher"), order_id=order.id,
        crew_id=demo.crews["Urban Crew 1"].id, vehicle_id=demo.vehicles["ZJ-A1001"].id, now=t0,
    )  # fmt: skip
    queued = next(m for m, _ in pending_messages(session) if m.order_id == str(order.id))
    terminal = session.scalars(select(Device).where(Device.identifier == "T-1001")).one()
    auth.set_device_active(
        session=session, actor=actor(session, "admin"), device_id=terminal.id, active=False
    )
    at = (t0 + timedelta(seconds=20)).isoformat()
    accept = {"event_id": "e-off", "order_id": str(order.id), "type": "accepted", "ts": at}
    Pipeline().process(session, [message("event", accept)])
    stored = session.scalars(select(TerminalMessage).where(TerminalMessage.event_id == "e-off"))
    assert stored.one().outcome == "refused"
    # Nor its receipt of the order (point E), nor what its positions would prove (G, H).
    ack = {"order_id": str(order.id), "message_id": queued.message_id, "ts": at}
    at_site = [fix(60 + 10 * i, *SITE, 100 + i, 0.0) for i in range(12)]
    Pipeline().process(session, [message("ack", ack), *at_site])
    acked = session.scalars(
        select(TerminalMessage).where(TerminalMessage.event_id == f"ack:{queued.message_id}")
    )
    assert acked.one().outcome == "refused"
    points = session.scalars(select(TimingEvent.point).where(TimingEvent.order_id == order.id))
    assert "E" not in set(points)
    claims = session.scalars(select(Checkpoint).where(Checkpoint.order_id == str(order.id)))
    assert claims.all() == []
