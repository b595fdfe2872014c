"""An order walked A->H (and on to closed) through the API by the right roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.conftest import assert_problem


def _now(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


def create(api, demo, **extra):
    body = {
        "order_type": "electric",
        "fault_type": "no power",
        "specialty": "low_voltage",
        "caller_name": "Ms Li",
        "caller_phone": "13800000000",
        "address": "12 West Lake Rd",
        "location": {"lat": 30.27, "lon": 120.16},
        "hung_up_at": _now(-120),
        **extra,
    }
    response = api("callcenter").post("/api/v1/work-orders", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_walk_a_to_h_and_close(api, demo):
    call, center, crew = api("callcenter"), api("dispatcher"), api("crew1")
    order = create(api, demo)
    oid = order["id"]
    assert order["status"] == "new"
    r = call.post(
        f"/api/v1/work-orders/{oid}/issue",
        json={"repair_center_id": demo.departments["RC-N"].id, "issued_at": _now(-60)},
    )
    assert r.status_code == 200 and r.get_json()["status"] == "at_repair_center"
    assert (
        center.post(f"/api/v1/work-orders/{oid}/accept").get_json()["status"] == "center_accepted"
    )
    cands = center.get(f"/api/v1/work-orders/{oid}/candidates").get_json()
    # Both low-voltage crews qualify; with equal load the crew sharing the center's site leads.
    assert sorted(c["crew_name"] for c in cands) == ["Urban Crew 1", "Urban Crew 2"]
    r = center.post(
        f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": demo.crews["Urban Crew 1"].id}
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["status"] == "dispatched" and body["vehicle_id"] == demo.vehicles["ZJ-A1001"].id
    assert body["same_site"] is True and body["queue_position"] == 1
    statuses = []
    for point in ("E", "F", "G", "H", "finished"):
        r = crew.post(
            f"/api/v1/work-orders/{oid}/events",
            json={
                "point": point,
                "occurred_at": _now(),
                "event_id": f"{oid}-{point}",
                "source": "terminal",
            },
        )
        assert r.status_code == 201, r.get_json()
        statuses.append(crew.get(f"/api/v1/work-orders/{oid}").get_json()["status"])
    assert statuses == ["delivered", "accepted", "en_route", "on_site", "finished"]
    timeline = center.get(f"/api/v1/work-orders/{oid}/timeline").get_json()
    assert [s["segment"] for s in timeline["segments"]] == [
        "AB",
        "BC",
        "CD",
        "DE",
        "EF",
        "FG",
        "GH",
    ]
    assert all(s["status"] == "done" and s["color"] for s in timeline["segments"])
    assert timeline["total"]["status"] == "done"
    assert all(timeline["points"][p] for p in "ABCDEFGH")
    ab = timeline["segments"][0]
    assert ab["responsible"] == "call_center"
    assert ab["responsible_department_id"] == demo.departments["CALL"].id
    gh = timeline["segments"][6]
    assert gh["responsible_department_id"] == demo.departments["ST-URB"].id
    # The follow-up needs the fault record first.
    assert_problem(
        call.post(f"/api/v1/work-orders/{oid}/follow-up", json={"result": "ok", "satisfied": True}),
        409,
    )
    r = crew.put(
        f"/api/v1/work-orders/{oid}/fault-record",
        json={"cause": "blown fuse", "actions_taken": "replaced fuse", "materials": ["fuse"]},
    )
    assert r.status_code == 200, r.get_json()
    r = call.post(f"/api/v1/work-orders/{oid}/follow-up", json={"result": "ok", "satisfied": True})
    assert r.get_json()["status"] == "followed_up"
    assert call.post(f"/api/v1/work-orders/{oid}/close").get_json()["status"] == "closed"
    events = center.get(f"/api/v1/work-orders/{oid}/events").get_json()
    assert [e["point"] for e in events] == [
        "A",
        "B",
        "C",
        "center_accepted",
        "D",
        "E",
        "F",
        "G",
        "H",
        "finished",
        "follow_up",
        "closed",
    ]


def test_duplicate_event_is_idempotent(api, demo):
    order = create(api, demo, repair_center_id=demo.departments["RC-N"].id)
    oid = order["id"]
    api("dispatcher").post(
        f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": demo.crews["Urban Crew 1"].id}
    )
    crew = api("crew1")
    body = {"point": "E", "occurred_at": _now(), "event_id": "dup-1", "source": "terminal"}
    first = crew.post(f"/api/v1/work-orders/{oid}/events", json=body)
    second = crew.post(f"/api/v1/work-orders/{oid}/events", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["id"] == second.get_json()["id"]
    assert len(crew.get(f"/api/v1/work-orders/{oid}/events").get_json()) == 5  # A B C D E


def test_roles_are_enforced(api, demo):
    order = create(api, demo)
    assert_problem(
        api("crew1").post(
            f"/api/v1/work-orders/{order['id']}/issue",
            json={"repair_center_id": demo.departments["RC-N"].id},
        ),
        403,
    )
    assert_problem(api("dispatcher").post("/api/v1/work-orders", json={}), 403)
    assert_problem(api("dispatcher").get(f"/api/v1/work-orders/{uuid.uuid4()}"), 404)


def test_vehicle_queue_holds_several_orders(api, demo):
    center = api("dispatcher")
    ids = []
    for _ in range(3):
        oid = create(api, demo, repair_center_id=demo.departments["RC-N"].id)["id"]
        center.post(
            f"/api/v1/work-orders/{oid}/dispatch", json={"crew_id": demo.crews["Urban Crew 1"].id}
        )
        ids.append(oid)
    vid = demo.vehicles["ZJ-A1001"].id
    queue = center.get(f"/api/v1/vehicles/{vid}/queue").get_json()
    assert [o["id"] for o in queue] == ids
    assert [o["queue_position"] for o in queue] == [1, 2, 3]
    r = center.put(f"/api/v1/vehicles/{vid}/queue", json={"order_ids": ids[::-1]})
    assert [o["id"] for o in r.get_json()] == ids[::-1]
    assert_problem(center.put(f"/api/v1/vehicles/{vid}/queue", json={"order_ids": ids[:1]}), 422)
    # Moved to Urban Crew 2, the vehicle still carries Urban Crew 1's open orders: its new
    # crew reads them by no door, so not through the queue either.
    moved = center.patch(f"/api/v1/vehicles/{vid}", json={"crew_id": demo.crews["Urban Crew 2"].id})
    assert moved.status_code == 200, moved.get_json()
    for oid in ids:
        assert_problem(api("crew6").get(f"/api/v1/work-orders/{oid}"), 403)
    assert api("crew6").get(f"/api/v1/vehicles/{vid}/queue").get_json() == []
    # A new order of the new crew queues behind the ones it cannot see: no shared place.
    mine = create(api, demo, repair_center_id=demo.departments["RC-N"].id)["id"]
    center.post(f"/api/v1/work-orders/{mine}/dispatch",
                json={"crew_id": demo.crews["Urban Crew 2"].id, "vehicle_id": vid})  # fmt: skip
    assert [o["id"] for o in api("crew6").get(f"/api/v1/vehicles/{vid}/queue").json] == [mine]
    positions = [o["queue_position"] for o in center.get(f"/api/v1/vehicles/{vid}/queue").json]
    assert len(positions) == len(set(positions)) == 4, positions
    assert_problem(api("crew1").get(f"/api/v1/vehicles/{vid}/queue"), 403)  # not its vehicle now


def test_sla_policy_per_region(api, demo):
    sup = api("supervisor")
    policy = sup.get("/api/v1/sla-policies").get_json()[-1]
    policy["limits_minutes"]["GH"] = 20
    body = {"limits_minutes": policy["limits_minutes"], "responsible": policy["responsible"]}
    r = sup.put("/api/v1/sla-policies/HZ/electric", json=body)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["limits_minutes"]["GH"] == 20
    body["limits_minutes"]["AB"] = -1
    assert_problem(sup.put("/api/v1/sla-policies/HZ/electric", json=body), 422)


def test_reordering_numbers_the_callers_orders_after_those_it_may_not_read(session, demo):
    """A vehicle moved between repair centers carries the first one's open orders, which the
    second does not read: reordering its own puts them after those, never on their places."""
    from dataclasses import replace

    from backend.dispatch import queue as queues
    from backend.dispatch import service
    from backend.org.models import Crew, Department
    from tests.dispatch.factories import actor, new_order

    vehicle = demo.vehicles["ZJ-A1001"]
    theirs = []
    for _ in range(2):  # North's orders on the vehicle, places 1 and 2
        order = new_order(session, demo)
        service.dispatch_order(session=session, actor=actor(session, "dispatcher"),
                               order_id=order.id, crew_id=demo.crews["Urban Crew 1"].id,
                               vehicle_id=vehicle.id)  # fmt: skip
        theirs.append(order)
    root = session.get(Department, demo.departments["RC-N"].parent_id)
    south = Department(code="RC-S", name="South", kind="repair_center", parent_id=root.id,
                       region_code=root.region_code)  # fmt: skip
    session.add(south)
    session.flush()
    south.path = f"{root.path}{south.id}/"
    crew = Crew(name="South Crew", department_id=south.id, work_types=["low_voltage"])
    session.add(crew)
    session.flush()
    vehicle.crew_id, vehicle.department_id = crew.id, south.id
    session.flush()
    mine = new_order(session, demo)
    mine.repair_center_id = mine.department_id = south.id
    mine.vehicle_id, mine.crew_id, mine.status, mine.queue_position = (
        vehicle.id, crew.id, "dispatched", 1,
    )  # fmt: skip
    session.flush()
    manager = replace(actor(session, "admin"), department_id=south.id,
                      department_path=south.path)  # South's admin  # fmt: skip
    visible = queues.vehicle_queue(session=session, actor=manager, vehicle_id=vehicle.id)
    assert [o.id for o in visible] == [mine.id]
    queues.reorder_queue(session=session, actor=manager, vehicle_id=vehicle.id,
                         order_ids=[mine.id])  # fmt: skip
    places = sorted(o.queue_position for o in (*theirs, mine))
    assert places == [1, 2, 3], places
