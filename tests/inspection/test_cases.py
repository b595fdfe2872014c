"""Theft and violation cases over the API: lawful procedure, order, approvals, history."""

from __future__ import annotations

from tests.conftest import assert_problem
from tests.inspection.helpers import FULL, open_case, station_file, step


def test_procedure_is_data_with_checklists(api):
    steps = api("inspector").get("/api/v1/cases/procedure").get_json()
    assert [s["name"] for s in steps] == [
        "discovery", "evidence", "notice", "hearing", "decision", "enforcement", "recovery",
        "closure",
    ]  # fmt: skip
    discovery = steps[0]
    assert {i["key"] for i in discovery["items"]} >= {"two_inspectors_present", "identity_shown"}
    assert steps[4]["approval"] is True and steps[4]["participant"] == "supervisor"


def test_step_with_missing_items_is_refused_and_nothing_is_written(api, demo):
    inspector = api("inspector")
    case = open_case(inspector, station_file(api, demo))
    assert case["stage"] == "discovery" and case["next_participant"] == "inspector"
    response = step(inspector, case["id"], "discovery", checklist={"identity_shown": True})
    problem = assert_problem(response, 409, "procedure-incomplete")
    assert {m["key"] for m in problem["missing_items"]} == {
        "two_inspectors_present", "scene_recorded",
    }  # fmt: skip
    after = inspector.get(f"/api/v1/cases/{case['id']}").get_json()
    assert after["stage"] == "discovery" and after["steps"] == []


def test_choice_items_take_only_their_choices_and_unknown_items_are_refused(api, demo):
    inspector = api("inspector")
    case = open_case(inspector, station_file(api, demo))
    assert step(inspector, case["id"], "discovery").status_code == 200
    wrong = {**FULL["evidence"], "customer_signature": True}
    problem = assert_problem(step(inspector, case["id"], "evidence", checklist=wrong), 409)
    assert [m["key"] for m in problem["missing_items"]] == ["customer_signature"]
    extra = {**FULL["evidence"], "made_up_item": True}
    assert_problem(step(inspector, case["id"], "evidence", checklist=extra), 422)


def test_steps_out_of_order_are_refused(api, demo):
    inspector = api("inspector")
    case = open_case(inspector, station_file(api, demo))
    problem = assert_problem(step(inspector, case["id"], "notice"), 409, "invalid-transition")
    assert problem["current_state"] == "discovery"
    assert step(inspector, case["id"], "discovery").status_code == 200
    again = assert_problem(step(inspector, case["id"], "discovery"), 409, "invalid-transition")
    assert again["current_state"] == "evidence"


def _to_decision(inspector, case_id):
    for name in ("discovery", "evidence", "notice", "hearing"):
        response = step(inspector, case_id, name)
        assert response.status_code == 200, response.get_json()


def test_decision_needs_a_supervisor_and_records_the_back_billing(api, demo):
    inspector, supervisor = api("inspector"), api("supervisor")
    case = open_case(inspector, station_file(api, demo))
    _to_decision(inspector, case["id"])
    assert_problem(step(inspector, case["id"], "decision", outcome="confirmed"), 422)
    done = step(
        inspector, case["id"], "decision", outcome="confirmed", back_billing_amount="8650.40"
    )
    body = done.get_json()
    assert body["stage"] == "decision" and body["awaiting_approval"] is True
    assert body["next_participant"] == "supervisor" and body["back_billing_amount"] == "8650.40"
    assert_problem(inspector.post(f"/api/v1/cases/{case['id']}/approve"), 403)
    assert_problem(step(inspector, case["id"], "enforcement"), 409, "invalid-transition")
    approved = supervisor.post(f"/api/v1/cases/{case['id']}/approve")
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["stage"] == "enforcement"
    decision = approved.get_json()["steps"][-1]
    assert decision["approved_by"].endswith(":supervisor")
    assert_problem(supervisor.post(f"/api/v1/cases/{case['id']}/approve"), 409)


def test_dismissed_case_skips_enforcement_and_recovery(api, demo):
    inspector, supervisor = api("inspector"), api("supervisor")
    case = open_case(inspector, station_file(api, demo))
    _to_decision(inspector, case["id"])
    done = step(supervisor, case["id"], "decision", outcome="dismissed")
    assert done.get_json()["stage"] == "closure"
    closed = step(supervisor, case["id"], "closure").get_json()
    assert closed["stage"] == "closed" and closed["closed_at"] is not None
    assert closed["next_participant"] is None
    assert_problem(step(supervisor, case["id"], "closure"), 409, "invalid-transition")


def test_fields_of_other_steps_are_refused(api, demo):
    inspector = api("inspector")
    case = open_case(inspector, station_file(api, demo))
    assert_problem(step(inspector, case["id"], "discovery", recovered_amount="10"), 422)
    assert_problem(step(inspector, case["id"], "discovery", actions=["seal"]), 422)


def test_repeat_offender_flag_from_confirmed_cases_on_the_archive_file(api, demo):
    inspector, supervisor = api("inspector"), api("supervisor")
    file = station_file(api, demo)
    url = f"/api/v1/customers/{file['customer_id']}"
    for n in range(2):
        case = open_case(inspector, file)
        _to_decision(inspector, case["id"])
        step(supervisor, case["id"], "decision", outcome="confirmed", back_billing_amount="100")
        history = inspector.get(url).get_json()["case_history"]
        assert history["confirmed_cases"] == n + 1
        assert history["repeat_offender"] is (n == 1)
    listed = inspector.get(f"/api/v1/cases?customer_id={file['customer_id']}").get_json()
    assert len(listed) == 2 and listed[0]["customer_history"]["repeat_offender"] is True
    search = inspector.get("/api/v1/customers", query_string={"name": "西湖茶叶"})
    found = {c["id"]: c for c in search.get_json()}
    assert found[file["customer_id"]]["case_history"]["repeat_offender"] is True
    account = inspector.get(url).get_json()["account_number"]
    quick = api("dispatcher").get("/api/v1/quick-query", query_string={"q": account})
    assert quick.status_code == 200, quick.get_json()
    (match,) = [
        m for m in quick.get_json()["matches"] if m["customer"]["id"] == file["customer_id"]
    ]
    assert match["repeat_offender"] is True


def test_bad_case_input_is_a_problem(api, demo):
    inspector = api("inspector")
    file = station_file(api, demo)
    other = station_file(api, demo)
    body = {"kind": "theft", "summary": "x", **file, "premise_id": other["premise_id"]}
    body.pop("meter_id")
    assert_problem(inspector.post("/api/v1/cases", json=body), 422)
    assert_problem(inspector.post("/api/v1/cases", json={**body, "kind": "arson"}), 422)
    assert_problem(api("auditor").post("/api/v1/cases", json=body), 403)
    assert_problem(api("crew1").get("/api/v1/cases"), 403)
