"""An inspector's day, end to end over the API and the reference sync client (real commits).

plan → task on the handheld → offline inspection with photos, reading and hazard → sync →
hazard notice (follow-up task pulled) → case → steps pushed offline → the evidence gate refuses
a far-away photo and accepts a good one → enforcement → recovery → closure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sync.protocol import format_time
from tests.archive.helpers import customer_body, meter_body
from tests.inspection.helpers import FAR, FULL, PREMISE, jpeg
from tests.inspection.test_plans import GOOD
from tests.sync.conftest import http, make_client, sync_app  # noqa: F401 - fixtures


def _call(transport: Any, method: str, path: str, body: Any = None) -> Any:
    reply = transport.request(method, path, json_body=body)
    assert reply.status < 300, (path, reply.status, reply.body)
    return reply.body


def _verdicts(client: Any) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in client.push()}


def _report(transport: Any) -> dict[str, Any]:
    """The inspection report's figures this test moves (tasks due soon, cases opened now)."""
    now = datetime.now(UTC)
    window = (
        f"from={format_time(now - timedelta(days=1))}&to={format_time(now + timedelta(days=30))}"
    )
    body = _call(transport, "GET", f"/api/v1/reports/inspections?{window}")
    closed = [
        c
        for c in body["cases"]
        if (c["kind"], c["stage"], c["outcome"]) == ("theft", "closed", "confirmed")
    ]
    return {
        "done": sum(r["done"] for r in body["tasks"] if r["inspector"] == "inspector"),
        "high": next(h["open"] for h in body["hazards"] if h["severity"] == "high"),
        "closed": sum(c["cases"] for c in closed),
        "recovered": sum(float(c["recovered"]) for c in closed),
        "summary_recovered": float(body["summary"][0]["recovered"]),
    }


