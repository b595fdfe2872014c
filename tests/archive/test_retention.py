"""Retention of closed files (seed 003: high voltage >= 5 years, low voltage >= 3 years),
supervised destruction that keeps its record, legal holds; and the data-quality figures."""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from backend.archive import retention, versions
from backend.archive.records import Customer
from backend.auth.audit import AuditLog
from tests.archive.helpers import open_file
from tests.conftest import assert_problem

CLOSED = datetime(2020, 2, 29, 10, 0, tzinfo=UTC)  # a leap day: the anniversary is Feb 28


def _close(session, customer_id, closed_at):
    customer = session.get(Customer, uuid.UUID(str(customer_id)))
    versions.append(session, customer, {"status": "closed", "closed_at": closed_at},
                    actor="user:0:test", reason="closure recorded", source="import")  # fmt: skip
    session.flush()
    return customer


# (rule, voltage level, years kept)
RULES = [("high_voltage_files_kept_5_years", "10kV", 5),
         ("low_voltage_files_kept_3_years", "380V", 3)]  # fmt: skip


@pytest.mark.parametrize(("rule", "voltage", "kept"), RULES, ids=[r[0] for r in RULES])
def test_rule(api, session, demo, rule, voltage, kept):
    body = open_file(api("archivist"), voltage_level=voltage)
    customer = _close(session, body["id"], CLOSED)
    anniversary = datetime(2020 + kept, 2, 28, 10, 0, tzinfo=UTC)
    scope = Customer.id == customer.id
    assert retention.due_files(session, scope=scope, now=anniversary - timedelta(seconds=1)) == []
    assert [c.id for c, _ in retention.due_files(session, scope=scope, now=anniversary)] == [
        customer.id
    ], rule


def test_retention_is_configurable_but_never_below_the_seeds(api, demo):
    admin = api("admin")
    assert_problem(admin.put("/api/v1/archive/retention-rules/low", json={"years": 2}), 422)
    assert_problem(api("archivist").put("/api/v1/archive/retention-rules/low", json={"years": 4}),
                   403)  # fmt: skip
    assert admin.put("/api/v1/archive/retention-rules/low", json={"years": 4}).status_code == 200
    rules = {r["voltage_class"]: r["years"] for r in
             admin.get("/api/v1/archive/retention-rules").get_json()}  # fmt: skip
    assert rules == {"high": 5, "low": 4}
    assert_problem(admin.put("/api/v1/archive/retention-rules/mid", json={"years": 9}), 404)


def _document(api, customer_id, data, stage="contract"):
    sha = hashlib.sha256(data).hexdigest()
    put = api.put(f"/api/v1/blobs/{sha}", data=io.BytesIO(data),
                  headers={"Content-Type": "application/pdf"})  # fmt: skip
    assert put.status_code == 200, put.get_json()
    body = {"sha256": sha, "stage": stage, "kind": "scan", "title": f"{stage} scan"}
    made = api.post(f"/api/v1/customers/{customer_id}/documents", json=body)
    assert made.status_code == 201, made.get_json()
    served = api.get(f"/api/v1/documents/{made.get_json()['id']}/content")
    # A PDF downloads: not rendered on the API's own origin.
    assert served.headers["Content-Disposition"].startswith("attachment;"), served.headers
    return made.get_json()


def _bytes_reads(api, customer_id):
    log = api.get("/api/v1/archive/reads", query_string={"customer_id": customer_id})
    assert log.status_code == 200, log.get_json()
    return sum(1 for r in log.get_json() if r["what"] == "document bytes")


def test_destruction_is_supervised_and_keeps_what_was_destroyed(api, app, session, demo):
    archivist, admin = api("archivist"), api("admin")
    body = open_file(archivist)
    doomed = _document(archivist, body["id"], b"%PDF old contract " + uuid.uuid4().bytes)
    shared_bytes = b"%PDF shared form " + uuid.uuid4().bytes
    shared = _document(archivist, body["id"], shared_bytes, stage="application")
    other = open_file(archivist)
    _document(archivist, other["id"], shared_bytes, stage="application")  # same bytes, kept
    _close(session, body["id"], datetime.now(UTC) - timedelta(days=6 * 366))
    due = archivist.get("/api/v1/archive/retention/due").get_json()
    assert body["id"] in {d["customer_id"] for d in due}
    assert_problem(archivist.post("/api/v1/archive/destruction-lists",
                                  json={"customer_ids": [other["id"]],
                                        "storage_location": "cabinet D"}), 409)  # fmt: skip
    proposal = {"customer_ids": [body["id"]], "storage_location": "cabinet D (closed accounts)"}
    listed = archivist.post("/api/v1/archive/destruction-lists", json=proposal)
    assert listed.status_code == 201, listed.get_json()
    list_id = listed.get_json()["id"]
    due = archivist.get("/api/v1/archive/retention/due").get_json()
    assert body["id"] not in {d["customer_id"] for d in due}
    url = f"/api/v1/archive/destruction-lists/{list_id}"
    assert_problem(archivist.post(f"{url}/approve", json={}), 403)  # the archive cannot approve
    approved = admin.post(f"{url}/approve", json={})
    assert approved.status_code == 200, approved.get_json()
    approved.close()  # the bytes go once the response (and its commit) is done
    result = approved.get_json()
    assert result["status"] == "approved" and result["decided_by"].endswith("admin")
    gone = {d["document_id"]: d["bytes_removed"] for d in result["destroyed"]}
    assert gone[doomed["id"]] is True and gone[shared["id"]] is False
    storage = app.extensions["fieldline.blobs"]
    assert not storage.exists(doomed["sha256"]) and storage.exists(shared["sha256"])
    assert_problem(archivist.get(f"/api/v1/documents/{doomed['id']}/content"), 404)
    # The kept bytes are still a document of the other file only: a read through the blob
    # door is logged on that file, not on the destroyed one.
    assert archivist.get(f"/api/v1/blobs/{shared['sha256']}/content").status_code == 200
    assert _bytes_reads(archivist, other["id"]) == 1 and _bytes_reads(archivist, body["id"]) == 0
    documents = archivist.get(f"/api/v1/customers/{body['id']}/documents").get_json()
    assert {d["id"]: d["blob"] for d in documents}[doomed["id"]] == "destroyed"
    assert archivist.get(f"/api/v1/customers/{body['id']}/history").status_code == 200
    assert_problem(admin.post(f"{url}/approve", json={}), 409)
    audit = session.scalars(
        select(AuditLog).where(AuditLog.entity == "archive_destruction_lists")
    ).all()
    assert any((a.after or {}).get("status") == "approved" for a in audit)


