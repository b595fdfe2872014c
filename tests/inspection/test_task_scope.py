"""Who reads which inspection tasks: one policy action (`inspection.task.read_all`), both doors.

An inspector reads their own tasks; whoever the policy lets read all of them (supervisors,
admins, auditors) reads the whole department's — over REST and in the sync pull alike.
"""

from __future__ import annotations

import uuid
from typing import Any

from backend.auth.policy import RULES, Action, Role
from tests.archive.helpers import customer_body
from tests.sync.conftest import http, make_client, sync_app  # noqa: F401 - fixtures


def _call(transport: Any, method: str, path: str, body: Any = None) -> Any:
    reply = transport.request(method, path, json_body=body)
    assert reply.status < 300, (path, reply.status, reply.body)
    return reply.body


def test_rest_and_sync_show_the_same_tasks_to_each_role(http, make_client):  # noqa: F811
    assert Role.AUDITOR in RULES[Action.TASK_READ_ALL].roles
    assert Role.INSPECTOR not in RULES[Action.TASK_READ_ALL].roles
    callers = ("inspector", "supervisor", "auditor", "crew1")
    handhelds = {who: make_client(who) for who in callers}
    archivist, supervisor = http("archivist"), http("supervisor")
    departments = _call(supervisor, "GET", "/api/v1/departments?page_size=100")
    station = next(d["id"] for d in departments if d["code"] == "ST-URB")
    inspector_id = _call(http("inspector"), "GET", "/api/v1/auth/me")["id"]
    colleague = _call(
        http("admin"),
        "POST",
        "/api/v1/users",
        {
            "username": f"insp-{uuid.uuid4().hex[:8]}",
            "full_name": "Second inspector",
            "password": "fieldline-demo-2",
            "role": "inspector",
            "department_id": station,
        },
    )["id"]
    customers = [
        _call(archivist, "POST", "/api/v1/customers", customer_body(department_id=station))["id"]
        for _ in range(2)
    ]
    plan = _call(
        supervisor,
        "POST",
        "/api/v1/inspection-plans",
        {
            "name": "Two inspectors",
            "kind": "special",
            "reason": "campaign",
            "department_id": station,
            "customer_ids": customers,
            "due_days": 5,
            "equipment_type": "low_voltage_meter",
            "inspector_ids": [inspector_id, colleague],
        },
    )
    tasks = _call(supervisor, "POST", f"/api/v1/inspection-plans/{plan['id']}/generate")["tasks"]
    by_inspector = {t["inspector_id"]: t["id"] for t in tasks}
    assert set(by_inspector) == {inspector_id, colleague}
    expected = {
        "inspector": {by_inspector[inspector_id]},
        "supervisor": set(by_inspector.values()),
        "auditor": set(by_inspector.values()),
        "crew1": set(),
    }
    for who in callers:
        reply = http(who).request("GET", f"/api/v1/inspection-tasks?plan_id={plan['id']}")
        rest = {t["id"] for t in reply.body} if reply.status == 200 else set()
        handhelds[who].pull()
        pulled = set(handhelds[who].server_copy("inspection_task")) & set(by_inspector.values())
        assert rest == pulled == expected[who], who
        for task_id in by_inspector.values():  # one task at a time: the same answer
            one = http(who).request("GET", f"/api/v1/inspection-tasks/{task_id}")
            assert (one.status == 200) == (task_id in expected[who]), (who, one.status)
