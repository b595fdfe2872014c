"""Hazards and their notices, meter seals and faults, reconciliation, and handheld pushes."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from backend.inspection.models import Inspection
from sync.protocol import format_time
from tests.conftest import assert_problem
from tests.inspection.helpers import (
    FULL,
    PREMISE,
    inspection_at,
    jpeg,
    open_case,
    push,
    station_file,
)
from tests.inspection.test_plans import GOOD, generate, plan_body
from tests.sync.helpers import mutation


def special_task(api, demo, file, **overrides):
    body = plan_body(
        demo,
        kind="special",
        reason="complaint",
        interval_days=None,
        customer_types=[],
        voltage_levels=[],
        customer_ids=[file["customer_id"]],
        **overrides,
    )
    plan = api("supervisor").post("/api/v1/inspection-plans", json=body)
    assert plan.status_code == 201, plan.get_json()
    (task,) = generate(api("supervisor"), plan.json["id"])["tasks"]
    return task


def hazard_body(file, **overrides):
    return {
        "premise_id": file["premise_id"],
        "severity": "medium",
        "category": "no_earthing",
        "description": "Earthing conductor of the meter box cut",
        "lat": PREMISE[0],
        "lon": PREMISE[1],
        "reading": 1520.5,
        **overrides,
    }


def test_hazard_notice_plans_the_follow_up_inspection(api, demo):
    inspector = api("inspector")
    file = station_file(api, demo)
    created = inspector.post("/api/v1/hazards", json=hazard_body(file))
    assert created.status_code == 201, created.get_json()
    hazard = created.json
    assert hazard["status"] == "open" and hazard["customer_id"] == file["customer_id"]
    url = f"/api/v1/hazards/{hazard['id']}"
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert_problem(inspector.post(f"{url}/notice", json={"rectify_by": past}), 422)
    assert_problem(inspector.post(f"{url}/resolve", json={"resolution": "rectified"}), 409)
    deadline = datetime.now(UTC) + timedelta(days=15)
    notified = inspector.post(f"{url}/notice", json={"rectify_by": deadline.isoformat()})
    assert notified.status_code == 200, notified.get_json()
    body = notified.json
    assert body["status"] == "notified" and body["notice_number"].startswith("HN-")
    follow_up = inspector.get(f"/api/v1/inspection-tasks/{body['follow_up_task_id']}").json
    assert follow_up["reason"] == "hazard_follow_up" and follow_up["hazard_id"] == hazard["id"]
    assert datetime.fromisoformat(follow_up["due_at"]) == deadline.replace(
        microsecond=deadline.microsecond
    )  # noqa: E501
    assert follow_up["inspector_id"] == demo.users["inspector"].id
    again = inspector.post(f"{url}/notice", json={"rectify_by": deadline.isoformat()})
    assert_problem(again, 409, "invalid-transition")
    resolved = inspector.post(f"{url}/resolve", json={"resolution": "rectified"})
    assert resolved.json["status"] == "rectified"
    listed = inspector.get("/api/v1/hazards", query_string={"customer_id": file["customer_id"]})
    assert [h["id"] for h in listed.json] == [hazard["id"]]


def test_bad_hazards_are_problems(api, demo):
    inspector = api("inspector")
    file = station_file(api, demo)
    assert_problem(inspector.post("/api/v1/hazards", json=hazard_body(file, severity="huge")), 422)
    high = hazard_body(file, severity="critical")
    assert "photo" in assert_problem(inspector.post("/api/v1/hazards", json=high), 422)["detail"]
    nowhere = hazard_body(file, premise_id=None)
    assert_problem(inspector.post("/api/v1/hazards", json=nowhere), 422)
    assert_problem(api("crew1").post("/api/v1/hazards", json=hazard_body(file)), 403)
    assert_problem(api("auditor").post("/api/v1/hazards", json=hazard_body(file)), 403)


def test_seals_and_faults_are_events_that_version_the_meter(api, demo):
    inspector = api("inspector")
    file = station_file(api, demo)
    url = f"/api/v1/meters/{file['meter_id']}/events"
    assert_problem(inspector.post(url, json={"kind": "seal_removed", "seal_number": "S-9"}), 422)
    assert_problem(inspector.post(url, json={"kind": "fault_found", "fault": "haunted"}), 422)
    assert_problem(inspector.post(url, json={"kind": "seal_applied"}), 422)
    (seal,) = inspector.get(f"/api/v1/meters/{file['meter_id']}").json["seals"]
    steps = [
        {"kind": "fault_found", "fault": "broken_seal", "seal_number": seal},
        {"kind": "fault_found", "fault": "stuck"},
        {"kind": "seal_applied", "seal_number": "S-0002"},
        {"kind": "fault_cleared", "fault": "broken_seal"},
    ]
    for body in steps:
        done = inspector.post(url, json=body)
        assert done.status_code == 201, done.get_json()
    meter = inspector.get(f"/api/v1/meters/{file['meter_id']}").json
    assert meter["seals"] == ["S-0002"] and meter["faults"] == ["stuck"]
    events = inspector.get(url).json
    assert [e["kind"] for e in events][::-1] == [s["kind"] for s in steps]
    versions = inspector.get(f"/api/v1/meters/{file['meter_id']}/versions").json
    assert len(versions) == 1 + len(steps)
    # Handhelds push the same events; the same checks refuse what does not fit the meter.
    verdicts = push(
        inspector,
        mutation(
            "meter_event",
            "append",
            {"meter_id": file["meter_id"], "kind": "seal_removed", "seal_number": "S-0002"},
        ),
        mutation(
            "meter_event",
            "append",
            {"meter_id": file["meter_id"], "kind": "seal_removed", "seal_number": "S-0002"},
        ),
    )
    assert [v["verdict"] for v in verdicts] == ["applied", "rejected"]
    assert verdicts[1]["problem"]["type"] == "sync-invalid-value"
    assert inspector.get(f"/api/v1/meters/{file['meter_id']}").json["seals"] == []
    assert_problem(api("auditor").post(url, json=steps[1]), 403)


def _photographed_reading(inspector, file, value, at):
    data = jpeg(PREMISE)
    sha = hashlib.sha256(data).hexdigest()
    inspector.put(f"/api/v1/blobs/{sha}", data=data, headers={"Content-Type": "image/jpeg"})
    fields = {
        "meter_id": file["meter_id"],
        "premise_id": file["premise_id"],
        "value": value,
        "reading_kind": "kwh",
        "read_at": format_time(at),
        "photo_sha256": sha,
    }
    (verdict,) = push(inspector, mutation("meter_reading", "append", fields))
    assert verdict["verdict"] == "applied", verdict


def test_remote_reading_far_from_the_photographed_one_raises_an_anomaly_and_a_task(api, demo):
    inspector, supervisor = api("inspector"), api("supervisor")
    close, far = station_file(api, demo), station_file(api, demo)
    now = datetime.now(UTC) - timedelta(hours=3)  # the far remote reading is 2 h later: past
    _photographed_reading(inspector, close, 1000.0, now)
    _photographed_reading(inspector, far, 1000.0, now)
    readings = [
        {"meter_id": close["meter_id"], "value": 1003.0, "read_at": now.isoformat()},
        {
            "meter_id": far["meter_id"],
            "value": 1100.0,
            "read_at": (now + timedelta(hours=2)).isoformat(),
        },  # noqa: E501
    ]
    assert_problem(
        inspector.post("/api/v1/meter-readings/remote", json={"readings": readings}), 403
    )
    imported = supervisor.post("/api/v1/meter-readings/remote", json={"readings": readings})
    assert imported.status_code == 201, imported.get_json()
    assert imported.json["stored"] == 2 and imported.json["anomalies"] == 1
    (anomaly,) = [
        a
        for a in supervisor.get("/api/v1/meter-anomalies").json
        if a["id"] in imported.json["anomaly_ids"]
    ]
    assert anomaly["meter_id"] == far["meter_id"] and anomaly["difference"] == 100.0
    task = inspector.get(f"/api/v1/inspection-tasks/{anomaly['task_id']}").json
    assert task["reason"] == "meter_anomaly" and task["premise_id"] == far["premise_id"]
    again = supervisor.post("/api/v1/meter-readings/remote", json={"readings": readings})
    assert again.json["anomalies"] == 0  # one anomaly per photographed reading
    unknown = [{"meter_id": str(uuid.uuid4()), "value": 1.0, "read_at": now.isoformat()}]
    assert_problem(
        supervisor.post("/api/v1/meter-readings/remote", json={"readings": unknown}), 422
    )
    # A manual reading synced after the remote one is reconciled on arrival.
    late = station_file(api, demo)
    remote = [{"meter_id": late["meter_id"], "value": 50.0, "read_at": now.isoformat()}]
    assert (
        supervisor.post("/api/v1/meter-readings/remote", json={"readings": remote}).json[
            "anomalies"
        ]
        == 0
    )  # noqa: E501
    _photographed_reading(inspector, late, 500.0, now)
    found = [
        a
        for a in supervisor.get("/api/v1/meter-anomalies").json
        if a["meter_id"] == late["meter_id"]
    ]  # noqa: E501
    assert len(found) == 1 and found[0]["remote_value"] == 50.0


def test_handheld_inspection_of_a_task_is_checked_against_its_checklist(api, demo):
    inspector = api("inspector")
    file = station_file(api, demo)
    task = special_task(api, demo, file)
    record = str(uuid.uuid4())

    def create(**fields):
        body = {"status": "in_progress", "task_id": task["id"], **fields}
        return push(inspector, mutation("inspection", "create", body, record_id=record))[0]

    unknown = create(checklist={"sparkle": True})
    assert unknown["verdict"] == "rejected" and unknown["problem"]["type"] == "sync-invalid-value"
    assert "'sparkle' is not an item" in unknown["problem"]["detail"]
    other = create(premise_id=station_file(api, demo)["premise_id"])
    assert other["verdict"] == "rejected"
    started = create(checklist={"seal_intact": True})
    assert started["verdict"] == "applied", started
    assert inspector.get(f"/api/v1/inspection-tasks/{task['id']}").json["status"] == "in_progress"
    early = push(
        inspector,
        mutation(
            "inspection",
            "update",
            {"status": "submitted"},
            record_id=record,
            base=started["version"],
        ),
    )[0]
    assert early["verdict"] == "rejected" and "wiring_ok" in early["problem"]["detail"]
    rest = {k: v for k, v in GOOD.items() if k != "seal_intact"}
    submitted = push(
        inspector,
        mutation(
            "inspection",
            "update",
            {"status": "submitted", "checklist": rest},
            record_id=record,
            base=started["version"],
        ),
    )[0]
    assert submitted["verdict"] == "applied", submitted
    shown = inspector.get(f"/api/v1/inspection-tasks/{task['id']}").json
    assert shown["status"] == "done" and shown["inspection_id"] == record
    late = push(
        inspector,
        mutation("inspection", "create", {"status": "in_progress", "task_id": task["id"]}),
    )[0]
    assert late["verdict"] == "rejected" and late["problem"]["type"] == "sync-server-state"
    # A crew member may not carry out the inspector's task.
    crew = push(
        api("crew1"),
        mutation("inspection", "create", {"status": "in_progress", "task_id": task["id"]}),
    )[0]
    assert crew["verdict"] == "rejected"


def test_handheld_hazard_and_case_steps_go_through_the_services(api, demo):
    inspector = api("inspector")
    file = station_file(api, demo)
    inspection = inspection_at(inspector, file["premise_id"])
    hazard_id = str(uuid.uuid4())
    fields = {k: v for k, v in hazard_body(file).items() if k != "premise_id"}
    (verdict,) = push(
        inspector,
        mutation("hazard", "create", {**fields, "inspection_id": inspection}, record_id=hazard_id),
    )
    assert verdict["verdict"] == "applied", verdict
    hazard = inspector.get(f"/api/v1/hazards/{hazard_id}").json
    assert hazard["premise_id"] == file["premise_id"] and hazard["inspection_id"] == inspection
    (changed,) = push(
        inspector,
        mutation(
            "hazard", "update", {"severity": "low"}, record_id=hazard_id, base=verdict["version"]
        ),
    )
    assert changed["verdict"] == "rejected"
    (bad,) = push(
        inspector,
        mutation(
            "hazard", "create", {**fields, "category": "gremlins", "premise_id": file["premise_id"]}
        ),
    )
    assert bad["verdict"] == "rejected" and "category" in bad["problem"]["detail"]

    case = open_case(inspector, file, inspection_id=inspection)

    def step(name, **extra):
        body = {"case_id": case["id"], "step": name, "checklist": FULL[name], **extra}
        return push(inspector, mutation("case_step", "append", body))[0]

    out_of_order = step("evidence")
    assert (
        out_of_order["verdict"] == "rejected"
        and out_of_order["problem"]["type"] == "sync-server-state"
    )
    incomplete = push(
        inspector,
        mutation(
            "case_step",
            "append",
            {"case_id": case["id"], "step": "discovery", "checklist": {"identity_shown": True}},
        ),
    )[0]
    assert (
        incomplete["verdict"] == "rejected" and "Two inspectors" in incomplete["problem"]["detail"]
    )
    assert step("discovery")["verdict"] == "applied"
    shown = inspector.get(f"/api/v1/cases/{case['id']}").json
    assert shown["stage"] == "evidence" and shown["steps"][0]["completed_by"].endswith(":inspector")
    assert (
        push(
            api("crew1"),
            mutation(
                "case_step",
                "append",
                {"case_id": case["id"], "step": "evidence", "checklist": FULL["evidence"]},
            ),
        )[0]["verdict"]
        == "rejected"
    )  # noqa: E501


def test_a_checklist_item_answered_twice_merges_by_key(api, demo, session):
    inspector, supervisor = api("inspector"), api("supervisor")
    file = station_file(api, demo)
    task = special_task(api, demo, file)
    record = str(uuid.uuid4())
    body = {"status": "in_progress", "task_id": task["id"], "checklist": {"seal_intact": True}}
    (created,) = push(inspector, mutation("inspection", "create", body, record_id=record))
    base = created["version"]
    # The office corrects one answer; the handheld, offline on the old version, answers the
    # same item differently and another item: the other item merges, the item conflicts.
    (office,) = push(
        supervisor,
        mutation("inspection", "update", {"checklist": {"seal_intact": False}},
                 record_id=record, base=base),
    )  # fmt: skip
    assert office["verdict"] == "applied", office
    (field,) = push(
        inspector,
        mutation("inspection", "update", {"checklist": {"seal_intact": True, "wiring_ok": True}},
                 record_id=record, base=base),
    )  # fmt: skip
    assert field["verdict"] == "conflict", field
    assert field["conflicts"] == [
        {"field": "checklist", "key": "seal_intact", "server": False, "client": True}
    ]
    queued = supervisor.get("/api/v1/sync/conflicts", query_string={"record_id": record}).json
    assert [c["key"] for c in queued] == ["seal_intact"]
    # As documented: the other item of the same mutation is applied; the server keeps its answer.
    stored = session.get(Inspection, uuid.UUID(record), populate_existing=True)
    assert stored is not None and stored.checklist == {"seal_intact": False, "wiring_ok": True}
    # Equal answers from both sides are no conflict.
    (same,) = push(
        inspector,
        mutation("inspection", "update", {"checklist": {"wiring_ok": True}},
                 record_id=record, base=base),
    )  # fmt: skip
    assert same["verdict"] == "applied"