def test_no_one_approves_their_own_destruction_list(api, session, demo):
    admin = api("admin")
    body = open_file(api("archivist"))
    _close(session, body["id"], datetime.now(UTC) - timedelta(days=6 * 366))
    proposal = {"customer_ids": [body["id"]], "storage_location": "D"}
    made = admin.post("/api/v1/archive/destruction-lists", json=proposal).get_json()
    assert_problem(admin.post(f"/api/v1/archive/destruction-lists/{made['id']}/approve", json={}),
                   403)  # fmt: skip


def test_a_legal_hold_stops_destruction(api, session, demo):
    archivist, admin = api("archivist"), api("admin")
    body = open_file(archivist)
    _close(session, body["id"], datetime.now(UTC) - timedelta(days=6 * 366))
    hold = archivist.post(f"/api/v1/customers/{body['id']}/legal-holds",
                          json={"reason": "court case 2031-17"}).get_json()  # fmt: skip
    due = {d["customer_id"] for d in archivist.get("/api/v1/archive/retention/due").get_json()}
    assert body["id"] not in due
    lists = "/api/v1/archive/destruction-lists"
    proposal = {"customer_ids": [body["id"]], "storage_location": "D"}
    assert assert_problem(archivist.post(lists, json=proposal), 409)["not_due"] == [body["id"]]
    release = f"/api/v1/archive/legal-holds/{hold['id']}/release"
    assert archivist.post(release, json={}).get_json()["released_by"].endswith("archivist")
    assert_problem(archivist.post(release, json={}), 409)
    made = archivist.post(lists, json=proposal).get_json()
    archivist.post(f"/api/v1/customers/{body['id']}/legal-holds", json={"reason": "new claim"})
    blocked = assert_problem(admin.post(f"{lists}/{made['id']}/approve", json={}), 409)
    assert blocked["blocked"] == [body["account_number"]]
    holds = archivist.get(f"/api/v1/customers/{body['id']}/legal-holds").get_json()
    assert [h["reason"] for h in holds] == ["new claim", "court case 2031-17"]


def test_quality_figures_per_department(api, demo):
    archivist = api("archivist")
    urban = demo.departments["ST-URB"].id
    complete = open_file(archivist, department_id=urban)
    for stage in ("application", "contract"):
        archivist.post(f"/api/v1/customers/{complete['id']}/documents", json={
            "sha256": hashlib.sha256(stage.encode()).hexdigest(), "stage": stage,
            "kind": "scan", "title": stage})  # fmt: skip
    open_file(archivist, department_id=urban)  # nothing attached yet
    foreign = open_file(archivist, department_id=demo.departments["ST-SUB"].id)
    made = api("crew1").post("/api/v1/archive/access-requests", json={
        "customer_id": foreign["id"], "purpose": "complaint",
        "valid_until": (datetime.now(UTC) + timedelta(days=1)).isoformat()}).get_json()  # fmt: skip
    api("supervisor").post(f"/api/v1/archive/access-requests/{made['id']}/approve-department",
                           json={})  # fmt: skip
    archivist.post(f"/api/v1/archive/access-requests/{made['id']}/approve-archive", json={})
    api("crew1").get(f"/api/v1/customers/{foreign['id']}")
    rows = {r["department_id"]: r for r in archivist.get("/api/v1/archive/quality").get_json()}
    assert rows[urban]["files"] == 2 and rows[urban]["incomplete"] == 1
    assert rows[urban]["missing_application"] == 1 and rows[urban]["missing_contract"] == 1
    sub = rows[demo.departments["ST-SUB"].id]
    assert sub["reads_by_grant"] == 1 and sub["incomplete"] == 1
    report = archivist.get("/api/v1/archive/quality/report?format=csv")
    assert report.headers["Content-Type"] == "text/csv; charset=utf-8"
    table = list(csv.DictReader(io.StringIO(report.get_data().decode("utf-8-sig"))))
    assert {int(r["department_id"]): int(r["incomplete"]) for r in table}[urban] == 1
    xlsx = archivist.get("/api/v1/archive/quality/report?format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.data)).worksheets[0]
    assert next(sheet.iter_rows(values_only=True))[:3] == ("department_id", "department", "files")
    assert_problem(api("crew1").get("/api/v1/archive/quality"), 403)
