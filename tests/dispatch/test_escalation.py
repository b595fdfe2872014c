"""Acceptance escalation: due alerts derived from the database, exactly once across restarts."""

from __future__ import annotations

from sqlalchemy import select

from backend.dispatch import escalation, service
from backend.dispatch.escalation import EscalationPolicy
from backend.dispatch.models import Alert
from tests.conftest import assert_problem
from tests.dispatch.factories import T0, actor, minutes, new_order, walk


def alerts(session, order):
    return [
        (a.tier, a.stage, a.department_id)
        for a in session.scalars(select(Alert).where(Alert.order_id == order.id).order_by(Alert.id))
    ]


def test_repair_center_tier(session, demo):
    new_order(session, demo)  # C at T0+1
    assert escalation.tick(session=session, now=T0 + minutes(4.9)) == []
    raised = escalation.tick(session=session, now=T0 + minutes(5))
    assert [(a.tier, a.stage) for a in raised] == [("repair_center", 1)]
    assert raised[0].department_id == demo.departments["CALL"].id
    assert raised[0].due_at == T0 + minutes(5)
    assert escalation.tick(session=session, now=T0 + minutes(8.9)) == []
    raised = escalation.tick(session=session, now=T0 + minutes(9))
    assert [(a.tier, a.stage) for a in raised] == [("repair_center", 2)]
    rc = demo.departments["RC-N"]
    assert raised[0].phones == [rc.supervisor_phone_1, rc.supervisor_phone_2]
    assert escalation.tick(session=session, now=T0 + minutes(60)) == []


def test_accepting_stops_escalation(session, demo):
    order = new_order(session, demo)
    service.accept_at_center(
        session=session, actor=actor(session, "dispatcher"), order_id=order.id, now=T0 + minutes(2)
    )
    assert escalation.tick(session=session, now=T0 + minutes(30)) == []


def test_crew_tier_after_e_then_supervisors(session, demo):
    order = new_order(session, demo)
    walk(session, demo, order, {"D": 2, "E": 3})
    raised = escalation.tick(session=session, now=T0 + minutes(7))
    assert [(a.tier, a.stage, a.department_id) for a in raised] == [
        ("crew", 1, demo.departments["RC-N"].id)
    ]
    raised = escalation.tick(session=session, now=T0 + minutes(11))
    station = demo.departments["ST-URB"]
    assert [(a.tier, a.stage, a.department_id) for a in raised] == [("crew", 2, station.id)]
    assert raised[0].phones == [station.supervisor_phone_1, station.supervisor_phone_2]
    walk(session, demo, order, {"F": 12})
    assert escalation.tick(session=session, now=T0 + minutes(40)) == []


def test_crew_tier_falls_back_to_d_without_terminal_ack(session, demo):
    order = new_order(session, demo)
    walk(session, demo, order, {"D": 2})
    assert [a.stage for a in escalation.tick(session=session, now=T0 + minutes(6))] == [1]


def test_restart_loses_none_and_sends_none_twice(session, demo):
    """The worker was down through both deadlines: the first tick after restart raises both."""
    order = new_order(session, demo)
    raised = escalation.tick(session=session, now=T0 + minutes(20))
    assert [a.stage for a in raised] == [1, 2]
    # A second worker instance (or a restart) ticking at the same time raises nothing more.
    assert escalation.tick(session=session, now=T0 + minutes(20)) == []
    assert escalation.tick(session=session, now=T0 + minutes(21)) == []
    assert alerts(session, order) == [
        ("repair_center", 1, demo.departments["CALL"].id),
        ("repair_center", 2, demo.departments["RC-N"].id),
    ]


def test_restart_between_stages(session, demo):
    order = new_order(session, demo)
    assert len(escalation.tick(session=session, now=T0 + minutes(6))) == 1
    # ... process dies here; on restart the tick at T0+12 raises only the missing stage 2.
    assert [a.stage for a in escalation.tick(session=session, now=T0 + minutes(12))] == [2]
    assert len(alerts(session, order)) == 2


def test_a_recall_starts_a_new_round(session, demo):
    order = new_order(session, demo)
    walk(session, demo, order, {"D": 2, "E": 2.5})
    assert len(escalation.tick(session=session, now=T0 + minutes(7))) == 1
    service.reassign_order(
        session=session,
        actor=actor(session, "dispatcher"),
        order_id=order.id,
        crew_id=demo.crews["Urban Crew 1"].id,
        vehicle_id=None,
        reason="re-sent",
        now=T0 + minutes(8),
    )
    assert escalation.tick(session=session, now=T0 + minutes(11)) == []
    raised = escalation.tick(session=session, now=T0 + minutes(12))
    assert [(a.stage, a.dispatch_round) for a in raised] == [(1, 1)]


