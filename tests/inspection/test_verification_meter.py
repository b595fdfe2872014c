"""Field verification corrects the meter (seed 003: number, type, multiplier, dates, seals).

Walked over the API and the reference sync client (real commits): a batch of files whose
meters carry no seal → the inspector's handheld pulls its file and pushes the meter as found
offline (the rules refuse bad values, per mutation) → a supervisor approves → a new meter
version with source `field_verification` → the customer SMS check → the batch report counts
the meter's corrections and the data-quality change.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest

from backend.network import notify
from tests.archive.helpers import customer_body, meter_body
from tests.conftest import assert_problem
from tests.sync.conftest import http, make_client, sync_app  # noqa: F401 - fixtures


class RecordingSender:
    """An SMS gateway that keeps what it was asked to send."""

    channel = "test"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, text: str, **_: Any) -> bool:
        self.sent.append((phone, text))
        return True


@pytest.fixture
def sms():
    sender = RecordingSender()
    previous = notify.set_sender(sender)
    yield sender
    notify.set_sender(previous)


def _call(transport: Any, method: str, path: str, body: Any = None, status: int = 0) -> Any:
    reply = transport.request(method, path, json_body=body)
    if status:
        assert reply.status == status, (path, reply.status, reply.body)
    else:
        assert reply.status < 300, (path, reply.status, reply.body)
    return reply.body


def _verdicts(client: Any) -> list[dict[str, Any]]:
    return list(client.push())


def test_a_meter_corrected_offline_becomes_a_field_verification_version(
    http,  # noqa: F811 - fixtures
    make_client,  # noqa: F811
    sms,
):
    archivist, supervisor, inspector = http("archivist"), http("supervisor"), http("inspector")
    departments = _call(supervisor, "GET", "/api/v1/departments?page_size=100")
    station = next(d["id"] for d in departments if d["code"] == "ST-URB")
    inspector_id = _call(inspector, "GET", "/api/v1/auth/me")["id"]
    tag = uuid.uuid4().hex[:6].upper()
    handheld = make_client("inspector")  # syncing from here on
    body = customer_body(department_id=station, voltage_level="380V")
    customer = _call(archivist, "POST", "/api/v1/customers", body)
    premise = customer["premises"][0]["id"]
    # On file: multiplier 40, no seal, installed 2024-02-29 — not what is on the wall.
    meter = _call(archivist, "POST", f"/api/v1/premises/{premise}/meters", meter_body(seals=[]))
    other = _call(
        archivist, "POST", f"/api/v1/premises/{premise}/meters", meter_body(seals=[f"T{tag}-9"])
    )
    # Two meters: the field names the one it corrects (the second one is sealed already).
    batch = _call(
        archivist,
        "POST",
        "/api/v1/verification-batches",
        {
            "name": f"Seals {tag}",
            "department_id": station,
            "customer_type": body["customer_type"],
            "flags": ["no_seal"],
            "assignee_ids": [inspector_id],
        },
    )
    items = _call(inspector, "GET", f"/api/v1/verification-batches/{batch['id']}/items")
    (item,) = [i for i in items if i["customer_id"] == customer["id"]]
    assert "no_seal" in item["flags_before"]

    # The handheld pulls its file and the meters of it.
    handheld.pull()
    assert item["id"] in handheld.server_copy("verification_item")
    assert {meter["id"], other["id"]} <= set(handheld.server_copy("meter"))

    # Offline at the meter: each mutation gets its own verdict; bad values change nothing.
    def correct(corrections: dict[str, str]) -> dict[str, Any]:
        handheld.update(
            "verification_item", item["id"], {"corrections": corrections, "status": "checked"}
        )
        (verdict,) = _verdicts(handheld)
        handheld.pull()
        return verdict

    unclear = correct({"meter.multiplier": "300/5"})  # which of the two meters?
    assert unclear["verdict"] == "rejected" and "meter_id" in unclear["problem"]["detail"]
    bad = correct({"meter_id": meter["id"], "meter.multiplier": "300/0"})
    assert bad["verdict"] == "rejected" and "meter.multiplier" in bad["problem"]["detail"]
    taken = correct({"meter_id": meter["id"], "meter.number": other["number"]})
    assert taken["verdict"] == "rejected" and "already exists" in taken["problem"]["detail"]
    sealed = correct({"meter_id": meter["id"], "meter.seals": f"T{tag}-9"})
    assert sealed["verdict"] == "rejected" and "meter.seals" in sealed["problem"]["detail"]
    assert f"on meter {other['number']}" in sealed["problem"]["detail"]  # the archive's rule
    order = correct({"meter_id": meter["id"], "meter.calibrated_on": "2020-01-01"})
    assert order["verdict"] == "rejected" and "installation" in order["problem"]["detail"]
    # The archive's one rule for meter dates (REST and import share it): nothing before 1950.
    ancient = correct({"meter_id": meter["id"], "meter.installed_on": "0001-01-01"})
    assert ancient["verdict"] == "rejected"
    assert "meter.installed_on: a date from 1950-01-01 on" in ancient["problem"]["detail"]
    assert _call(inspector, "GET", f"/api/v1/meters/{meter['id']}")["multiplier"] == 40.0
    found = {
        "meter_id": meter["id"],
        "meter.number": f"F{tag}01",
        "meter.multiplier": "300/5",
        "meter.meter_type": "single_phase",
        "meter.reading_method": "manual",
        "meter.installed_on": "2023-05-10",
        "meter.calibrated_on": "2023-05-01",  # before the installation found: refused
        "meter.seals": f"T{tag}-1, T{tag}-2",
    }
    order = correct(found)
    assert order["verdict"] == "rejected" and "meter.calibrated_on" in order["problem"]["detail"]
    good = correct({**found, "meter.calibrated_on": "2025-06-01"})
    assert good["verdict"] == "applied", good
    pulled = handheld.server_copy("verification_item")[item["id"]][1]
    assert pulled["status"] == "checked" and pulled["corrections"]["meter.multiplier"] == "300/5"

    # Validation: the rules, then a supervisor; the meter gets a field_verification version.
    review = f"/api/v1/verification-items/{item['id']}/review"
    _call(inspector, "POST", review, {"approve": True}, status=403)
    reviewed = _call(
        supervisor, "POST", f"/api/v1/verification-items/{item['id']}/review", {"approve": True}
    )
    assert reviewed["status"] == "validated"
    (applied,) = [v for v in reviewed["applied_versions"] if v["entity"] == "meter"]
    assert applied["id"] == meter["id"] and applied["version_no"] == 2
    assert "no_seal" not in reviewed["flags_after"]
    shown = _call(archivist, "GET", f"/api/v1/meters/{meter['id']}")
    assert shown["number"] == f"F{tag}01" and shown["multiplier"] == 60.0
    assert shown["meter_type"] == "single_phase" and shown["reading_method"] == "manual"
    assert shown["installed_on"] == "2023-05-10" and shown["calibrated_on"] == "2025-06-01"
    assert shown["seals"] == [f"T{tag}-1", f"T{tag}-2"]
    versions = _call(archivist, "GET", f"/api/v1/meters/{meter['id']}/versions")
    assert [v["source"] for v in versions] == ["ui", "field_verification"]
    assert f"field verification {batch['number']}" in versions[-1]["reason"]
    handheld.pull()
    assert handheld.server_copy("meter")[meter["id"]][1]["number"] == f"F{tag}01"
    assert handheld.server_copy("verification_item")[item["id"]][1]["status"] == "validated"

    # The SMS check, then the report: the meter's corrections and the quality change.
    _call(archivist, "POST", f"/api/v1/verification-batches/{batch['id']}/confirm")
    assert any("meter.multiplier" in text for _, text in sms.sent)
    report = _call(archivist, "GET", f"/api/v1/verification-batches/{batch['id']}/report")
    fields = {r["field"]: r["corrections"] for r in report["fields"]}
    assert fields["meter.multiplier"] == 1 and fields["meter.seals"] == 1
    (summary,) = report["summary"]
    assert summary["quality_after"] > summary["quality_before"]
    (row,) = [r for r in report["items"] if r["account_number"] == customer["account_number"]]
    assert "meter v2" in row["versions"] and "no_seal" in row["flags_before"]
    assert "no_seal" not in row["flags_after"]
    as_csv = archivist.client.get(
        f"/api/v1/verification-batches/{batch['id']}/report?format=csv&table=fields",
        headers={"Authorization": f"Bearer {archivist.token}"},
    )
    assert as_csv.status_code == 200
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert {"field": "meter.number", "corrections": "1"} in rows


def test_meter_corrections_over_rest_follow_the_same_rules(api, demo):
    archivist, inspector = api("archivist"), api("inspector")
    station = demo.departments["ST-URB"].id
    created = archivist.post("/api/v1/customers", json=customer_body(department_id=station))
    customer = created.get_json()
    batch = archivist.post(
        "/api/v1/verification-batches",
        json={
            "name": "Meters",
            "department_id": station,
            "flags": ["no_meter"],
            "assignee_ids": [demo.users["inspector"].id],
        },
    ).get_json()
    items = inspector.get(f"/api/v1/verification-batches/{batch['id']}/items").get_json()
    (item,) = [i for i in items if i["customer_id"] == customer["id"]]
    url = f"/api/v1/verification-items/{item['id']}/check"
    # No meter on file to correct; a bad value; a field that is not the meter's.
    no_meter = inspector.post(url, json={"corrections": {"meter.multiplier": "40"}})
    assert "no meter" in assert_problem(no_meter, 422)["errors"][0]["messages"][0]
    for corrections in (
        {"meter.installed_on": "2999-01-01"},
        {"meter.calibrated_on": "1949-12-31"},
        {"meter.seals": "A-1, A-1"},
        {"meter.reading_method": "telepathy"},
        {"meter_id": "not-a-uuid"},
        {"meter.faults": "stuck"},
    ):
        assert_problem(inspector.post(url, json={"corrections": corrections}), 422)
    unchanged = [
        i
        for i in inspector.get(f"/api/v1/verification-batches/{batch['id']}/items").get_json()
        if i["id"] == item["id"]
    ]
    assert unchanged[0]["status"] == "pending" and unchanged[0]["corrections"] == {}
