"""Every path to a timing point over MQTT payloads and HTTP: terminal, handheld, geofence, recall.

Each test walks what a terminal publishes (decoded as the ingest worker decodes it) and what a
handheld or dispatcher sends over the API, then reads the outcome the way clients do.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backend.config import TestConfig
from backend.db import utcnow
from backend.demo import DemoOrg
from backend.dispatch import service
from backend.dispatch.models import TimingEvent, WorkOrder
from backend.tracking.checkpoints import arrival_rules
from backend.tracking.ingest.decode import decode_mqtt
from backend.tracking.ingest.pipeline import Inbound, Pipeline
from backend.tracking.models import (
    DeadLetter,
    GeofenceWatch,
    OutboundMessage,
    Position,
    TerminalMessage,
)
from backend.tracking.nearest import nearest_free_vehicles
from gis.geometry import local_projection
from tests.conftest import assert_problem
from tests.dispatch.factories import actor
from tests.sync.helpers import batch, mutation
from tests.tracking.orders import SITE, dispatch_to_vehicle, last_message

DEPOT = (120.1650, 30.2950)


def handheld(api: Any, session: Session, user: str, order: WorkOrder, body: dict[str, Any]) -> Any:
    """Post a point as the crew's handheld does; the test's session then reads afresh."""
    response = api(user).post(f"/api/v1/work-orders/{order.id}/events", json=body)
    session.expire_all()
    return response


class Terminal:
    """A vehicle terminal: what it publishes, through the ingest pipeline."""

    def __init__(self, session: Session, vid: str = "T-1001") -> None:
        self.session, self.vid, self.pipeline = session, vid, Pipeline()
        self.sent = 0

    def publish(self, leaf: str, body: dict[str, Any], received_at: datetime | None = None) -> None:
        self.publish_all([(leaf, body)], received_at)

    def publish_all(
        self, messages: list[tuple[str, dict[str, Any]]], received_at: datetime | None = None
    ) -> None:
        items = [
            Inbound(
                self.vid,
                decode_mqtt(f"fieldline/v1/vehicles/{self.vid}/{leaf}", json.dumps(body).encode()),
                received_at or utcnow(),
            )
            for leaf, body in messages
        ]
        self.pipeline.process(self.session, items)

    def ack(self, message: OutboundMessage, at: datetime) -> str:
        self.publish(
            "ack", {"order_id": message.order_id, "message_id": message.message_id, "ts": iso(at)}
        )
        return self.outcome(f"ack:{message.message_id}")

    def event(self, kind: str, order: WorkOrder | None, at: datetime) -> str:
        self.sent += 1
        event_id = f"{self.vid}-{kind}-{self.sent}"
        body: dict[str, Any] = {"event_id": event_id, "type": kind, "ts": iso(at)}
        if order is not None:
            body["order_id"] = str(order.id)
        self.publish("event", body)
        return self.outcome(event_id)

    def outcome(self, event_id: str) -> str:
        return self.session.scalars(
            select(TerminalMessage.outcome).where(TerminalMessage.event_id == event_id)
        ).one()


def iso(at: datetime) -> str:
    return at.isoformat()


def drive(t0: datetime, start: float = 0, fixes: int = 40, arrive_at: int = 30) -> list[Any]:
    """Fixes 10 s apart: parked at the depot, driving, then staying at the site."""
    project = local_projection(*SITE)
    dx, dy = project.forward(*DEPOT)
    track = []
    for i in range(fixes):
        f = min(max(i - 3, 0) / (arrive_at - 3), 1.0)
        lon, lat = project.inverse(dx * (1 - f), dy * (1 - f))
        speed = 0.0 if i < 3 or i >= arrive_at else 9.0
        ts = t0 + timedelta(seconds=start + 10 * i)
        body = {"ts": iso(ts), "lat": lat, "lon": lon, "acc": 5, "speed": speed, "seq": i + 1}
        track.append(("position", body))
    return track


def points(session: Session, order: WorkOrder) -> set[tuple[str, str]]:
    rows = session.execute(
        select(TimingEvent.point, TimingEvent.source).where(TimingEvent.order_id == order.id)
    )
    return {(p, s) for p, s in rows}


def timeline(api: Any, order: WorkOrder) -> dict[str, Any]:
    response = api("dispatcher").get(f"/api/v1/work-orders/{order.id}/timeline")
    assert response.status_code == 200, response.get_json()
    return {s["segment"]: s["status"] for s in response.get_json()["segments"]}


def free_plates(session: Session) -> set[str]:
    return {
        c.plate
        for c in nearest_free_vehicles(
            session=session, actor=None, lon=SITE[0], lat=SITE[1], limit=10
        )
    }


def test_terminal_finished_finishes_the_order_and_frees_the_vehicle(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order, message = dispatch_to_vehicle(session, demo, t0)
    terminal = Terminal(session)
    terminal.publish_all(drive(t0, fixes=2))  # the vehicle is on the map, at the depot
    assert "ZJ-A1001" not in free_plates(session)
    assert terminal.ack(message, t0 + timedelta(seconds=10)) == "applied"
    for i, kind in enumerate(("accepted", "departed", "arrived", "finished"), start=2):
        assert terminal.event(kind, order, t0 + timedelta(minutes=i)) == "applied", kind
    body = api("dispatcher").get(f"/api/v1/work-orders/{order.id}").get_json()
    assert body["status"] == "finished"
    assert ("finished", "terminal") in points(session, order)
    assert "ZJ-A1001" in free_plates(session)
    # A second `finished` is refused, and says so.
    assert terminal.event("finished", order, t0 + timedelta(minutes=7)) == "refused"


def test_a_refused_arrival_does_not_block_the_real_one(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order, message = dispatch_to_vehicle(session, demo, t0)
    terminal = Terminal(session)
    terminal.ack(message, t0 + timedelta(seconds=5))
    assert terminal.event("arrived", order, t0 + timedelta(minutes=1)) == "refused"
    assert terminal.event("accepted", order, t0 + timedelta(minutes=2)) == "applied"
    assert terminal.event("departed", order, t0 + timedelta(minutes=3)) == "applied"
    assert terminal.event("arrived", order, t0 + timedelta(minutes=9)) == "applied"
    assert api("dispatcher").get(f"/api/v1/work-orders/{order.id}").get_json()["status"] == (
        "on_site"
    )
    assert timeline(api, order)["GH"] == "done"


def test_redispatch_counts_the_new_vehicles_ack_and_acceptance(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order, message = dispatch_to_vehicle(session, demo, t0)
    first = Terminal(session, "T-1001")
    assert first.ack(message, t0 + timedelta(seconds=20)) == "applied"
    assert first.event("accepted", order, t0 + timedelta(seconds=40)) == "applied"
    response = api("dispatcher").post(
        f"/api/v1/work-orders/{order.id}/reassign",
        json={
            "crew_id": demo.crews["Urban Crew 2"].id,
            "vehicle_id": demo.vehicles["ZJ-A1002"].id,
            "reason": "closer crew",
        },
    )
    assert response.status_code == 200, response.get_json()
    session.expire_all()
    second = Terminal(session, "T-1002")
    again = last_message(session, order)
    assert again.vehicle_id == demo.vehicles["ZJ-A1002"].id
    assert second.ack(again, utcnow() - timedelta(seconds=20)) == "applied"
    assert second.event("accepted", order, utcnow() - timedelta(seconds=10)) == "applied"
    # The recalled vehicle speaks for an order it no longer holds.
    assert first.event("departed", order, utcnow()) == "order_not_held"
    segments = timeline(api, order)
    assert segments["DE"] == "done" and segments["EF"] == "done"
    assert api("dispatcher").get(f"/api/v1/work-orders/{order.id}").get_json()["status"] == (
        "accepted"
    )


def test_geofence_sets_g_and_h_when_the_crew_accepts_on_the_handheld(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order, _ = dispatch_to_vehicle(session, demo, t0)
    accepted = {"point": "F", "occurred_at": iso(t0 + timedelta(seconds=25)), "source": "manual"}
    response = handheld(api, session, "crew1", order, accepted)
    assert response.status_code == 201, response.get_json()
    terminal = Terminal(session)
    track = drive(t0)
    for at in range(0, len(track), 5):  # live, five fixes a batch
        terminal.publish_all(track[at : at + 5])
    assert {("G", "geofence"), ("H", "geofence")} <= points(session, order)
    body = api("dispatcher").get(f"/api/v1/work-orders/{order.id}").get_json()
    assert body["status"] == "on_site"


def test_a_late_burst_proves_departure_before_arrival(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order, message = dispatch_to_vehicle(session, demo, t0)
    terminal = Terminal(session)
    terminal.ack(message, t0 + timedelta(seconds=10))
    terminal.event("accepted", order, t0 + timedelta(seconds=25))
    # Out of coverage for the whole trip: it all arrives at once, twenty minutes later.
    terminal.publish_all(drive(t0), received_at=utcnow())
    assert {("G", "geofence"), ("H", "geofence")} <= points(session, order)
    arrival = session.scalars(
        select(TimingEvent).where(TimingEvent.order_id == order.id, TimingEvent.point == "H")
    ).one()
    assert arrival.occurred_at == t0 + timedelta(seconds=300) and arrival.backfilled
    assert timeline(api, order)["GH"] == "done"


def test_a_parked_arrival_is_taken_when_departure_arrives_from_the_handheld(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order, _ = dispatch_to_vehicle(session, demo, t0)
    # The crew accepts only once at the site: the geofence sees an arrival but no departure.
    accepted = {"point": "F", "occurred_at": iso(t0 + timedelta(seconds=390)), "source": "manual"}
    assert handheld(api, session, "crew1", order, accepted).status_code == 201
    Terminal(session).publish_all(drive(t0))
    assert ("H", "geofence") not in points(session, order)  # refused for want of G: parked
    assert order.status == "accepted"
    departed = {"point": "G", "occurred_at": iso(t0 + timedelta(seconds=395)), "source": "manual"}
    response = handheld(api, session, "crew1", order, departed)
    assert response.status_code == 201, response.get_json()
    assert ("H", "geofence") in points(session, order)
    assert api("crew1").get(f"/api/v1/work-orders/{order.id}").get_json()["status"] == "on_site"


def test_geofence_reads_only_new_fixes(session: Session, demo: DemoOrg) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order, message = dispatch_to_vehicle(session, demo, t0)
    terminal = Terminal(session)
    terminal.ack(message, t0 + timedelta(seconds=10))
    terminal.event("accepted", order, t0 + timedelta(seconds=25))
    track = drive(t0, fixes=34)  # at the site from fix 30 (300 s) on: not yet 60 s there
    terminal.publish_all(track)
    watch = session.scalars(
        select(GeofenceWatch).where(
            GeofenceWatch.order_id == str(order.id), GeofenceWatch.point == "H"
        )
    ).one()
    assert not watch.fired and watch.fed_until == t0 + timedelta(seconds=330)
    # Were the stored track replayed, the stay that began at 300 s could not be seen now.
    vehicle_id = demo.vehicles["ZJ-A1001"].id
    session.execute(delete(Position).where(Position.vehicle_id == vehicle_id))
    terminal.publish_all(drive(t0, fixes=40)[34:])
    arrival = session.scalars(
        select(TimingEvent).where(TimingEvent.order_id == order.id, TimingEvent.point == "H")
    ).one()
    assert arrival.source == "geofence" and arrival.occurred_at == t0 + timedelta(seconds=300)


def test_terminal_availability_follows_the_api_rule(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    now = utcnow()
    # Urban Crew 1 is the last meters crew of its repair center: it may not stand down.
    assert Terminal(session, "T-1001").event("unavailable", None, now) == "refused"
    crew1 = api("dispatcher").get(f"/api/v1/crews/{demo.crews['Urban Crew 1'].id}/availability")
    assert crew1.get_json()["available"] is True
    # Urban Crew 2 may (Urban Crew 1 still covers low voltage); then nobody dispatches to it.
    crew2 = Terminal(session, "T-1002")
    crew2.publish_all(drive(now - timedelta(minutes=1), fixes=1))
    assert crew2.event("unavailable", None, now) == "applied"
    state = api("dispatcher").get(f"/api/v1/crews/{demo.crews['Urban Crew 2'].id}/availability")
    assert state.get_json()["available"] is False
    assert "ZJ-A1002" not in free_plates(session)
    live = api("dispatcher").get("/api/v1/tracking/vehicles").get_json()["features"]
    shown = {f["properties"]["plate"]: f["properties"]["available"] for f in live}
    assert shown["ZJ-A1002"] is False  # the live map says what dispatch decided
    order, _ = dispatch_to_vehicle(session, demo, now - timedelta(minutes=5))
    response = api("dispatcher").post(
        f"/api/v1/work-orders/{order.id}/reassign",
        json={"crew_id": demo.crews["Urban Crew 2"].id, "reason": "try the other crew"},
    )
    assert_problem(response, 409)
    assert crew2.event("available", None, utcnow()) == "applied"
    assert "ZJ-A1002" in free_plates(session)


def test_demo_closed_orders_leave_vehicles_free_and_candidates_agree(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    from backend.demo.orders import seed_day
    from tests.tracking.test_routes import place_vehicles

    seed_day(session, day=date(2026, 3, 1), count=12)  # a fixed day: the same orders always
    session.commit()
    place_vehicles(session)
    held = set(
        session.scalars(
            select(WorkOrder.vehicle_id).where(
                WorkOrder.vehicle_id.is_not(None),
                WorkOrder.status.in_(
                    ["dispatched", "delivered", "accepted", "en_route", "on_site"]
                ),
            )
        )
    )
    closed = set(session.scalars(select(WorkOrder.vehicle_id).where(WorkOrder.status == "closed")))
    assert closed - held, "the demo closes orders on vehicles that hold nothing else"
    free = {
        c.vehicle_id
        for c in nearest_free_vehicles(
            session=session, actor=None, lon=SITE[0], lat=SITE[1], limit=10
        )
    }
    placed = {demo.vehicles[p].id for p in ("ZJ-A1001", "ZJ-A2001", "ZJ-A3001", "ZJ-A4001")}
    assert free == placed - held
    # Candidates call the same crews free (no open order) as nearest calls their vehicles.
    order, _ = dispatch_to_vehicle(session, demo, utcnow() - timedelta(minutes=1))
    service_free = {
        c["crew_id"]
        for c in api("dispatcher").get(f"/api/v1/work-orders/{order.id}/candidates").get_json()
        if c["load"] == 0
    }
    session.expire_all()
    free_now = {
        c.vehicle_id
        for c in nearest_free_vehicles(
            session=session, actor=None, lon=SITE[0], lat=SITE[1], limit=10, specialty="low_voltage"
        )
    }
    crews_of_free = {v.crew_id for v in demo.vehicles.values() if v.id in free_now}
    assert crews_of_free <= service_free


def test_the_whole_slice_from_every_path_ends_right(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    """A to H over HTTP, MQTT payloads and sync: call center, dispatcher, terminal (a refused
    early arrival), recall and re-dispatch, the handheld's acceptance by sync, the trip as a
    late burst (geofence G and H), the terminal's `finished`. It ends with the full timeline,
    both vehicles free, and every message accounted for."""
    t0 = utcnow() - timedelta(minutes=60)
    call, center = api("callcenter"), api("dispatcher")
    body = {"order_type": "electric", "fault_type": "no power", "specialty": "low_voltage",
            "address": "12 West Lake Rd", "hung_up_at": iso(t0),
            "location": {"lon": SITE[0], "lat": SITE[1]}}  # fmt: skip
    created = call.post("/api/v1/work-orders", json=body)
    assert created.status_code == 201, created.get_json()
    order_id = created.get_json()["id"]
    # The centers' steps at their own times (their routes call these with the clock).
    order = session.get(WorkOrder, uuid.UUID(order_id))
    service.issue_order(session=session, actor=actor(session, "callcenter"), order_id=order.id,
                        repair_center_id=demo.departments["RC-N"].id,
                        now=t0 + timedelta(minutes=1))  # fmt: skip
    dispatcher = actor(session, "dispatcher")
    service.accept_at_center(session=session, actor=dispatcher, order_id=order.id,
                             now=t0 + timedelta(minutes=2))  # fmt: skip
    service.dispatch_order(session=session, actor=dispatcher, order_id=order.id,
                           crew_id=demo.crews["Urban Crew 1"].id,
                           vehicle_id=demo.vehicles["ZJ-A1001"].id,
                           now=t0 + timedelta(minutes=3))  # fmt: skip
    first, second = Terminal(session, "T-1001"), Terminal(session, "T-1002")
    first.publish_all(drive(t0, fixes=2))  # both vehicles on the map, at the depot
    parked = drive(t0 + timedelta(seconds=20), fixes=2)  # its own sequence numbers
    second.publish_all([(leaf, {**fix, "seq": fix["seq"] + 1000}) for leaf, fix in parked])
    assert "ZJ-A1001" not in free_plates(session) and "ZJ-A1002" in free_plates(session)
    assert first.ack(last_message(session, order), t0 + timedelta(minutes=3, seconds=10)) == (
        "applied"
    )
    assert first.event("arrived", order, t0 + timedelta(minutes=3, seconds=20)) == "refused"
    assert first.event("accepted", order, t0 + timedelta(minutes=3, seconds=30)) == "applied"
    # Misrouted: recall from the first crew, re-dispatch to the second.
    service.reassign_order(session=session, actor=dispatcher, order_id=order.id,
                           crew_id=demo.crews["Urban Crew 2"].id,
                           vehicle_id=demo.vehicles["ZJ-A1002"].id, reason="closer crew",
                           now=t0 + timedelta(minutes=5))  # fmt: skip
    session.expire_all()
    assert "ZJ-A1001" in free_plates(session) and "ZJ-A1002" not in free_plates(session)
    assert first.event("departed", order, t0 + timedelta(minutes=5, seconds=5)) == (
        "order_not_held"
    )
    assert second.ack(last_message(session, order), t0 + timedelta(minutes=5, seconds=10)) == (
        "applied"
    )
    # The crew accepts on its handheld, by sync (a status move is the point F).
    session.expire_all()
    accept = mutation("work_order", "update", {"status": "accepted"}, record_id=order_id,
                      base=session.get(WorkOrder, order.id).version,
                      occurred_at=t0 + timedelta(minutes=5, seconds=30))  # fmt: skip
    pushed = api("crew6").post("/api/v1/sync/push", json=batch(accept))
    assert pushed.status_code == 200, pushed.get_json()
    assert pushed.get_json()["verdicts"][0]["verdict"] == "applied", pushed.get_json()
    session.expire_all()  # the request wrote through its own session
    # Out of coverage for the whole trip: it arrives in one burst, long after.
    trip = drive(t0 + timedelta(minutes=6))
    second.publish_all(trip, received_at=utcnow())
    session.expire_all()
    assert {("G", "geofence"), ("H", "geofence")} <= points(session, order)
    assert second.event("finished", order, t0 + timedelta(minutes=20)) == "applied"
    session.expire_all()
    # The right A-H timeline: every segment done, the second round's E and F counted.
    state = center.get(f"/api/v1/work-orders/{order_id}").get_json()
    assert state["status"] == "finished" and state["vehicle_id"] == demo.vehicles["ZJ-A1002"].id
    segments = timeline(api, order)
    assert set(segments) == {"AB", "BC", "CD", "DE", "EF", "FG", "GH"}, segments
    assert set(segments.values()) == {"done"}, segments
    counted = session.scalars(
        select(TimingEvent.point).where(TimingEvent.order_id == order.id,
                                        TimingEvent.dispatch_round == order.dispatch_round)
    ).all()  # fmt: skip
    assert {"D", "E", "F", "G", "H", "finished"} <= set(counted)
    # The right vehicles free: both, now the order is finished.
    assert {"ZJ-A1001", "ZJ-A1002"} <= free_plates(session)
    # Nothing lost: every fix stored, nothing parked, every terminal message answered.
    stored = session.scalar(
        select(func.count())
        .select_from(Position)
        .where(
            Position.vehicle_id == demo.vehicles["ZJ-A1002"].id,
        )
    )
    assert stored == len(trip) + len(parked)
    assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0
    outcomes = session.scalars(
        select(TerminalMessage.outcome).where(TerminalMessage.order_id == order_id)
    ).all()
    # Two acks, F and `finished` taken; the early arrival refused; the recalled vehicle's word
    # for an order it no longer holds kept as such.
    assert sorted(outcomes) == sorted(["applied"] * 4 + ["refused", "order_not_held"]), outcomes


def test_arrival_dwell_and_radius_come_from_the_settings(session: Session, demo: DemoOrg) -> None:
    settings = TestConfig(GEOFENCE_ARRIVAL_DWELL_S=120, GEOFENCE_ARRIVAL_RADIUS_M=250)
    rules = arrival_rules(settings.as_flask())
    assert (rules.radius_m, rules.dwell) == (250, timedelta(seconds=120))
    t0 = utcnow() - timedelta(minutes=30)
    order, message = dispatch_to_vehicle(session, demo, t0)
    terminal = Terminal(session)
    terminal.pipeline = Pipeline(arrival=rules)  # what the worker and the HTTP ingest build
    terminal.ack(message, t0 + timedelta(seconds=10))
    terminal.event("accepted", order, t0 + timedelta(seconds=25))
    track = drive(t0, fixes=50)  # at the site from 300 s on
    terminal.publish_all(track[:40])  # 90 s there: enough for the default 60 s, not for 120 s
    assert ("H", "geofence") not in points(session, order)
    terminal.publish_all(track[40:])
    arrival = session.scalars(
        select(TimingEvent).where(TimingEvent.order_id == order.id, TimingEvent.point == "H")
    ).one()
    assert arrival.source == "geofence" and arrival.occurred_at == t0 + timedelta(seconds=300)
