"""Field verification of the archive, walked from the batch to its report; the inspection report."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from backend.network import notify
from tests.archive.helpers import customer_body
from tests.conftest import assert_problem
from tests.inspection.helpers import push
from tests.sync.helpers import mutation


class RecordingSender:
    """An SMS gateway that keeps what it was asked to send."""

    channel = "test"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> bool:
        self.sent.append((phone, text))
        return True


@pytest.fixture
def sms():
    sender = RecordingSender()
    previous = notify.set_sender(sender)
    yield sender
    notify.set_sender(previous)


def _files(api, demo, count):
    station = demo.departments["ST-URB"].id
    made = []
    for _ in range(count):
        # Phones missing and lines unknown: the data-quality flags this batch is about.
        body = customer_body(department_id=station, contacts=[], voltage_level="220kV")
        body["premises"][0].pop("line_name")
        response = api("archivist").post("/api/v1/customers", json=body)
        assert response.status_code == 201, response.get_json()
        made.append(response.get_json())
    return made


def test_a_batch_walked_from_selection_to_its_report(api, demo, sms):
    archivist, inspector, supervisor = api("archivist"), api("inspector"), api("supervisor")
    files = _files(api, demo, 2)
    ours = {f["id"] for f in files}
    body = {
        "name": "Station ST-URB phones",
        "department_id": demo.departments["ST-URB"].id,
        "flags": ["no_phone"],
        "assignee_ids": [demo.users["inspector"].id],
    }
    assert_problem(inspector.post("/api/v1/verification-batches", json=body), 403)
    created = archivist.post("/api/v1/verification-batches", json=body)
    assert created.status_code == 201, created.get_json()
    batch = created.json
    assert batch["quality_before"] < 1.0
    items = {
        i["customer_id"]: i
        for i in inspector.get(f"/api/v1/verification-batches/{batch['id']}/items").json
    }
    assert ours <= set(items)
    first, second = (items[f["id"]] for f in files)
    assert "no_phone" in first["flags_before"] and "no_line" in first["flags_before"]

    # On the handheld: corrections are pushed; the rules refuse a bad phone.
    bad = push(
        inspector,
        mutation(
            "verification_item",
            "update",
            {"corrections": {"phone": "12345"}, "status": "checked"},
            record_id=first["id"],
            base=0,
        ),
    )[0]
    assert bad["verdict"] == "rejected" and "phone" in bad["problem"]["detail"]
    good = push(
        inspector,
        mutation(
            "verification_item",
            "update",
            {
                "corrections": {"phone": "13800001111", "address": "浙江省杭州市西湖区龙井路3号"},
                "status": "checked",
            },
            record_id=first["id"],
            base=0,
        ),
    )[0]
    assert good["verdict"] == "applied", good
    # Over REST, the same rules: an unknown field is a 422.
    url = f"/api/v1/verification-items/{second['id']}"
    assert_problem(
        inspector.post(f"{url}/check", json={"corrections": {"contract_number": "x"}}), 422
    )  # noqa: E501
    assert (
        inspector.post(f"{url}/check", json={"corrections": {"phone": "0571-87654321"}}).status_code
        == 200
    )  # noqa: E501

    # Review: one approved (archive versions, source field_verification), one sent back.
    first_url = f"/api/v1/verification-items/{first['id']}"
    assert_problem(inspector.post(f"{first_url}/review", json={"approve": True}), 403)
    assert_problem(supervisor.post(f"{url}/review", json={"approve": False}), 422)
    approved = supervisor.post(f"{first_url}/review", json={"approve": True})
    assert approved.status_code == 200, approved.get_json()
    assert approved.json["status"] == "validated"
    assert {v["entity"] for v in approved.json["applied_versions"]} == {"customer", "premise"}
    assert "no_phone" not in approved.json["flags_after"]
    history = archivist.get(f"/api/v1/customers/{first['customer_id']}/history").json
    sources = [v["source"] for v in history]
    assert sources.count("field_verification") == 2
    shown = archivist.get(f"/api/v1/customers/{first['customer_id']}").json
    assert shown["contacts"][0]["phone"] == "13800001111"
    assert shown["premises"][0]["address"] == "浙江省杭州市西湖区龙井路3号"
    sent_back = supervisor.post(f"{url}/review", json={"approve": False, "note": "wrong house"})
    assert sent_back.json["status"] == "rejected"
    assert_problem(supervisor.post(f"{url}/review", json={"approve": True}), 409)

    # The customer SMS check, through the pluggable sender.
    confirmed = archivist.post(f"/api/v1/verification-batches/{batch['id']}/confirm")
    assert confirmed.json["sent"] == 1 and confirmed.json["channel"] == "test"
    assert sms.sent[0][0] == "13800001111" and "verified on site" in sms.sent[0][1]

    report = archivist.get(f"/api/v1/verification-batches/{batch['id']}/report").json
    (summary,) = report["summary"]
    assert summary["confirmed"] == 1 and summary["rejected"] == 1
    assert summary["quality_after"] > summary["quality_before"]
    assert {r["field"] for r in report["fields"]} == {"address", "phone"}
    as_csv = archivist.get(
        f"/api/v1/verification-batches/{batch['id']}/report",
        query_string={"format": "csv", "table": "items"},
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert {r["status"] for r in rows} >= {"confirmed", "rejected"}


def test_the_inspection_report_in_three_formats(api, demo):
    supervisor = api("supervisor")
    window = {
        "from": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
        "to": (datetime.now(UTC) + timedelta(days=60)).isoformat(),
    }
    body = supervisor.get("/api/v1/reports/inspections", query_string=window).json
    assert set(body) == {
        "summary",
        "tasks",
        "hazards",
        "cases",
        "repeat_offenders",
        "field_verification",
    }
    assert [h["severity"] for h in body["hazards"]] == ["low", "medium", "high", "critical"]
    xlsx = supervisor.get("/api/v1/reports/inspections", query_string={**window, "format": "xlsx"})
    sheets = load_workbook(io.BytesIO(xlsx.data)).sheetnames
    assert "repeat_offenders" in sheets and "field_verification" in sheets
    as_csv = supervisor.get(
        "/api/v1/reports/inspections", query_string={**window, "format": "csv", "table": "hazards"}
    )
    assert as_csv.get_data(as_text=True).startswith("severity,open")
    assert_problem(api("crew1").get("/api/v1/reports/inspections", query_string=window), 403)
    bad = {"from": window["to"], "to": window["from"]}
    assert_problem(supervisor.get("/api/v1/reports/inspections", query_string=bad), 422)
