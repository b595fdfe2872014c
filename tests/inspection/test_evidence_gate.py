"""The evidence gate before enforcement: photos near the premise in the window, readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import assert_problem
from tests.inspection.helpers import (
    FAR,
    PREMISE,
    inspection_at,
    jpeg,
    open_case,
    photo_at,
    push,
    reading_at,
    station_file,
    step,
)
from tests.sync.helpers import mutation


def _at_enforcement(api, demo):
    inspector, supervisor = api("inspector"), api("supervisor")
    file = station_file(api, demo)
    file["inspection_id"] = inspection_at(inspector, file["premise_id"])
    case = open_case(inspector, file, inspection_id=file["inspection_id"])
    for name in ("discovery", "evidence", "notice", "hearing"):
        assert step(inspector, case["id"], name).status_code == 200
    decided = step(supervisor, case["id"], "decision", outcome="confirmed", back_billing_amount="5")
    assert decided.get_json()["stage"] == "enforcement"
    return inspector, supervisor, file, case


def _enforce(who, case_id):
    return step(who, case_id, "enforcement", actions=["cut_supply", "seal"])


def test_far_away_photo_is_refused_and_a_good_one_accepted(api, demo):
    inspector, _supervisor, file, case = _at_enforcement(api, demo)
    refused = assert_problem(_enforce(inspector, case["id"]), 409, "evidence-missing")
    assert any(m.startswith("photos:") for m in refused["missing"])
    assert any(m.startswith("readings:") for m in refused["missing"])

    far = photo_at(inspector, file["inspection_id"], jpeg(FAR))
    reading_at(inspector, file)
    refused = assert_problem(_enforce(inspector, case["id"]), 409, "evidence-missing")
    assert [m for m in refused["missing"] if m.startswith("readings:")] == []
    (judged,) = refused["photos"]
    assert judged["sha256"] == far and judged["ok"] is False
    assert judged["position_source"] == "exif" and judged["distance_m"] > 2000
    assert "from the premise" in judged["problem"]
    assert inspector.get(f"/api/v1/cases/{case['id']}").get_json()["stage"] == "enforcement"

    good = photo_at(inspector, file["inspection_id"], jpeg((PREMISE[0] + 0.0002, PREMISE[1])))
    gate = inspector.get(f"/api/v1/cases/{case['id']}/evidence").get_json()
    assert gate["ok"] is True and gate["missing"] == []
    assert {p["sha256"]: p["ok"] for p in gate["photos"]} == {far: False, good: True}
    done = _enforce(inspector, case["id"])
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["stage"] == "recovery" and body["enforcement_actions"] == ["cut_supply", "seal"]


def test_photo_outside_the_inspection_window_is_refused(api, demo):
    inspector, _supervisor, file, case = _at_enforcement(api, demo)
    old = datetime.now(UTC) - timedelta(days=3)
    photo_at(inspector, file["inspection_id"], jpeg(PREMISE, taken=old))
    reading_at(inspector, file)
    refused = assert_problem(_enforce(inspector, case["id"]), 409, "evidence-missing")
    assert refused["photos"][0]["problem"] == "taken outside the inspection window"


def test_without_exif_the_devices_synced_fix_at_capture_decides(api, demo):
    inspector, _supervisor, file, case = _at_enforcement(api, demo)
    reading_at(inspector, file)
    now = datetime.now(UTC)
    photo_at(inspector, file["inspection_id"], jpeg(None), taken_at=now.isoformat())
    gate = inspector.get(f"/api/v1/cases/{case['id']}/evidence").get_json()
    assert gate["ok"] is False and "no EXIF GPS" in gate["photos"][0]["problem"]
    fix = {"lat": PREMISE[0], "lon": PREMISE[1], "acc": 5.0, "ts": now.isoformat()}
    assert push(inspector, mutation("gps_fix", "append", fix))[0]["verdict"] == "applied"
    gate = inspector.get(f"/api/v1/cases/{case['id']}/evidence").get_json()
    assert gate["ok"] is True, gate
    assert gate["photos"][0]["position_source"] == "device_fix"


def test_override_needs_a_supervisor_and_a_reason_and_stays_on_the_case(api, demo):
    inspector, supervisor, _file, case = _at_enforcement(api, demo)
    url = f"/api/v1/cases/{case['id']}/evidence-override"
    assert_problem(inspector.post(url, json={"reason": "urgent danger"}), 403)
    assert_problem(supervisor.post(url, json={}), 422)
    assert_problem(supervisor.post(url, json={"reason": "   "}), 422)
    assert inspector.get(f"/api/v1/cases/{case['id']}").get_json()["override"] is None
    done = supervisor.post(url, json={"reason": "live wire exposed: supply cut for safety"})
    assert done.status_code == 200, done.get_json()
    override = done.get_json()["override"]
    assert override["by"].endswith(":supervisor") and override["reason"].startswith("live wire")
    gate = inspector.get(f"/api/v1/cases/{case['id']}/evidence").get_json()
    assert gate["ok"] is True and gate["overridden"] is True and gate["missing"]
    assert _enforce(inspector, case["id"]).status_code == 200
    audit = api("auditor").get("/api/v1/audit", query_string={"entity": "inspection_case"})
    assert any(row["action"] == "gate_override" for row in audit.get_json())


def test_enforcement_without_actions_needs_no_evidence(api, demo):
    inspector, _supervisor, _file, case = _at_enforcement(api, demo)
    done = step(inspector, case["id"], "enforcement")
    assert done.status_code == 200 and done.get_json()["stage"] == "recovery"
    recovered = step(inspector, case["id"], "recovery", recovered_amount="5.00")
    assert recovered.get_json()["recovered_amount"] == "5.00"
