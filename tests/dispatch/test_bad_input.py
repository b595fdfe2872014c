"""Every bad input of issue 4 is a clear 4xx problem and leaves the order's history intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import assert_problem
from tests.dispatch.test_api_flow import create


def _now(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


def dispatched(api, demo, crew="Urban Crew 1"):
    specialty = "low_voltage" if crew == "Urban Crew 1" else "10kv"
    oid = create(api, demo, specialty=specialty, repair_center_id=demo.departments["RC-N"].id)["id"]
    r = api("dispatcher").post(
        f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": demo.crews[crew].id}
    )
    assert r.status_code == 200, r.get_json()
    return oid


def history(api, oid):
    return [
        (e["point"], e["event_id"])
        for e in api("dispatcher").get(f"/api/v1/work-orders/{oid}/events").get_json()
    ]


def post_event(api, oid, point, user="crew1", **extra):
    body = {"point": point, "occurred_at": _now(), "source": "terminal", **extra}
    return api(user).post(f"/api/v1/work-orders/{oid}/events", json=body)


def test_event_out_of_order(api, demo):
    oid = dispatched(api, demo)
    before = history(api, oid)
    body = assert_problem(post_event(api, oid, "H"), 409, "invalid-transition")
    assert body["current_state"] == "dispatched"
    assert "dispatched" in body["detail"]
    assert history(api, oid) == before


def test_event_for_recalled_order(api, demo):
    oid = dispatched(api, demo)
    assert post_event(api, oid, "E").status_code == 201
    r = api("dispatcher").post(f"/api/v1/work-orders/{oid}/recall", json={"reason": "wrong area"})
    assert r.status_code == 200 and r.get_json()["status"] == "center_accepted"
    before = history(api, oid)
    body = assert_problem(post_event(api, oid, "F"), 409)
    assert "recalled" in body["detail"]
    assert history(api, oid) == before


def test_future_time_beyond_tolerance(api, demo):
    oid = dispatched(api, demo)
    before = history(api, oid)
    body = assert_problem(post_event(api, oid, "E", occurred_at=_now(600)), 422)
    assert body["errors"][0]["field"] == "occurred_at"
    assert history(api, oid) == before
    # Within the tolerance the device time is kept but the timeline uses the server time.
    r = post_event(api, oid, "E", occurred_at=_now(60))
    assert r.status_code == 201
    event = r.get_json()
    assert event["clock_corrected"] is True and event["device_time"] > event["occurred_at"]


def test_unknown_crew(api, demo):
    oid = create(api, demo, repair_center_id=demo.departments["RC-N"].id)["id"]
    body = assert_problem(
        api("dispatcher").post(f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": 99999}), 422
    )
    assert body["errors"][0]["field"] == "crew_id"
    assert (
        api("dispatcher").get(f"/api/v1/work-orders/{oid}").get_json()["status"]
        == "at_repair_center"
    )


def test_dispatch_to_unavailable_crew(api, demo):
    center = api("dispatcher")
    emergency = demo.crews["Emergency Crew 1"].id
    r = center.put(
        f"/api/v1/crews/{emergency}/availability", json={"available": False, "reason": "meal"}
    )
    assert r.status_code == 200, r.get_json()
    oid = create(api, demo, specialty="10kv", repair_center_id=demo.departments["RC-N"].id)["id"]
    cands = center.get(f"/api/v1/work-orders/{oid}/candidates").get_json()
    assert [c["crew_name"] for c in cands] == ["Suburban Crew 1"]
    before = history(api, oid)
    body = assert_problem(
        center.post(f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": emergency}), 409
    )
    assert "unavailable" in body["detail"]
    assert history(api, oid) == before


def test_accept_by_a_crew_it_was_not_sent_to(api, demo):
    oid = dispatched(api, demo)
    before = history(api, oid)
    assert_problem(post_event(api, oid, "F", user="crew3"), 403)
    assert history(api, oid) == before


def test_double_accept(api, demo):
    oid = dispatched(api, demo)
    assert post_event(api, oid, "F", event_id="accept-1").status_code == 201
    before = history(api, oid)
    body = assert_problem(post_event(api, oid, "F", event_id="accept-2"), 409, "invalid-transition")
    assert body["current_state"] == "accepted"
    assert history(api, oid) == before


def test_same_work_type_may_not_all_be_unavailable(api, demo):
    center = api("dispatcher")
    sub, emr = demo.crews["Suburban Crew 1"].id, demo.crews["Emergency Crew 1"].id
    assert (
        center.put(
            f"/api/v1/crews/{sub}/availability", json={"available": False, "reason": "meal"}
        ).status_code
        == 200
    )
    body = assert_problem(
        center.put(
            f"/api/v1/crews/{emr}/availability", json={"available": False, "reason": "meal"}
        ),
        409,
    )
    assert "same work type" in body["detail"] and body["work_type"] == "10kv"
    assert_problem(center.put(f"/api/v1/crews/{emr}/availability", json={"available": False}), 422)
    assert (
        center.put(f"/api/v1/crews/{sub}/availability", json={"available": True}).status_code == 200
    )
    assert (
        center.put(
            f"/api/v1/crews/{emr}/availability", json={"available": False, "reason": "meal"}
        ).status_code
        == 200
    )


def test_crew_changes_only_its_own_availability(api, demo):
    other = demo.crews["Suburban Crew 1"].id
    assert_problem(
        api("crew1").put(
            f"/api/v1/crews/{other}/availability", json={"available": False, "reason": "meal"}
        ),
        403,
    )


def test_illegal_transition_names_state(api, demo):
    oid = create(api, demo, repair_center_id=demo.departments["RC-N"].id)["id"]
    body = assert_problem(
        api("callcenter").post(
            f"/api/v1/work-orders/{oid}/issue",
            json={"repair_center_id": demo.departments["RC-N"].id},
        ),
        409,
        "invalid-transition",
    )
    assert body["current_state"] == "at_repair_center"
    body = assert_problem(api("callcenter").post(f"/api/v1/work-orders/{oid}/close"), 409)
    assert body["current_state"] == "at_repair_center"
    # A new order is not visible to the repair center until it is issued.
    oid = create(api, demo)["id"]
    assert_problem(
        api("dispatcher").post(
            f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": demo.crews["Urban Crew 1"].id}
        ),
        403,
    )


def test_wrong_specialty_and_bad_center(api, demo):
    oid = create(api, demo)["id"]
    assert_problem(
        api("callcenter").post(
            f"/api/v1/work-orders/{oid}/issue",
            json={"repair_center_id": demo.departments["CALL"].id},
        ),
        422,
    )
    oid = create(api, demo, repair_center_id=demo.departments["RC-N"].id)["id"]
    assert_problem(
        api("dispatcher").post(
            f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": demo.crews["Water Crew 1"].id}
        ),
        422,
    )


def test_naive_and_future_hang_up(api, demo):
    call = api("callcenter")
    base = {"order_type": "electric", "fault_type": "x", "specialty": "low_voltage"}
    assert_problem(
        call.post("/api/v1/work-orders", json={**base, "hung_up_at": "2026-01-01T08:00:00"}), 422
    )
    assert_problem(call.post("/api/v1/work-orders", json={**base, "hung_up_at": _now(3600)}), 422)


def test_recall_from_terminal_and_reassign(api, demo, session):
    from sqlalchemy import select

    from backend.tracking.models import OutboundMessage

    oid = dispatched(api, demo, crew="Suburban Crew 1")
    assert post_event(api, oid, "E", user="crew3").status_code == 201
    r = api("dispatcher").post(
        f"/api/v1/work-orders/{oid}/reassign",
        json={"crew_id": demo.crews["Emergency Crew 1"].id, "reason": "closer"},
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "dispatched" and body["dispatch_round"] == 1
    assert body["crew_id"] == demo.crews["Emergency Crew 1"].id
    kinds = [
        (m.vehicle_id, m.kind)
        for m in session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.order_id == oid)
            .order_by(OutboundMessage.id)
        )
    ]
    sub, emr = demo.vehicles["ZJ-A2001"].id, demo.vehicles["ZJ-A3001"].id
    assert kinds == [(sub, "order"), (sub, "recall"), (emr, "order")]
    # The old crew's late events are refused; the new crew proceeds.
    assert_problem(post_event(api, oid, "F", user="crew3"), 409)
    assert post_event(api, oid, "F", user="crew4").status_code == 201
    timeline = api("dispatcher").get(f"/api/v1/work-orders/{oid}/timeline").get_json()
    assert timeline["segments"][3]["status"] == "unknown"  # DE: the new terminal never acked
    points = [
        e["point"] for e in api("dispatcher").get(f"/api/v1/work-orders/{oid}/events").get_json()
    ]
    assert points == ["A", "B", "C", "D", "E", "recalled", "D", "F"]


def test_call_center_recalls_from_repair_center(api, demo):
    oid = create(api, demo, repair_center_id=demo.departments["RC-N"].id)["id"]
    assert_problem(
        api("dispatcher").post(f"/api/v1/work-orders/{oid}/recall", json={"reason": "x"}), 403
    )
    r = api("callcenter").post(f"/api/v1/work-orders/{oid}/recall", json={"reason": "wrong center"})
    assert r.get_json()["status"] == "new" and r.get_json()["repair_center_id"] is None
