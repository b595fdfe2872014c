"""Probable outages: repeated calls under one area or line are grouped, not dispatched 20 times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from backend.dispatch.escalation import due_alerts
from backend.dispatch.models import WorkOrder
from backend.network import suggestions
from backend.network.outage_models import OrderOutageLink
from tests.conftest import assert_problem
from tests.network.helpers import make_area, make_customer, make_line
from tests.network.test_grouping import _call


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _decision_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "reason": "10 kV cable fault",
        "planned_end_at": _iso(datetime.now(UTC) + timedelta(hours=3)),
    }
    body.update(overrides)
    return body


def test_twenty_calls_from_one_area_are_one_piece_of_work(
    api: Any, demo: Any, session: Any
) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    area = make_area(dispatcher, line["id"])
    callers = [make_customer(archivist, area) for _ in range(20)]

    orders = [_call(api, demo, c) for c in callers]
    dispatched = [o for o in orders if o["repair_center_id"] is not None]
    held = [o for o in orders if o["repair_center_id"] is None]
    # The first two calls go out as usual; the third raises the suggestion and is held, and
    # so is every call after it.
    assert len(dispatched) == suggestions.MIN_CUSTOMERS - 1 and len(held) == 18
    listed = dispatcher.get("/api/v1/outage-suggestions?status=open").get_json()
    assert len(listed) == 1
    suggestion = listed[0]
    assert (suggestion["level"], suggestion["area_id"], suggestion["call_count"]) == (
        "area", area["id"], 20,
    )  # fmt: skip
    assert sum(c["held"] for c in suggestion["calls"]) == 18
    events = api("callcenter").get(f"/api/v1/work-orders/{held[0]['id']}/events").get_json()
    assert any(e["point"] == "linked_suggestion" for e in events)
    # A held call cannot be issued behind the dispatcher's back.
    issue = api("callcenter").post(
        f"/api/v1/work-orders/{held[0]['id']}/issue",
        json={"repair_center_id": demo.departments["RC-N"].id},
    )
    assert_problem(issue, 409)

    confirmed = dispatcher.post(
        f"/api/v1/outage-suggestions/{suggestion['id']}/confirm", json=_decision_body()
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    decision = confirmed.get_json()
    outage = decision["outage"]
    assert decision["suggestion"]["status"] == "confirmed"
    assert (outage["scope"], outage["area_id"], outage["kind"]) == ("area", area["id"], "unplanned")
    linked = set(
        session.scalars(
            select(OrderOutageLink.order_id).where(
                OrderOutageLink.outage_id == uuid.UUID(outage["id"])
            )
        )
    )
    assert linked == {uuid.UUID(o["id"]) for o in held}
    # Twenty calls, two repair orders at the repair center; no alert for the rest, ever.
    ids = [uuid.UUID(o["id"]) for o in orders]
    at_center = session.scalar(
        select(func.count()).where(WorkOrder.id.in_(ids), WorkOrder.repair_center_id.isnot(None))
    )
    assert at_center == 2
    alerted = {str(a.order_id) for a in due_alerts(session, datetime.now(UTC) + timedelta(days=1))}
    assert not alerted & {o["id"] for o in held}
    # A twenty-first call now links straight to the outage.
    late = _call(api, demo, make_customer(archivist, area))
    assert late["repair_center_id"] is None
    assert session.get(OrderOutageLink, uuid.UUID(late["id"])).outage_id == uuid.UUID(outage["id"])
    assert_problem(
        dispatcher.post(
            f"/api/v1/outage-suggestions/{suggestion['id']}/confirm", json=_decision_body()
        ),
        409,
    )


def test_calls_from_two_areas_of_one_line_suggest_the_line(api: Any, demo: Any) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    a1, a2 = make_area(dispatcher, line["id"]), make_area(dispatcher, line["id"])
    for area in (a1, a2):
        for _ in range(suggestions.MIN_CUSTOMERS):
            _call(api, demo, make_customer(archivist, area))
    listed = dispatcher.get("/api/v1/outage-suggestions?status=open").get_json()
    levels = sorted((s["level"], s["area_id"]) for s in listed)
    assert levels == sorted([("area", a1["id"]), ("area", a2["id"]), ("line", None)])
    line_suggestion = next(s for s in listed if s["level"] == "line")
    assert line_suggestion["line_id"] == line["id"] and line_suggestion["call_count"] == 6
    # The next call under either area is held under the line.
    third = make_area(dispatcher, line["id"])
    held = _call(api, demo, make_customer(archivist, a1))
    assert held["repair_center_id"] is None
    confirmed = dispatcher.post(
        f"/api/v1/outage-suggestions/{line_suggestion['id']}/confirm", json=_decision_body()
    ).get_json()
    assert confirmed["outage"]["scope"] == "line"
    assert {a["area_id"] for a in confirmed["outage"]["areas"]} == {a1["id"], a2["id"], third["id"]}
    assert dispatcher.get("/api/v1/outage-suggestions?status=open").get_json() == []
    decided = dispatcher.get("/api/v1/outage-suggestions?status=confirmed").get_json()
    assert {s["outage_id"] for s in decided} == {confirmed["outage"]["id"]}


def test_a_dismissed_suggestion_releases_its_calls_and_starts_counting_afresh(
    api: Any, demo: Any
) -> None:
    dispatcher, archivist, callcenter = api("dispatcher"), api("archivist"), api("callcenter")
    line = make_line(dispatcher)
    area = make_area(dispatcher, line["id"])
    orders = [_call(api, demo, make_customer(archivist, area)) for _ in range(4)]
    held = [o for o in orders if o["repair_center_id"] is None]
    assert len(held) == 2
    suggestion = dispatcher.get("/api/v1/outage-suggestions?status=open").get_json()[0]
    assert_problem(
        callcenter.post(f"/api/v1/outage-suggestions/{suggestion['id']}/dismiss", json={}), 403
    )
    dismissed = dispatcher.post(
        f"/api/v1/outage-suggestions/{suggestion['id']}/dismiss", json={"note": "one meter fault"}
    )
    assert dismissed.status_code == 200, dismissed.get_json()
    assert dismissed.get_json()["suggestion"]["status"] == "dismissed"
    issued = callcenter.post(
        f"/api/v1/work-orders/{held[0]['id']}/issue",
        json={"repair_center_id": demo.departments["RC-N"].id},
    )
    assert issued.status_code == 200, issued.get_json()
    # Calls before the dismissal no longer count: the next one goes out as usual.
    nxt = _call(api, demo, make_customer(archivist, area))
    assert nxt["repair_center_id"] is not None
    assert dispatcher.get("/api/v1/outage-suggestions?status=open").get_json() == []


def test_bad_decisions_are_problems(api: Any, demo: Any) -> None:
    dispatcher = api("dispatcher")
    assert_problem(dispatcher.get("/api/v1/outage-suggestions/999999"), 404)
    assert_problem(
        dispatcher.post("/api/v1/outage-suggestions/999999/confirm", json=_decision_body()), 404
    )
    assert_problem(dispatcher.get("/api/v1/outage-suggestions?status=maybe"), 422)
    # The record is found (and the caller's right checked) before the body is read.
    _, listed, _ = _line_with_two_suggested_areas(api, demo)
    line_suggestion = next(s for s in listed if s["level"] == "line")
    confirm = f"/api/v1/outage-suggestions/{line_suggestion['id']}/confirm"
    assert_problem(dispatcher.post(confirm, json={"reason": "x"}), 422)
    assert dispatcher.get("/api/v1/outage-suggestions?status=open").get_json() == listed


def _line_with_two_suggested_areas(api: Any, demo: Any) -> tuple[Any, list[Any], list[Any]]:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    areas = [make_area(dispatcher, line["id"]), make_area(dispatcher, line["id"])]
    calls = [
        _call(api, demo, make_customer(archivist, area))
        for area in areas
        for _ in range(suggestions.MIN_CUSTOMERS + 1)
    ]
    listed = dispatcher.get("/api/v1/outage-suggestions?status=open").get_json()
    return line, listed, calls


def test_dismissing_a_line_settles_the_areas_it_grouped(api: Any, demo: Any) -> None:
    dispatcher, callcenter = api("dispatcher"), api("callcenter")
    line, listed, calls = _line_with_two_suggested_areas(api, demo)
    line_suggestion = next(s for s in listed if s["level"] == "line")
    area_ids = [s["id"] for s in listed if s["level"] == "area"]
    # An area grouped under the open line is decided through the line, not on its own.
    for decision, body in (("dismiss", {}), ("confirm", _decision_body())):
        refused = dispatcher.post(f"/api/v1/outage-suggestions/{area_ids[0]}/{decision}",
                                  json=body)  # fmt: skip
        assert_problem(refused, 409)
        assert str(line_suggestion["id"]) in refused.get_json()["detail"]
    dismissed = dispatcher.post(
        f"/api/v1/outage-suggestions/{line_suggestion['id']}/dismiss", json={"note": "meters"}
    )
    assert dismissed.status_code == 200, dismissed.get_json()
    assert dispatcher.get("/api/v1/outage-suggestions?status=open").get_json() == []
    for suggestion_id in (line_suggestion["id"], *area_ids):
        one = dispatcher.get(f"/api/v1/outage-suggestions/{suggestion_id}").get_json()
        assert one["status"] == "dismissed" and one["note"] == "meters", one
        assert_problem(
            dispatcher.post(f"/api/v1/outage-suggestions/{suggestion_id}/dismiss", json={}), 409
        )
    # Every held call (under the areas and under the line) goes back to the queue.
    held = [c for c in calls if c["repair_center_id"] is None]
    assert held
    center = {"repair_center_id": demo.departments["RC-N"].id}
    for call in held:
        issued = callcenter.post(f"/api/v1/work-orders/{call['id']}/issue", json=center)
        assert issued.status_code == 200, issued.get_json()


def test_an_outage_set_by_hand_settles_the_suggestions_it_covers(
    api: Any, demo: Any, db: Any
) -> None:
    dispatcher = api("dispatcher")
    line, listed, calls = _line_with_two_suggested_areas(api, demo)
    now = datetime.now(UTC)
    created = dispatcher.post("/api/v1/outages", json={
        "kind": "unplanned", "scope": "line", "line_id": line["id"], "reason": "feeder tripped",
        "starts_at": _iso(now - timedelta(minutes=20)),
        "planned_end_at": _iso(now + timedelta(hours=2)),
    })  # fmt: skip
    assert created.status_code == 201, created.get_json()
    outage_id = created.get_json()["id"]
    assert dispatcher.get("/api/v1/outage-suggestions?status=open").get_json() == []
    decided = dispatcher.get("/api/v1/outage-suggestions?status=confirmed").get_json()
    assert {s["id"] for s in decided} >= {s["id"] for s in listed}
    assert {s["outage_id"] for s in decided if s["id"] in {x["id"] for x in listed}} == {outage_id}
    held = {c["id"] for c in calls if c["repair_center_id"] is None}
    with db.session_factory() as session:
        joined = set(
            str(o)
            for o in session.scalars(
                select(OrderOutageLink.order_id).where(
                    OrderOutageLink.outage_id == uuid.UUID(outage_id)
                )
            )
        )
    assert held and held <= joined


def test_an_outage_that_has_not_started_leaves_the_held_calls_held(
    api: Any, demo: Any, db: Any
) -> None:
    """A planned outage for tomorrow (or one only predicted) does not explain today's calls:
    they stay held, so they still escalate and the next call still joins them."""
    dispatcher = api("dispatcher")
    line, listed, calls = _line_with_two_suggested_areas(api, demo)
    now = datetime.now(UTC)
    for status, starts in (("confirmed", now + timedelta(days=1)), ("predicted", now)):
        created = dispatcher.post("/api/v1/outages", json={
            "kind": "planned", "scope": "line", "line_id": line["id"], "reason": "works",
            "status": status, "starts_at": _iso(starts),
            "planned_end_at": _iso(starts + timedelta(hours=2)),
        })  # fmt: skip
        assert created.status_code == 201, created.get_json()
        still = {s["id"] for s in dispatcher.get("/api/v1/outage-suggestions?status=open").json}
        assert still >= {s["id"] for s in listed}, status
    predicted = created.get_json()["id"]
    held = [uuid.UUID(c["id"]) for c in calls if c["repair_center_id"] is None]

    def linked() -> int:
        with db.session_factory() as session:
            count = select(func.count()).where(OrderOutageLink.order_id.in_(held))
            return int(session.scalar(count) or 0)

    assert held and linked() == 0
    # Confirmed, the prediction cuts the line now: it settles them as if set confirmed.
    confirmed = dispatcher.post(f"/api/v1/outages/{predicted}/transition", json={"to": "confirmed"})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert dispatcher.get("/api/v1/outage-suggestions?status=open").json == []
    assert linked() == len(held)
