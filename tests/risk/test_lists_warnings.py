"""Red/black lists (time-limited, audited) and the arrears early warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.auth.audit import AuditLog
from tests.conftest import assert_problem
from tests.risk.helpers import install_models, station_customer
from tests.risk.test_billing_api import upload
from tests.risk.test_classes_api import _months_back


def _until(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def test_lists_are_time_limited_exclusive_and_audited(api, demo, session):
    customer = station_customer(api, demo)
    collector = api("collector")
    url = f"/api/v1/customers/{customer['id']}/list-entries"
    entry = collector.post(url, json={"kind": "black", "reason": "disconnected twice",
                                      "valid_until": _until(180)})  # fmt: skip
    assert entry.status_code == 201, entry.get_json()
    entry = entry.get_json()
    assert entry["added_by"].endswith(":collector") and entry["kind"] == "black"
    assert_problem(collector.post(url, json={"kind": "red", "reason": "r",
                                             "valid_until": _until(5)}), 409)  # fmt: skip
    assert_problem(collector.post(url, json={"kind": "red", "reason": "r",
                                             "valid_until": _until(-1)}), 422)  # fmt: skip
    listed = collector.get("/api/v1/risk/list-entries?kind=black").get_json()
    assert [e["id"] for e in listed] == [entry["id"]]
    ended = collector.post(f"/api/v1/risk/list-entries/{entry['id']}/end",
                           json={"reason": "paid in full"})  # fmt: skip
    assert ended.status_code == 200 and ended.get_json()["ended_by"].endswith(":collector")
    assert collector.get("/api/v1/risk/list-entries?kind=black").get_json() == []
    everything = collector.get("/api/v1/risk/list-entries?include_ended=true").get_json()
    assert [e["end_reason"] for e in everything] == ["paid in full"]
    audit = session.scalars(
        select(AuditLog.action).where(AuditLog.entity == "risk_list_entries")
    ).all()
    assert sorted(audit) == ["create", "update"]
    assert_problem(api("crew1").get("/api/v1/risk/list-entries"), 403)
    assert_problem(api("callcenter").post(url, json={"kind": "red", "reason": "r",
                                                     "valid_until": _until(5)}), 403)  # fmt: skip


def test_a_falling_grade_raises_one_alert(api, demo, session):
    install_models(session)
    customer = station_customer(api, demo)
    collector = api("collector")
    base = f"/api/v1/customers/{customer['id']}/credit"
    collector.post(f"{base}/rate")
    collector.post(f"{base}/assessments", json={"indicators": {"theft_violation": "theft"}})
    collector.post(f"{base}/rate")  # the same grade again: no second alert
    alerts = collector.get("/api/v1/risk/warnings").get_json()
    mine = [a for a in alerts if a["customer_id"] == customer["id"]]
    assert [(a["kind"], a["detail"]["from"], a["detail"]["to"]) for a in mine] == [
        ("grade_fell", "A", "E")
    ]
    done = collector.post(f"/api/v1/risk/warnings/{mine[0]['id']}/acknowledge")
    assert done.status_code == 200 and done.get_json()["acknowledged_by"]
    assert_problem(collector.post(f"/api/v1/risk/warnings/{mine[0]['id']}/acknowledge"), 409)
    assert customer["id"] not in {
        a["customer_id"] for a in collector.get("/api/v1/risk/warnings").get_json()
    }


@pytest.mark.parametrize("username", ["collector", "keyaccount", "supervisor", "auditor"])
def test_warning_rows_name_the_customer_as_the_callers_file_view_does(api, demo, session, username):
    install_models(session)
    customer = station_customer(api, demo)
    base = f"/api/v1/customers/{customer['id']}/credit"
    api("collector").post(f"{base}/rate")
    api("collector").post(f"{base}/assessments", json={"indicators": {"theft_violation": "theft"}})
    reader = api(username)
    rows = [
        a
        for a in reader.get("/api/v1/risk/warnings").get_json()
        if a["customer_id"] == customer["id"]
    ]
    assert [a["kind"] for a in rows] == ["grade_fell"]
    file = reader.get(f"/api/v1/customers/{customer['id']}").get_json()
    assert (rows[0]["account_number"], rows[0]["customer_name"]) == (
        file["account_number"],
        file["name"],
    )
    assert rows[0]["account_number"] == customer["account_number"]
    if username == "collector":  # the acknowledged alert comes back in the same shape
        done = reader.post(f"/api/v1/risk/warnings/{rows[0]['id']}/acknowledge").get_json()
        assert done["customer_name"] == customer["name"] and done["acknowledged_by"]


def test_growing_arrears_and_a_worse_pattern_raise_alerts(api, demo):
    customer = station_customer(api, demo)
    collector = api("collector")
    header = ["户号", "账期", "应收电费", "实收电费", "缴费日期"]
    account = customer["account_number"]
    first = [header] + [
        [account, _months_back(n), "100", "100", f"{_months_back(n)}-10"] for n in (4, 3, 2)
    ]
    assert upload(collector, first).status_code == 201
    assert (
        upload(collector, [header, [account, _months_back(1), "100", "0", ""]]).status_code == 201
    )
    kinds = {a["kind"] for a in collector.get("/api/v1/risk/warnings").get_json()
             if a["customer_id"] == customer["id"]}  # fmt: skip
    assert kinds == {"pattern_changed", "arrears_grew"}


def test_the_risk_report_counts_grades_by_department_and_size(api, demo, session):
    import io

    from openpyxl import load_workbook

    install_models(session)
    for kw in (630.0, 50.0):
        customer = station_customer(api, demo, contract_capacity_kw=kw)
        api("collector").post(f"/api/v1/customers/{customer['id']}/credit/rate")
    report = api("supervisor").get("/api/v1/risk/report").get_json()
    rows = {(r["department"], r["size"]): r for r in report["grades"]}
    urban = "Urban Station (low voltage)"
    assert rows[(urban, "large")]["A"] == 1 and rows[(urban, "medium")]["total"] == 1
    assert {r["class"] for r in report["abc"]} == {"A", "B", "C"}
    csv = api("supervisor").get("/api/v1/risk/report?format=csv&table=grades")
    assert csv.mimetype == "text/csv" and "share_a_b_pct" in csv.get_data(as_text=True)
    book = load_workbook(io.BytesIO(api("auditor").get("/api/v1/risk/report?format=xlsx").data))
    assert {"grades", "abc"} <= set(book.sheetnames)
    assert_problem(api("callcenter").get("/api/v1/risk/report"), 403)
