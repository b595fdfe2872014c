"""Water: pipes and valves, the valves that isolate a pipe, water orders and their reminders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from backend.dispatch.alerts import settle_all
from backend.dispatch.escalation import EscalationPolicy, tick
from backend.dispatch.models import Alert, TimingEvent, WorkOrder
from backend.dispatch.timing.policies import policy_for
from backend.dispatch.timing.sla import TOTAL
from tests.conftest import assert_problem

_n = iter(range(1, 1_000_000))


def node(api: Any, kind: str, lon: float, **extra: Any) -> dict[str, Any]:
    body = {"code": f"WN-{next(_n):05d}", "kind": kind,
            "location": {"type": "Point", "coordinates": [lon, 30.25]}, **extra}  # fmt: skip
    response = api.post("/api/v1/water/nodes", json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def pipe(api: Any, a: dict[str, Any], b: dict[str, Any], **extra: Any) -> dict[str, Any]:
    coords = [a["location"]["coordinates"], b["location"]["coordinates"]]
    body = {"code": f"WP-{next(_n):05d}", "from_node_id": a["id"], "to_node_id": b["id"],
            "route": {"type": "LineString", "coordinates": coords}, "diameter_mm": 300,
            "material": "ductile iron", **extra}  # fmt: skip
    response = api.post("/api/v1/water/pipes", json=body)
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def small_network(api: Any) -> dict[str, dict[str, Any]]:
    """source S -p1- valve V1 -p2- J1 -p3- valve V2 -p4- J2; J1 -p5- hydrant H; J1 -p6- J2.

    The known answer for p3: close V1 and V2 (the loop J1-J2 runs back to V2 through p6 and
    p4), p2 p3 p4 p5 p6 run dry with hydrant H; p1 cannot be isolated (the source feeds it).
    """
    s = node(api, "source", 120.10)
    v1 = node(api, "valve", 120.11)
    j1 = node(api, "junction", 120.12)
    v2 = node(api, "valve", 120.13)
    j2 = node(api, "junction", 120.14)
    h = node(api, "hydrant", 120.125)
    m = node(api, "monitoring_point", 120.135, attributes={"measures": ["pressure"]})
    pipes = {
        "p1": pipe(api, s, v1), "p2": pipe(api, v1, j1), "p3": pipe(api, j1, v2),
        "p4": pipe(api, v2, j2), "p5": pipe(api, j1, h), "p6": pipe(api, j1, j2),
    }  # fmt: skip
    return {"S": s, "V1": v1, "J1": j1, "V2": v2, "J2": j2, "H": h, "M": m, **pipes}


def test_the_valves_to_close_for_a_pipe_on_a_network_with_a_loop(api: Any) -> None:
    dispatcher = api("dispatcher")
    net = small_network(dispatcher)
    answer = api("callcenter").get(f"/api/v1/water/pipes/{net['p3']['id']}/isolation")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["isolable"] is True
    assert {v["code"] for v in body["valves"]} == {net["V1"]["code"], net["V2"]["code"]}
    assert {p["code"] for p in body["pipes"]} == {
        net[p]["code"] for p in ("p2", "p3", "p4", "p5", "p6")
    }  # noqa: E501
    assert [h["code"] for h in body["hydrants_out"]] == [net["H"]["code"]]
    fed = dispatcher.get(f"/api/v1/water/pipes/{net['p1']['id']}/isolation").get_json()
    assert fed["isolable"] is False
    assert [s["code"] for s in fed["sources_reached"]] == [net["S"]["code"]]
    assert [v["code"] for v in fed["valves"]] == [net["V1"]["code"]]
    layer = dispatcher.get("/api/v1/network/layers/water-pipes?page_size=100").get_json()
    assert {f["properties"]["code"] for f in layer["features"]} >= {net["p3"]["code"]}
    valves = dispatcher.get("/api/v1/water/nodes?kind=valve&page_size=100").get_json()
    assert {net["V1"]["id"], net["V2"]["id"]} <= {v["id"] for v in valves}
    assert all(v["valve_open"] is True for v in valves if v["id"] == net["V1"]["id"])


def test_bad_water_assets_are_refused(api: Any) -> None:
    dispatcher = api("dispatcher")
    a, b = node(dispatcher, "junction", 120.2), node(dispatcher, "junction", 120.21)
    route = {"type": "LineString", "coordinates": [[120.2, 30.25], [120.21, 30.25]]}
    base = {"code": "WP-BAD", "route": route, "diameter_mm": 100, "material": "PE"}
    same = {**base, "from_node_id": a["id"], "to_node_id": a["id"]}
    assert_problem(dispatcher.post("/api/v1/water/pipes", json=same), 422)
    unknown = {**base, "from_node_id": a["id"], "to_node_id": str(uuid.uuid4())}
    assert_problem(dispatcher.post("/api/v1/water/pipes", json=unknown), 422)
    crossing = {"type": "LineString", "coordinates": [[0, 0], [1, 1], [1, 0], [0, 1]]}
    bent = {**base, "from_node_id": a["id"], "to_node_id": b["id"], "route": crossing}
    assert_problem(dispatcher.post("/api/v1/water/pipes", json=bent), 422)
    body = {"code": a["code"], "kind": "valve", "location": "POINT(120.2 30.25)"}
    assert_problem(dispatcher.post("/api/v1/water/nodes", json=body), 409)
    hydrant = {"code": "WN-H", "kind": "hydrant", "location": "POINT(120.2 30.25)",
               "valve_open": False}  # fmt: skip
    assert_problem(dispatcher.post("/api/v1/water/nodes", json=hydrant), 422)
    assert_problem(api("callcenter").post("/api/v1/water/nodes", json={**body, "code": "X"}), 403)
    assert_problem(dispatcher.get(f"/api/v1/water/pipes/{uuid.uuid4()}/isolation"), 404)


def _water_call(api: Any, demo: Any, **extra: Any) -> Any:
    return api("callcenter").post(
        "/api/v1/work-orders",
        json={
            "order_type": "water", "fault_type": "burst main", "specialty": "water",
            "hung_up_at": datetime.now(UTC).isoformat(),
            "repair_center_id": demo.departments["RC-N"].id, **extra,
        },
    )  # fmt: skip


def test_a_water_order_names_its_pipe(api: Any, demo: Any) -> None:
    dispatcher = api("dispatcher")
    net = small_network(dispatcher)
    created = _water_call(api, demo, water_asset_id=net["p3"]["id"])
    assert created.status_code == 201, created.get_json()
    shown = dispatcher.get(f"/api/v1/water/pipes/{net['p3']['id']}").get_json()
    assert shown["orders"] == [created.get_json()["id"]]
    assert_problem(_water_call(api, demo, water_asset_id=str(uuid.uuid4())), 422)
    electric = api("callcenter").post(
        "/api/v1/work-orders",
        json={"order_type": "electric", "fault_type": "no power", "specialty": "low_voltage",
              "hung_up_at": datetime.now(UTC).isoformat(), "water_asset_id": net["p3"]["id"]},
    )  # fmt: skip
    assert_problem(electric, 422)


def test_water_orders_get_arrival_and_overdue_reminders_at_two_levels(
    api: Any, demo: Any, session: Any
) -> None:
    order_id = uuid.UUID(_water_call(api, demo).get_json()["id"])
    order = session.get(WorkOrder, order_id)
    water = policy_for(session, region_code=order.region_code, order_type="water")
    arrival = water.limit_for(TOTAL, False)
    assert arrival == timedelta(minutes=90)  # the water policy of revision 1630
    policy = EscalationPolicy()
    start = session.scalar(  # the call (timing point A) starts both clocks
        select(TimingEvent.occurred_at).where(
            TimingEvent.order_id == order_id, TimingEvent.point == "A"
        )
    )

    def reminders() -> list[tuple[str, int]]:
        rows = session.scalars(
            select(Alert).where(Alert.order_id == order_id, Alert.tier.like("water_%"))
        )
        return sorted((a.tier, a.stage) for a in rows)

    tick(session=session, now=start + arrival - timedelta(seconds=30))
    assert reminders() == []
    tick(session=session, now=start + arrival)  # at the limit is in time (the engine's rule)
    assert reminders() == []
    tick(session=session, now=start + arrival + timedelta(seconds=30))
    assert reminders() == [("water_arrival", 1)]
    tick(session=session, now=start + arrival + policy.escalate_after + timedelta(seconds=30))
    tick(session=session, now=start + arrival + policy.escalate_after + timedelta(seconds=31))
    assert reminders() == [("water_arrival", 1), ("water_arrival", 2)]  # once each
    tick(session=session, now=start + policy.water_repair_within + timedelta(seconds=30))
    assert ("water_repair", 1) in reminders()
    # The crew arrives: the arrival reminders settle, the overdue one still stands.
    order.status = "on_site"
    session.flush()
    settle_all(session, start + policy.water_repair_within + timedelta(minutes=1))
    open_tiers = {
        a.tier
        for a in session.scalars(
            select(Alert).where(Alert.order_id == order_id, Alert.settled_at.is_(None))
        )
    }
    assert "water_arrival" not in open_tiers and "water_repair" in open_tiers
