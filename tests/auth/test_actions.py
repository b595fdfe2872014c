"""`GET /auth/me` lists what the caller may do; each action matches what the API enforces."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from backend.auth.actions import CONSOLE_ACTIONS

ORDER = f"/api/v1/work-orders/{uuid.uuid4()}"
# One request per action that reaches the role check (403) before anything else can fail.
PROBES: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "order.read": ("GET", "/api/v1/work-orders", None),
    "order.create": ("POST", "/api/v1/work-orders", {}),
    "order.issue": ("POST", f"{ORDER}/issue", {"repair_center_id": 1}),
    "order.accept": ("POST", f"{ORDER}/accept", None),
    "order.candidates": ("GET", f"{ORDER}/candidates", None),
    "order.dispatch": ("POST", f"{ORDER}/dispatch", {"crew_id": 1}),
    "order.recall": ("POST", f"{ORDER}/recall", {"reason": "x"}),
    "order.reassign": ("POST", f"{ORDER}/reassign", {"crew_id": 1, "reason": "x"}),
    "order.follow_up": ("POST", f"{ORDER}/follow-up", {"result": "x", "satisfied": True}),
    "order.close": ("POST", f"{ORDER}/close", None),
    "queue.reorder": ("PUT", "/api/v1/vehicles/999999/queue", {"order_ids": []}),
    "crew.availability": ("PUT", "/api/v1/crews/999999/availability", {"available": True}),
    "alert.read": ("GET", "/api/v1/alerts", None),
    "alert.acknowledge": ("POST", "/api/v1/alerts/999999/acknowledge", None),
    "tracking.read": ("GET", "/api/v1/tracking/vehicles", None),
    "report.read": ("GET", "/api/v1/reports/call-center-daily?day=2026-01-01", None),
    "sla_policy.write": ("PUT", "/api/v1/sla-policies/ZZ/electric", {}),
    "network.read": ("GET", "/api/v1/network/layers/lines", None),
    "network.quick_query": ("GET", "/api/v1/quick-query?q=nobody", None),
    "outage.read": ("GET", "/api/v1/outages", None),
    "risk.read": ("GET", "/api/v1/risk/report", None),
    "risk.assess": ("POST", "/api/v1/risk/warnings/999999/acknowledge", None),
    "inspection.read": ("GET", "/api/v1/inspection-tasks", None),
    "case.read": ("GET", "/api/v1/cases", None),
    "inspection.report.read": (
        "GET",
        "/api/v1/reports/inspections?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
        None,
    ),
    "verification.read": ("GET", "/api/v1/verification-batches", None),
    "archive.read": ("GET", "/api/v1/archive/layers/premises", None),
    "conflict.resolve": (
        "POST",
        "/api/v1/sync/conflicts/999999/resolve",
        {"resolution": "take_server"},
    ),
}
USERS = [
    "admin",
    "auditor",
    "callcenter",
    "dispatcher",
    "supervisor",
    "crew1",
    "inspector",
    "archivist",
    "collector",
    "keyaccount",
]


def test_every_action_has_a_probe() -> None:
    assert set(PROBES) == set(CONSOLE_ACTIONS)


def test_me_lists_the_callers_actions(api: Any) -> None:
    me = api("dispatcher").get("/api/v1/auth/me").get_json()
    assert me["role"] == "repair_center"
    assert {"order.accept", "order.dispatch", "order.reassign", "queue.reorder"} <= set(
        me["actions"]
    )
    assert "order.create" not in me["actions"] and "sla_policy.write" not in me["actions"]
    crew = api("crew1").get("/api/v1/auth/me").get_json()
    assert crew["actions"] == [
        "archive.read",
        "crew.availability",
        "network.read",
        "order.read",
        "outage.read",
    ]
    assert api("admin").get("/api/v1/auth/me").get_json()["actions"] == sorted(CONSOLE_ACTIONS)


@pytest.mark.parametrize("username", USERS)
def test_the_listed_actions_are_exactly_the_ones_the_api_lets_through(
    api: Any, username: str
) -> None:
    client = api(username)
    listed = set(client.get("/api/v1/auth/me").get_json()["actions"])
    let_through = set()
    for action, (method, path, body) in PROBES.items():
        response = client.request(method, path, json=body)
        assert response.status_code != 500, (action, response.get_data(as_text=True))
        if response.status_code != 403:
            let_through.add(action)
    assert listed == let_through


def test_the_call_center_sees_where_it_may_issue(api: Any) -> None:
    centers = api("callcenter").get("/api/v1/repair-centers").get_json()
    assert [c["code"] for c in centers] == ["RC-N"]
    assert set(centers[0]) == {"id", "code", "name", "region_code", "site"}
    own = api("callcenter").get("/api/v1/departments").get_json()
    assert "RC-N" not in [d["code"] for d in own]  # only the issue targets, not the tree
    assert api("crew1").get("/api/v1/repair-centers").status_code == 403
