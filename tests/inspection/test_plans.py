"""Inspection plans, their tasks, checklists as versioned data, results and reminders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from backend.inspection import reminders
from backend.inspection.plan_models import InspectionTask
from sync.changes import Change
from tests.archive.helpers import customer_body
from tests.conftest import assert_problem
from tests.inspection.helpers import station_file

GOOD = {"seal_intact": True, "wiring_ok": True, "meter_running": True, "box_condition": "good"}


def plan_body(demo, **overrides):
    body = {
        "name": "Important 10 kV customers, quarterly",
        "kind": "periodic",
        "department_id": demo.departments["ST-URB"].id,
        "customer_types": ["non_residential"],
        "voltage_levels": ["10kV"],
        "interval_days": 90,
        "due_days": 10,
        "equipment_type": "low_voltage_meter",
        "inspector_ids": [demo.users["inspector"].id],
    }
    return {**body, **overrides}


def second_inspector(api, demo):
    body = {
        "username": "inspector2",
        "full_name": "Xu Jing (inspector)",
        "password": "fieldline-demo-2",
        "role": "inspector",
        "department_id": demo.departments["ST-URB"].id,
    }
    response = api("admin").post("/api/v1/users", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def generate(who, plan_id):
    response = who.post(f"/api/v1/inspection-plans/{plan_id}/generate")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_checklists_are_versioned_data_and_tasks_keep_their_version(api, demo):
    supervisor, inspector = api("supervisor"), api("inspector")
    listed = {c["equipment_type"]: c for c in inspector.get("/api/v1/inspection-checklists").json}
    assert {"low_voltage_meter", "distribution_room", "hv_metering"} <= set(listed)
    v1 = listed["low_voltage_meter"]
    file = station_file(api, demo)
    plan = supervisor.post(
        "/api/v1/inspection-plans",
        json=plan_body(
            demo,
            kind="special",
            reason="complaint",
            interval_days=None,
            customer_types=[],
            voltage_levels=[],
            customer_ids=[file["customer_id"]],
        ),
    )
    assert plan.status_code == 201, plan.get_json()
    (task,) = generate(supervisor, plan.get_json()["id"])["tasks"]
    assert task["checklist_version"] == v1["version"]
    items = [*v1["items"], {"key": "earth_ok", "label": "Earthing", "kind": "yes_no"}]
    published = supervisor.post(
        "/api/v1/inspection-checklists/low_voltage_meter",
        json={"title": v1["title"], "items": items},
    )
    assert published.status_code == 201 and published.json["version"] == v1["version"] + 1
    assert_problem(
        inspector.post(
            "/api/v1/inspection-checklists/low_voltage_meter", json={"title": "x", "items": items}
        ),
        403,
    )
    old = inspector.get(f"/api/v1/inspection-checklists/low_voltage_meter/versions/{v1['version']}")
    assert [i["key"] for i in old.json["items"]] == [i["key"] for i in v1["items"]]
    # The task answers its own version: the new item is not one of its items.
    refused = inspector.post(
        f"/api/v1/inspection-tasks/{task['id']}/result",
        json={"checklist": {**GOOD, "earth_ok": True}},
    )
    problem = assert_problem(refused, 422)
    assert "'earth_ok' is not an item of checklist low_voltage_meter" in problem["detail"]
    bad_kind = inspector.post(
        f"/api/v1/inspection-tasks/{task['id']}/result",
        json={"checklist": {**GOOD, "box_condition": "sparkly"}},
    )
    assert_problem(bad_kind, 422)
    missing = inspector.post(
        f"/api/v1/inspection-tasks/{task['id']}/result", json={"checklist": {"seal_intact": True}}
    )
    assert "wiring_ok: required" in assert_problem(missing, 422)["detail"]
    done = inspector.post(
        f"/api/v1/inspection-tasks/{task['id']}/result", json={"checklist": GOOD, "result": "ok"}
    )
    assert done.status_code == 201, done.get_json()
    shown = inspector.get(f"/api/v1/inspection-tasks/{task['id']}").json
    assert shown["status"] == "done" and shown["inspection_id"] == done.json["id"]
    again = inspector.post(
        f"/api/v1/inspection-tasks/{task['id']}/result", json={"checklist": GOOD}
    )
    assert_problem(again, 409)


def test_periodic_plan_by_class_and_voltage_spreads_tasks_and_runs_idempotently(api, demo):
    supervisor, archivist = api("supervisor"), api("archivist")
    other = second_inspector(api, demo)
    station = demo.departments["ST-URB"].id
    marker = "35kV"  # only this test's customers are at 35 kV in the station
    ours = []
    for _ in range(3):
        body = customer_body(department_id=station, voltage_level=marker)
        ours.append(archivist.post("/api/v1/customers", json=body).json["premises"][0]["id"])
    residential = customer_body(
        department_id=station, voltage_level=marker, customer_type="residential"
    )
    skipped = archivist.post("/api/v1/customers", json=residential).json["premises"][0]["id"]
    body = plan_body(
        demo, voltage_levels=[marker], inspector_ids=[demo.users["inspector"].id, other]
    )
    plan = supervisor.post("/api/v1/inspection-plans", json=body).json
    first = generate(supervisor, plan["id"])
    assert first["created"] == 3 and first["progress"] == 1.0
    tasks = {t["premise_id"]: t for t in first["tasks"]}
    assert set(tasks) == set(ours) and skipped not in tasks
    assert sorted(t["inspector_id"] for t in tasks.values()).count(other) in (1, 2)
    assert {t["inspector_id"] for t in tasks.values()} == {demo.users["inspector"].id, other}
    due = datetime.fromisoformat(first["tasks"][0]["due_at"])
    assert timedelta(days=9) < due - datetime.now(UTC) <= timedelta(days=10)
    assert generate(supervisor, plan["id"])["created"] == 0  # open tasks are not doubled
    # The inspector sees only their own tasks; the planner sees all of the plan's.
    own = api("inspector").get("/api/v1/inspection-tasks", query_string={"plan_id": plan["id"]})
    assert {t["inspector_id"] for t in own.json} == {demo.users["inspector"].id}
    everything = supervisor.get("/api/v1/inspection-tasks", query_string={"plan_id": plan["id"]})
    assert len(everything.json) == 3


def test_done_within_the_interval_is_not_planned_again(api, demo):
    supervisor, inspector = api("supervisor"), api("inspector")
    station = demo.departments["ST-URB"].id
    body = customer_body(department_id=station, voltage_level="110kV")
    api("archivist").post("/api/v1/customers", json=body)
    plan = supervisor.post(
        "/api/v1/inspection-plans", json=plan_body(demo, voltage_levels=["110kV"])
    ).json
    (task,) = generate(supervisor, plan["id"])["tasks"]
    result = {"checklist": GOOD}
    assert (
        inspector.post(f"/api/v1/inspection-tasks/{task['id']}/result", json=result).status_code
        == 201
    )  # noqa: E501
    assert generate(supervisor, plan["id"])["created"] == 0


def test_bad_plans_are_problems(api, demo):
    supervisor = api("supervisor")
    url = "/api/v1/inspection-plans"
    assert_problem(supervisor.post(url, json=plan_body(demo, interval_days=None)), 422)
    assert_problem(supervisor.post(url, json=plan_body(demo, equipment_type="rocket")), 422)
    assert_problem(supervisor.post(url, json=plan_body(demo, inspector_ids=[1])), 422)
    assert_problem(supervisor.post(url, json=plan_body(demo, kind="special")), 422)
    assert_problem(api("inspector").post(url, json=plan_body(demo)), 403)
    assert_problem(api("crew1").get("/api/v1/inspection-tasks"), 403)


def test_reminders_are_derived_once_from_due_dates(api, demo, session):
    supervisor = api("supervisor")
    file = station_file(api, demo)
    plan = supervisor.post(
        "/api/v1/inspection-plans",
        json=plan_body(
            demo,
            kind="special",
            reason="campaign",
            interval_days=None,
            due_days=1,
            customer_types=[],
            voltage_levels=[],
            customer_ids=[file["customer_id"]],
        ),
    ).json
    (task,) = generate(supervisor, plan["id"])["tasks"]
    now = datetime.now(UTC)
    soon = [r for r in reminders.derive(session, now=now) if str(r.subject_id) == task["id"]]
    assert [r.kind for r in soon] == ["due_soon"]
    assert [r for r in reminders.derive(session, now=now) if str(r.subject_id) == task["id"]] == []
    later = reminders.derive(session, now=now + timedelta(days=2))
    assert [r.kind for r in later if str(r.subject_id) == task["id"]] == ["overdue"]
    listed = api("inspector").get("/api/v1/inspection-reminders").json
    assert {r["kind"] for r in listed if r["subject_id"] == task["id"]} == {"due_soon", "overdue"}
    overdue = api("inspector").get("/api/v1/inspection-tasks", query_string={"overdue": "true"})
    assert task["id"] not in {t["id"] for t in overdue.json}  # due tomorrow, not yet overdue


def test_generation_is_one_select_and_bulk_inserts_whatever_the_plan_size(api, demo, session):
    """The statements a generation runs do not grow with its premises; each task is in the feed."""
    supervisor, archivist = api("supervisor"), api("archivist")
    station = demo.departments["ST-URB"].id
    for customer_type, count in (("residential", 2), ("non_residential", 12)):
        for _ in range(count):
            body = customer_body(
                department_id=station, voltage_level="110kV", customer_type=customer_type
            )
            assert archivist.post("/api/v1/customers", json=body).status_code == 201
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    runs = {}
    for customer_type in ("residential", "non_residential"):
        body = plan_body(demo, customer_types=[customer_type], voltage_levels=["110kV"])
        plan = supervisor.post("/api/v1/inspection-plans", json=body).json
        statements.clear()
        event.listen(Engine, "before_cursor_execute", count)
        try:
            result = generate(supervisor, plan["id"])
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        runs[customer_type] = (result, len(statements))
    (small, small_count), (large, large_count) = runs["residential"], runs["non_residential"]
    assert (small["created"], large["created"]) == (2, 12)
    assert small_count == large_count  # one select, one insert of tasks, one of feed rows
    ids = [t["id"] for t in large["tasks"]]
    feed = session.scalars(
        select(Change.record_id).where(
            Change.entity == "inspection_task", Change.record_id.in_(ids)
        )
    ).all()
    assert sorted(feed) == sorted(ids)
    stored = session.scalars(
        select(InspectionTask).where(InspectionTask.plan_id == uuid.UUID(large["plan_id"]))
    )
    assert all(t.version > 0 and t.field_versions["status"] == t.version for t in stored)
    # The tasks are stored as a flush would: the next generation adds nothing.
    assert generate(supervisor, large["plan_id"])["created"] == 0
