"""Access requests (two levels), time-limited grants on every read door, reads, lending."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, date, datetime, timedelta

from backend.archive import chasing, deadlines
from backend.archive.access_models import AccessRequest, PaperLoan
from backend.archive.access_routes import _loan_view
from backend.archive.records import Customer
from tests.archive.helpers import open_file
from tests.archive.test_access import _work_at
from tests.conftest import assert_problem

REQUESTS = "/api/v1/archive/access-requests"


def _until(days: float = 2) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _request(api, customer_id, purpose="complaint follow-up", **extra):
    body = {"customer_id": customer_id, "purpose": purpose, "valid_until": _until(), **extra}
    return api.post(REQUESTS, json=body)


def _grant(api, who, customer_id, level1="supervisor", level2="archivist"):
    made = _request(api(who), customer_id)
    assert made.status_code == 201, made.get_json()
    rid = made.get_json()["id"]
    assert api(level1).post(f"{REQUESTS}/{rid}/approve-department", json={}).status_code == 200
    granted = api(level2).post(f"{REQUESTS}/{rid}/approve-archive", json={})
    assert granted.get_json()["status"] == "granted"
    return rid


def test_two_levels_by_two_people_then_the_file_opens_for_reading(api, demo):
    archivist, crew = api("archivist"), api("crew1")
    body = open_file(archivist, department_id=demo.departments["ST-SUB"].id)
    url = f"/api/v1/customers/{body['id']}"
    assert_problem(crew.get(url), 403)
    made = _request(crew, body["id"]).get_json()
    assert made["status"] == "pending" and made["requester_name"].endswith("crew1")
    rid = made["id"]
    # Level 2 cannot come first; a crew member cannot approve at all.
    assert_problem(archivist.post(f"{REQUESTS}/{rid}/approve-archive", json={}), 409)
    assert_problem(crew.post(f"{REQUESTS}/{rid}/approve-department", json={}), 403)
    assert_problem(crew.get(url), 403)  # pending opens nothing
    level1 = api("supervisor").post(f"{REQUESTS}/{rid}/approve-department", json={})
    assert level1.get_json()["status"] == "department_approved"
    assert_problem(crew.get(url), 403)  # one level opens nothing
    assert_problem(api("supervisor").post(f"{REQUESTS}/{rid}/approve-archive", json={}), 403)
    granted = archivist.post(f"{REQUESTS}/{rid}/approve-archive", json={}).get_json()
    assert granted["status"] == "granted" and granted["archive_approver"].endswith("archivist")
    seen = crew.get(url)
    assert seen.status_code == 200
    assert "contract_number" not in seen.get_json()  # the role's field permissions still hold
    assert_problem(archivist.post(f"{REQUESTS}/{rid}/approve-archive", json={}), 409)
    assert rid in {r["id"] for r in crew.get(REQUESTS).get_json()}


def test_no_one_approves_their_own_request_or_both_levels(api, demo):
    body = open_file(api("archivist"), department_id=demo.departments["CALL"].id)
    supervisor, admin = api("supervisor"), api("admin")
    rid = _request(supervisor, body["id"]).get_json()["id"]
    problem = assert_problem(supervisor.post(f"{REQUESTS}/{rid}/approve-department", json={}), 403)
    assert "own" in problem["detail"]
    assert admin.post(f"{REQUESTS}/{rid}/approve-department", json={}).status_code == 200
    problem = assert_problem(admin.post(f"{REQUESTS}/{rid}/approve-archive", json={}), 403)
    assert "someone else" in problem["detail"]
    refused = api("archivist").post(f"{REQUESTS}/{rid}/refuse", json={"reason": "no case"})
    assert refused.get_json()["status"] == "refused"
    assert_problem(supervisor.get(f"/api/v1/customers/{body['id']}"), 403)


def test_bad_requests_are_clear_problems(api, demo, session):
    crew = api("crew1")
    own = open_file(api("archivist"), department_id=demo.departments["ST-URB"].id)
    _work_at(session, demo, own["premises"][0]["id"])  # crews see the files where they work
    foreign = open_file(api("archivist"), department_id=demo.departments["ST-SUB"].id)
    assert_problem(_request(crew, own["id"]), 409)  # in scope already
    assert_problem(_request(crew, str(uuid.uuid4())), 404)
    assert_problem(_request(crew, foreign["id"], valid_until=_until(120)), 422)
    assert_problem(_request(crew, foreign["id"], valid_until=_until(-1)), 422)
    assert_problem(_request(crew, foreign["id"], purpose=""), 422)
    assert_problem(api("auditor").post(REQUESTS, json={}), 403)


def test_a_grant_is_read_only_and_ends_with_its_period(api, session, demo):
    body = open_file(api("archivist"), department_id=demo.departments["CALL"].id)
    url = f"/api/v1/customers/{body['id']}"
    supervisor = api("supervisor")  # may edit files, but not this one
    rid = _grant(api, "supervisor", body["id"], level1="admin")
    assert supervisor.get(url).status_code == 200
    assert_problem(supervisor.patch(url, json={"name": "x", "reason": "r"}), 403)
    exported = supervisor.get(f"/api/v1/customer-exports?account_number={body['account_number']}")
    assert body["account_number"] in exported.get_data(as_text=True)  # the export door
    grant = session.get(AccessRequest, uuid.UUID(rid))
    grant.valid_from -= timedelta(days=3)
    grant.valid_until = datetime.now(UTC) - timedelta(seconds=1)
    session.flush()
    assert_problem(supervisor.get(url), 403)
    exported = supervisor.get(f"/api/v1/customer-exports?account_number={body['account_number']}")
    assert body["account_number"] not in exported.get_data(as_text=True)


def test_the_blob_door_honours_the_grant(api, demo):
    archivist, crew = api("archivist"), api("crew1")
    body = open_file(archivist, department_id=demo.departments["ST-SUB"].id)
    scan = b"%PDF-1.4 application form"
    sha = hashlib.sha256(scan).hexdigest()
    put = archivist.put(f"/api/v1/blobs/{sha}", data=io.BytesIO(scan),
                        headers={"Content-Type": "application/pdf"})  # fmt: skip
    assert put.status_code == 200, put.get_json()
    form = {"sha256": sha, "stage": "application", "kind": "form", "title": "application"}
    document = archivist.post(f"/api/v1/customers/{body['id']}/documents", json=form).get_json()
    assert crew.get(f"/api/v1/blobs/{sha}/content").status_code in (403, 404)
    assert_problem(crew.get(f"/api/v1/documents/{document['id']}/content"), 403)
    _grant(api, "crew1", body["id"])
    assert crew.get(f"/api/v1/documents/{document['id']}/content").data == scan
    assert crew.get(f"/api/v1/blobs/{sha}/content").data == scan


def test_every_read_is_logged_with_who_what_and_why(api, demo):
    archivist, crew = api("archivist"), api("crew1")
    body = open_file(archivist, department_id=demo.departments["ST-SUB"].id)
    archivist.get(f"/api/v1/customers/{body['id']}")
    _grant(api, "crew1", body["id"])
    crew.get(f"/api/v1/customers/{body['id']}")
    crew.get(f"/api/v1/customers/{body['id']}/history")
    log = api("auditor").get(f"/api/v1/archive/reads?customer_id={body['id']}").get_json()
    assert [(r["reader"].split(":")[-1], r["what"]) for r in log] == [
        ("crew1", "history"), ("crew1", "view"), ("archivist", "view")]  # fmt: skip
    assert log[0]["why"] == "access request: complaint follow-up" and log[0]["grant_id"]
    assert log[2]["why"] == "in scope" and log[2]["grant_id"] is None
    by_grant = api("auditor").get("/api/v1/archive/reads?by_grant=true").get_json()
    assert {r["what"] for r in by_grant} == {"view", "history"}
    assert_problem(crew.get("/api/v1/archive/reads"), 403)


LOANS = "/api/v1/archive/loans"


def test_lending_a_paper_file_sign_out_due_return(api, demo, session):
    archivist, crew, supervisor = api("archivist"), api("crew1"), api("supervisor")
    body = open_file(archivist, department_id=demo.departments["ST-URB"].id)
    _work_at(session, demo, body["premises"][0]["id"])
    due = (date.today() + timedelta(days=7)).isoformat()
    loan = crew.post(LOANS, json={"customer_id": body["id"], "purpose": "site survey",
                                  "due_on": due}).get_json()  # fmt: skip
    assert loan["status"] == "requested"
    assert_problem(crew.post(f"{LOANS}/{loan['id']}/approve", json={}), 403)
    assert_problem(archivist.post(f"{LOANS}/{loan['id']}/hand-out", json={}), 409)
    assert supervisor.post(f"{LOANS}/{loan['id']}/approve", json={}).status_code == 200
    again = crew.post(LOANS, json={"customer_id": body["id"], "purpose": "again", "due_on": due})
    assert assert_problem(again, 409)["loan_id"] == loan["id"]  # a file already out
    out = archivist.post(f"{LOANS}/{loan['id']}/hand-out", json={}).get_json()
    assert out["status"] == "out" and out["overdue"] is False
    back = archivist.post(f"{LOANS}/{loan['id']}/return", json={}).get_json()
    assert back["status"] == "returned" and back["received_by"].endswith("archivist")
    assert_problem(archivist.post(f"{LOANS}/{loan['id']}/return", json={}), 409)
    assert [x["id"] for x in crew.get(LOANS).get_json()] == [loan["id"]]
    assert_problem(crew.post(LOANS, json={"customer_id": body["id"], "purpose": "x",
                                          "due_on": date.today().isoformat()}), 422)  # fmt: skip


def test_no_one_signs_out_their_own_loan(api, demo):
    body = open_file(api("archivist"), department_id=demo.departments["ST-URB"].id)
    supervisor = api("supervisor")
    due = (date.today() + timedelta(days=3)).isoformat()
    loan = supervisor.post(LOANS, json={"customer_id": body["id"], "purpose": "audit",
                                        "due_on": due}).get_json()  # fmt: skip
    assert_problem(supervisor.post(f"{LOANS}/{loan['id']}/approve", json={}), 403)
    assert api("admin").post(f"{LOANS}/{loan['id']}/approve", json={}).status_code == 200


def test_an_overdue_loan_is_chased(api, session, demo):
    archivist = api("archivist")
    body = open_file(archivist, department_id=demo.departments["ST-URB"].id)
    _work_at(session, demo, body["premises"][0]["id"])
    due = (date.today() + timedelta(days=3)).isoformat()
    loan = api("crew1").post(LOANS, json={"customer_id": body["id"], "purpose": "survey",
                                          "due_on": due}).get_json()  # fmt: skip
    api("supervisor").post(f"{LOANS}/{loan['id']}/approve", json={})
    archivist.post(f"{LOANS}/{loan['id']}/hand-out", json={})
    row = session.get(PaperLoan, uuid.UUID(loan["id"]))
    end_of_due_day = datetime.combine(row.due_on + timedelta(days=1), datetime.min.time(), UTC)
    scope = Customer.id == row.customer_id
    for now, expected in [(end_of_due_day - timedelta(hours=48, seconds=1), "normal"),
                          (end_of_due_day - timedelta(hours=48), "warning"),
                          (end_of_due_day, "overdue")]:  # fmt: skip
        items = deadlines.open_items(session, now=now, scope=scope, kinds={"loan_return"})
        assert [i.status for i in items] == [expected]
        # The loans list says overdue exactly when the worklist does (one rule, UTC days).
        assert _loan_view(row, now)["overdue"] is (expected == "overdue")
    raised = chasing.tick(session=session, now=end_of_due_day)
    assert {(r.kind, r.stage) for r in raised if r.subject_id == loan["id"]} == {
        ("loan_return", 1), ("loan_return", 2)}  # fmt: skip
    archivist.post(f"{LOANS}/{loan['id']}/return", json={})
    assert deadlines.open_items(session, scope=scope, kinds={"loan_return"}) == []
