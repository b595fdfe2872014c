"""Customer files through the API: open, change as versions, close, history and diffs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.archive.helpers import customer_body, meter_body, open_file
from tests.conftest import assert_problem


def test_open_file_is_version_one_with_premise(api):
    archivist = api("archivist")
    body = open_file(archivist)
    assert body["version_no"] == 1
    assert body["status"] == "active"
    assert body["premises"][0]["address"].startswith("浙江省")
    assert body["premises"][0]["location"] == {"lat": 30.2329, "lon": 120.1234}
    history = archivist.get(f"/api/v1/customers/{body['id']}/history").get_json()
    assert [(v["entity"], v["version_no"], v["source"]) for v in history] == [
        ("customer", 1, "ui"),
        ("premise", 1, "ui"),
    ]
    assert history[0]["changed_by"].endswith(":archivist")
    assert history[0]["reason"] == "new connection"


def test_change_appends_version_and_diff_names_fields(api):
    archivist = api("archivist")
    body = open_file(archivist)
    url = f"/api/v1/customers/{body['id']}"
    changed = archivist.patch(
        url, json={"contract_capacity_kw": 800, "name": "西湖茶业", "reason": "capacity increase"}
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["version_no"] == 2
    versions = archivist.get(f"/api/v1/customers/{body['id']}/versions").get_json()
    assert [v["version_no"] for v in versions] == [1, 2]
    assert versions[0]["data"]["name"] == "杭州西湖茶叶有限公司"  # the old version is kept
    diff = archivist.get(f"/api/v1/customers/{body['id']}/diff?from=1&to=2").get_json()
    assert {c["field"]: (c["before"], c["after"]) for c in diff["changes"]} == {
        "name": ("杭州西湖茶叶有限公司", "西湖茶业"),
        "contract_capacity_kw": (630.0, 800.0),
    }
    # The same change again appends nothing.
    again = archivist.patch(
        url, json={"contract_capacity_kw": 800, "name": "西湖茶业", "reason": "repeat"}
    )
    assert again.get_json()["version_no"] == 2


def test_edit_of_an_older_version_is_a_conflict(api):
    archivist = api("archivist")
    body = open_file(archivist)
    url = f"/api/v1/customers/{body['id']}"
    archivist.patch(url, json={"name": "A", "reason": "r", "base_version": 1})
    stale = archivist.patch(url, json={"name": "B", "reason": "r", "base_version": 1})
    problem = assert_problem(stale, 409)
    assert problem["current_version"] == 2


def test_close_is_a_version_and_the_file_stays(api):
    archivist = api("archivist")
    body = open_file(archivist)
    url = f"/api/v1/customers/{body['id']}"
    closure = {"sha256": "c" * 64, "stage": "closure", "kind": "scan", "title": "closure form"}
    assert archivist.post(f"{url}/documents", json=closure).status_code == 201
    closed = archivist.post(f"{url}/close", json={"reason": "customer moved away"})
    assert closed.status_code == 200
    assert closed.get_json()["status"] == "closed"
    assert closed.get_json()["version_no"] == 2
    assert_problem(archivist.patch(url, json={"name": "x", "reason": "r"}), 409)
    assert_problem(archivist.post(f"{url}/close", json={"reason": "again"}), 409)
    assert archivist.get(url).status_code == 200


def test_delete_customer_and_edit_history_are_refused(api):
    archivist = api("archivist")
    body = open_file(archivist)
    url = f"/api/v1/customers/{body['id']}"
    assert_problem(archivist.delete(url), 409)
    for method in ("put", "patch", "delete"):
        response = getattr(archivist, method)(f"{url}/versions/1", json={"name": "forged"})
        assert_problem(response, 405)
    assert archivist.get(url).get_json()["version_no"] == 1


def test_bad_input_is_a_clear_problem(api):
    archivist = api("archivist")
    assert_problem(archivist.post("/api/v1/customers", json=customer_body(region_code="MARS")), 422)
    assert_problem(
        archivist.post("/api/v1/customers", json=customer_body(voltage_level="11kV")), 422
    )
    body = open_file(archivist)
    duplicate = archivist.post(
        "/api/v1/customers", json=customer_body(account_number=body["account_number"])
    )
    assert_problem(duplicate, 422)
    assert_problem(archivist.get("/api/v1/customers/not-a-uuid"), 404)
    assert_problem(archivist.get("/api/v1/customers/00000000-0000-0000-0000-000000000000"), 404)


@pytest.mark.parametrize(
    ("field", "day", "status"),
    [
        ("installed_on", "0001-01-01", 422),
        ("installed_on", "1930-01-01", 422),
        ("installed_on", "1949-12-31", 422),
        ("installed_on", "1950-01-01", 201),
        ("installed_on", "today", 201),
        ("installed_on", "in 3 days", 422),
        ("calibrated_on", "1900-06-01", 422),
        ("calibrated_on", "in 3 days", 422),
    ],
)
def test_implausible_meter_dates_are_refused_when_installed_or_changed(api, field, day, status):
    archivist = api("archivist")
    premise_id = open_file(archivist)["premises"][0]["id"]
    today = datetime.now(UTC).date()
    value = {"today": today, "in 3 days": today + timedelta(days=3)}.get(day, day)
    created = archivist.post(
        f"/api/v1/premises/{premise_id}/meters", json=meter_body(**{field: str(value)})
    )
    assert created.status_code == status, created.get_json()
    meter = created.get_json() if status == 201 else archivist.post(
        f"/api/v1/premises/{premise_id}/meters", json=meter_body()
    ).get_json()  # fmt: skip
    changed = archivist.patch(
        f"/api/v1/meters/{meter['id']}", json={field: str(value), "reason": "corrected"}
    )
    assert changed.status_code == (200 if status == 201 else 422), changed.get_json()
    if status == 422:
        problem = assert_problem(changed, 422)
        assert problem["errors"][0]["field"] == field
        shown = archivist.get(f"/api/v1/meters/{meter['id']}").get_json()
        assert shown[field] != str(value) and shown["version_no"] == 1


def _date_errors(response: Any) -> dict[str, list[str]]:  # field -> messages
    return {e["field"]: e["messages"] for e in assert_problem(response, 422)["errors"]}


def test_a_calibration_before_the_installation_is_refused_as_over_sync(api):
    """The archive's one date rule: a day out of any range reads its message, not the API's
    years; the calibration is not before the installation, as the meter would stand."""
    archivist = api("archivist")
    premise_id = open_file(archivist)["premises"][0]["id"]
    url = f"/api/v1/premises/{premise_id}/meters"
    before = "Expected a date not before the meter's installation date."
    early = archivist.post(
        url, json=meter_body(installed_on="1960-01-01", calibrated_on="1959-01-01")
    )
    assert _date_errors(early) == {"calibrated_on": [before]}
    for day in ("0001-01-01", "1899-12-31", "9999-12-31"):
        expected = "future" if day.startswith("9") else "from 1950-01-01 on"
        (message,) = _date_errors(archivist.post(url, json=meter_body(installed_on=day)))[
            "installed_on"
        ]
        assert message.startswith("Expected a date") and expected in message, message

    created = archivist.post(
        url, json=meter_body(installed_on="1960-01-01", calibrated_on="1961-01-01")
    )
    assert created.status_code == 201, created.get_json()
    meter = f"/api/v1/meters/{created.get_json()['id']}"
    for change in ({"calibrated_on": "1959-01-01"}, {"installed_on": "1962-01-01"}):
        refused = archivist.patch(meter, json={**change, "reason": "corrected"})
        assert _date_errors(refused) == {"calibrated_on": [before]}
    both = {"installed_on": "1962-01-01", "calibrated_on": "1962-01-01", "reason": "refitted"}
    assert archivist.patch(meter, json=both).status_code == 200
    assert archivist.get(meter).get_json()["version_no"] == 2


def test_meter_due_dates_follow_type_intervals(api):
    archivist = api("archivist")
    body = open_file(archivist)
    premise_id = body["premises"][0]["id"]
    created = archivist.post(f"/api/v1/premises/{premise_id}/meters", json=meter_body())
    assert created.status_code == 201, created.get_json()
    meter = created.get_json()
    # three_phase: replaced after 96 months, calibrated every 72; 29 Feb falls to 28 Feb.
    assert meter["replacement_due"] == "2032-02-29"
    assert meter["calibration_due"] == "2030-02-28"
    admin = api("admin")
    changed = admin.put(
        "/api/v1/meter-types",
        json={"code": "three_phase", "name": "3ph", "replacement_months": 120,
              "calibration_months": 24},
    )  # fmt: skip
    assert changed.status_code == 200
    again = archivist.get(f"/api/v1/meters/{meter['id']}").get_json()
    assert again["replacement_due"] == "2034-02-28"
    assert again["calibration_due"] == "2026-02-28"
    faulty = archivist.patch(
        f"/api/v1/meters/{meter['id']}",
        json={"faults": ["broken_seal", "stuck"], "reason": "inspection found", "source":
              "field_verification"},
    )  # fmt: skip
    assert faulty.get_json()["faults"] == ["broken_seal", "stuck"]
    versions = archivist.get(f"/api/v1/meters/{meter['id']}/versions").get_json()
    assert versions[-1]["source"] == "field_verification"
    bad = archivist.patch(
        f"/api/v1/meters/{meter['id']}", json={"faults": ["melted"], "reason": "r"}
    )
    assert_problem(bad, 422)
    assert_problem(
        archivist.post(f"/api/v1/premises/{premise_id}/meters", json=meter_body(meter_type="x")),
        422,
    )