def test_an_inspectors_day(http, make_client):  # noqa: F811 - fixtures
    archivist, supervisor, inspector = http("archivist"), http("supervisor"), http("inspector")
    departments = _call(supervisor, "GET", "/api/v1/departments?page_size=100")
    station = next(d["id"] for d in departments if d["code"] == "ST-URB")
    inspector_id = _call(inspector, "GET", "/api/v1/auth/me")["id"]
    # The inspector's handheld and a crew member's device, syncing from here on.
    handheld, crew = make_client("inspector"), make_client("crew1")
    before = _report(supervisor)
    customer = _call(archivist, "POST", "/api/v1/customers", customer_body(department_id=station))
    premise = customer["premises"][0]["id"]
    meter = _call(archivist, "POST", f"/api/v1/premises/{premise}/meters", meter_body())
    plan = _call(
        supervisor,
        "POST",
        "/api/v1/inspection-plans",
        {
            "name": "Campaign: meter boxes on 西湖线",
            "kind": "special",
            "reason": "campaign",
            "department_id": station,
            "customer_ids": [customer["id"]],
            "due_days": 3,
            "equipment_type": "low_voltage_meter",
            "inspector_ids": [inspector_id],
        },
    )
    (task,) = _call(supervisor, "POST", f"/api/v1/inspection-plans/{plan['id']}/generate")["tasks"]

    # Morning: the handheld pulls the task with the premise, meter and checklist.
    handheld.pull()
    version, pulled = handheld.server_copy("inspection_task")[task["id"]]
    assert pulled["address"] == customer["premises"][0]["address"]
    assert pulled["meter_number"] == meter["number"]
    assert [i["key"] for i in pulled["checklist_items"]][:2] == ["seal_intact", "wiring_ok"]

    # At the meter, offline: inspection, a photo from the wrong place, a reading, a hazard.
    inspection = handheld.create(
        "inspection",
        {
            "status": "in_progress",
            "task_id": task["id"],
            "checklist": {"seal_intact": False, "wiring_ok": False},
        },
    )
    far = handheld.upload(jpeg(FAR), "image/jpeg")
    handheld.append("photo", {"sha256": far, "inspection_id": inspection})
    handheld.append(
        "meter_reading",
        {
            "meter_id": meter["id"],
            "premise_id": premise,
            "value": 1520.5,
            "reading_kind": "kwh",
            "read_at": format_time(datetime.now(UTC)),
        },
    )
    hazard = handheld.create(
        "hazard",
        {
            "inspection_id": inspection,
            "severity": "high",
            "category": "illegal_connection",
            "description": "Bypass cable before the meter",
            "photo_sha256": far,
            "lat": PREMISE[0],
            "lon": PREMISE[1],
            "reading": 1520.5,
        },
    )
    rest = {k: v for k, v in GOOD.items() if k not in ("seal_intact", "wiring_ok")}
    verdicts = _verdicts(handheld)
    assert all(v["verdict"] == "applied" for v in verdicts.values()), verdicts
    handheld.pull()
    handheld.update("inspection", inspection, {"status": "submitted", "checklist": rest})
    assert all(v["verdict"] == "applied" for v in _verdicts(handheld).values())
    done = _call(inspector, "GET", f"/api/v1/inspection-tasks/{task['id']}")
    assert done["status"] == "done" and done["inspection_id"] == inspection

    # Back at the office: the hazard notice plans the follow-up, which reaches the handheld.
    rectify_by = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    notice = _call(
        inspector, "POST", f"/api/v1/hazards/{hazard}/notice", {"rectify_by": rectify_by}
    )
    handheld.pull()
    assert notice["follow_up_task_id"] in handheld.server_copy("inspection_task")
    assert handheld.server_copy("hazard")[hazard][1]["status"] == "notified"

    # The theft case: steps completed on the handheld, the decision by the supervisor.
    case = _call(
        inspector,
        "POST",
        "/api/v1/cases",
        {
            "kind": "theft",
            "customer_id": customer["id"],
            "premise_id": premise,
            "inspection_id": inspection,
            "summary": "Bypass cable before the meter",
        },
    )
    for name in ("discovery", "evidence", "notice", "hearing"):
        handheld.append("case_step", {"case_id": case["id"], "step": name, "checklist": FULL[name]})
    assert all(v["verdict"] == "applied" for v in _verdicts(handheld).values())
    _call(
        supervisor,
        "POST",
        f"/api/v1/cases/{case['id']}/steps",
        {
            "step": "decision",
            "checklist": FULL["decision"],
            "outcome": "confirmed",
            "back_billing_amount": "8650.40",
        },
    )
    handheld.pull()
    assert handheld.server_copy("inspection_case")[case["id"]][1]["stage"] == "enforcement"

    # Enforcement: the far-away photo does not count ...
    enforce = {
        "case_id": case["id"],
        "step": "enforcement",
        "checklist": FULL["enforcement"],
        "actions": ["cut_supply", "seal"],
    }
    handheld.append("case_step", enforce)
    (verdict,) = _verdicts(handheld).values()
    assert verdict["verdict"] == "rejected"
    assert "photos:" in verdict["problem"]["detail"]
    # ... a photo at the meter does.
    good = handheld.upload(jpeg((PREMISE[0] + 0.0002, PREMISE[1])), "image/jpeg")
    handheld.append("photo", {"sha256": good, "inspection_id": inspection})
    handheld.append("case_step", enforce)
    handheld.append(
        "case_step",
        {
            "case_id": case["id"],
            "step": "recovery",
            "checklist": FULL["recovery"],
            "recovered_amount": 8650.40,
        },
    )
    assert all(v["verdict"] == "applied" for v in _verdicts(handheld).values())
    closed = _call(
        supervisor,
        "POST",
        f"/api/v1/cases/{case['id']}/steps",
        {"step": "closure", "checklist": FULL["closure"]},
    )
    assert closed["stage"] == "closed" and closed["enforcement_actions"] == ["cut_supply", "seal"]
    assert closed["recovered_amount"] == "8650.40"
    handheld.pull()
    assert handheld.server_copy("inspection_case")[case["id"]][1]["stage"] == "closed"
    gate = _call(inspector, "GET", f"/api/v1/cases/{case['id']}/evidence")
    assert {p["sha256"]: p["ok"] for p in gate["photos"]} == {far: False, good: True}
    # A crew member's device never sees the inspector's tasks or cases.
    crew.pull()
    assert task["id"] not in crew.server_copy("inspection_task")
    assert case["id"] not in crew.server_copy("inspection_case")
    assert hazard not in crew.server_copy("hazard")
    assert version > 0
    # The report counts the day: the task done, the hazard open (notified), the case closed
    # as confirmed theft with its recovered charges (API; CSV and XLSX are the same tables).
    after = _report(supervisor)
    assert after["done"] == before["done"] + 1
    assert after["high"] == before["high"] + 1
    assert after["closed"] == before["closed"] + 1
    assert round(after["recovered"] - before["recovered"], 2) == 8650.40
    assert round(after["summary_recovered"] - before["summary_recovered"], 2) == 8650.40