def test_configurable_threshold(session, demo):
    new_order(session, demo)
    policy = EscalationPolicy(accept_within=minutes(1), escalate_after=minutes(2))
    assert [
        a.stage for a in escalation.tick(session=session, now=T0 + minutes(2), policy=policy)
    ] == [1]
    assert [
        a.stage for a in escalation.tick(session=session, now=T0 + minutes(4), policy=policy)
    ] == [2]


def test_run_worker_once(db, demo, session):
    new_order(session, demo, at=T0)
    session.commit()  # savepoint inside the test transaction: visible to the worker's session
    raised = escalation.run_worker(db, once=True)
    assert raised >= 2  # T0 is long past: both stages are due


def test_alerts_api_ack_and_stream(api, demo, session):
    order = new_order(session, demo)
    escalation.tick(session=session, now=T0 + minutes(20))
    session.commit()
    center = api("dispatcher")
    listed = center.get("/api/v1/alerts").get_json()
    assert [a["stage"] for a in listed if a["order_id"] == str(order.id)] == [2]  # RC-N's scope
    call_listed = api("callcenter").get("/api/v1/alerts?open=true").get_json()
    alert = next(a for a in call_listed if a["order_id"] == str(order.id))
    acked = api("callcenter").post(f"/api/v1/alerts/{alert['id']}/acknowledge").get_json()
    assert acked["acknowledged_at"] and acked["acknowledged_by"].endswith("callcenter")
    assert all(
        a["id"] != alert["id"] for a in api("callcenter").get("/api/v1/alerts?open=true").get_json()
    )
    assert_problem(center.post(f"/api/v1/alerts/{alert['id']}/acknowledge"), 403)
    response = center.get("/api/v1/alerts/stream?after=0&max_seconds=0&poll_seconds=0.05")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    assert "event: alert" in text and str(order.id) in text and "call the supervisors" in text
    assert_problem(api("crew1").get("/api/v1/alerts/stream?max_seconds=0"), 403)


def test_alerts_settle_when_the_order_is_dispatched_and_accepted(api, demo, session):
    order = new_order(session, demo, at=T0)
    escalation.tick(session=session, now=T0 + minutes(6))  # the repair center is slow
    session.commit()
    call = api("callcenter")
    open_ids = [a["order_id"] for a in call.get("/api/v1/alerts?open=true").get_json()]
    assert str(order.id) in open_ids
    dispatched = api("dispatcher").post(
        f"/api/v1/work-orders/{order.id}/dispatch", json={"crew_id": demo.crews["Urban Crew 1"].id}
    )
    assert dispatched.status_code == 200, dispatched.get_json()
    open_ids = [a["order_id"] for a in call.get("/api/v1/alerts?open=true").get_json()]
    assert str(order.id) not in open_ids  # nothing overdue any more: it left the center
    settled = next(
        a for a in call.get("/api/v1/alerts").get_json() if a["order_id"] == str(order.id)
    )
    assert settled["settled_at"] and settled["acknowledged_at"] is None
    # The crew tier settles on acceptance the same way.
    session.expire_all()
    d_at = session.get(type(order), order.id).updated_at
    escalation.tick(session=session, now=d_at + minutes(5))
    session.commit()
    center = api("dispatcher")
    assert any(
        a["order_id"] == str(order.id) and a["tier"] == "crew"
        for a in center.get("/api/v1/alerts?open=true").get_json()
    )
    accepted = {"point": "F", "occurred_at": d_at.isoformat(), "source": "manual"}
    response = api("crew1").post(f"/api/v1/work-orders/{order.id}/events", json=accepted)
    assert response.status_code == 201, response.get_json()
    assert not any(
        a["order_id"] == str(order.id) for a in center.get("/api/v1/alerts?open=true").get_json()
    )


def test_fractional_minutes_are_said_as_they_are(session, demo):
    new_order(session, demo)
    policy = EscalationPolicy(accept_within=minutes(0.5), escalate_after=minutes(0.25))
    first, second = escalation.tick(session=session, now=T0 + minutes(2), policy=policy)
    assert "0.5 min after it arrived" in first.message
    assert "after 0.75 min" in second.message
    assert "0 min" not in first.message + second.message
