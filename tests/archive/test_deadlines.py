"""Deadlines (normal / warning / overdue), automatic chasing, and gates — at their boundaries.

The seeds' numbers (seed 003): documents digitised within 48 h of the business step, handed
over to the archive within one week, a changed customer's file updated within 5 days, a new
customer's file complete within one week.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.archive import chasing, deadlines, gates, meters
from backend.archive.deadline_models import Reminder
from backend.archive.records import Customer, Meter
from backend.auth.actor import Actor, actor_for_user
from backend.auth.models import User
from backend.dispatch.models import Alert
from backend.tracking.models import AlertOutbox
from tests.archive.helpers import meter_body, open_file
from tests.conftest import assert_problem

SYSTEM = Actor(kind="system", id=0, label="test", department_id=0, department_path="/")

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _attach(api, customer_id, stage, shelf=None):
    body = {"sha256": _sha(f"{customer_id}{stage}{shelf}"), "stage": stage, "kind": "scan",
            "title": f"{stage} form", "paper_shelf": shelf,
            "paper_box": "1" if shelf else None}  # fmt: skip
    response = api.post(f"/api/v1/customers/{customer_id}/documents", json=body)
    assert response.status_code == 201, response.get_json()


def _actor(session, username="archivist"):
    return actor_for_user(session, session.scalars(select(User).filter_by(username=username)).one())


def _items(session, customer_id, kind, now):
    scope = Customer.id == uuid.UUID(str(customer_id))
    return deadlines.open_items(session, now=now, scope=scope, kinds={kind})


def _step(session, customer_id, stage, at=T0):
    return gates.record_step(session=session, actor=_actor(session),
                             customer_id=uuid.UUID(str(customer_id)), stage=stage,
                             completed_at=at)  # fmt: skip


# (rule, its kind, the step that starts it, hours after the step -> expected status)
RULES = [
    ("documents_digitised_within_48_hours", "digitise", "application",
     [(0, "normal"), (23.99, "normal"), (24, "warning"), (47.99, "warning"), (48, "overdue")]),
    ("paper_handed_over_within_1_week", "handover", "application",
     [(119.99, "normal"), (120, "warning"), (167.99, "warning"), (168, "overdue")]),
    ("changed_customer_file_updated_within_5_days", "changed_file", "change",
     [(71.99, "normal"), (72, "warning"), (119.99, "warning"), (120, "overdue")]),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "kind", "stage", "table"), RULES, ids=[r[0] for r in RULES])
def test_rule(api, session, demo, rule, kind, stage, table):
    archivist = api("archivist")
    body = open_file(archivist)
    if stage == "change":
        _attach(archivist, body["id"], "application")
    _step(session, body["id"], stage)
    for hours, expected in table:
        items = _items(session, body["id"], kind, T0 + hours * H)
        assert [i.status for i in items] == [expected], (rule, hours)
        assert items[0].due_at - items[0].started_at == timedelta(hours=table[-1][0])


def test_rule_new_customer_file_complete_within_1_week(api, session, demo):
    body = open_file(api("archivist"))
    opened = datetime.fromisoformat(body["updated_at"])
    for hours, expected in [(119.99, "normal"), (120, "warning"), (168, "overdue")]:
        items = _items(session, body["id"], "new_file", opened + hours * H)
        assert [i.status for i in items] == [expected], hours
    assert "application, contract" in items[0].detail


def test_deadlines_are_met_by_the_events_that_end_them(api, session, demo):
    archivist = api("archivist")
    body = open_file(archivist)
    _step(session, body["id"], "application")
    late = T0 + 200 * H
    assert {i.kind for i in _items(session, body["id"], "digitise", late)} == {"digitise"}
    _attach(archivist, body["id"], "application")  # scanned, no paper location yet
    assert _items(session, body["id"], "digitise", late) == []
    assert len(_items(session, body["id"], "handover", late)) == 1
    _attach(archivist, body["id"], "application", shelf="A-01")  # the paper is filed
    assert _items(session, body["id"], "handover", late) == []
    _attach(archivist, body["id"], "contract")
    assert _items(session, body["id"], "new_file", late) == []
    _step(session, body["id"], "change", at=datetime.now(UTC) - H)
    assert len(_items(session, body["id"], "changed_file", late)) == 1
    # A meter reading appends a meter version: a reading, not the file's update.
    premise = body["premises"][0]["id"]
    meter = archivist.post(f"/api/v1/premises/{premise}/meters", json=meter_body()).get_json()
    meters.note_reading(
        session, session.get(Meter, uuid.UUID(meter["id"])), value=12.5,
        read_at=datetime.now(UTC) - timedelta(minutes=1), actor=SYSTEM, source="sync",
    )  # fmt: skip
    session.flush()
    assert len(_items(session, body["id"], "changed_file", late)) == 1
    changed = archivist.patch(f"/api/v1/customers/{body['id']}",
                              json={"name": "西湖茶叶（新）", "reason": "renamed"})  # fmt: skip
    assert changed.status_code == 200
    assert _items(session, body["id"], "changed_file", late) == []


def test_meters_and_contracts_fall_due_on_their_dates(api, session, demo):
    archivist = api("archivist")
    body = open_file(archivist, contract_expires_on="2026-05-01")
    premise = body["premises"][0]["id"]
    meter = archivist.post(f"/api/v1/premises/{premise}/meters", json={
        "number": "MDUE000001", "meter_type": "ct_operated", "reading_method": "remote",
        "installed_on": "2025-06-15"})  # fmt: skip  # ct_operated: calibration every 12 months
    assert meter.status_code == 201
    due = datetime(2026, 6, 15, tzinfo=UTC)
    calibration = [(due - timedelta(days=30, seconds=1), []),
                   (due - timedelta(days=30), ["warning"]), (due, ["overdue"])]  # fmt: skip
    for now, expected in calibration:
        assert [i.status for i in _items(session, body["id"], "meter_calibration", now)] == expected
    expiry = datetime(2026, 5, 1, tzinfo=UTC)
    for now, expected in [(expiry - timedelta(days=61), []), (expiry - H, ["warning"]),
                          (expiry, ["overdue"])]:  # fmt: skip
        assert [i.status for i in _items(session, body["id"], "contract_expiry", now)] == expected


def test_gate_refuses_a_step_while_its_documents_are_missing(api, demo):
    archivist = api("archivist")
    body = open_file(archivist)
    url = f"/api/v1/customers/{body['id']}/steps"
    problem = assert_problem(archivist.post(url, json={"stage": "acceptance"}), 409, "gate-closed")
    assert problem["missing"] == ["application", "installation"]
    _attach(archivist, body["id"], "application")
    problem = assert_problem(archivist.post(url, json={"stage": "acceptance"}), 409, "gate-closed")
    assert problem["missing"] == ["installation"]
    _attach(archivist, body["id"], "installation")
    assert archivist.post(url, json={"stage": "acceptance"}).status_code == 201
    assert [s["stage"] for s in archivist.get(url).get_json()] == ["acceptance"]
    assert_problem(api("crew1").post(url, json={"stage": "survey"}), 403)
    # A step done "later" would start its deadlines then: refused like any future time.
    later = {"stage": "application", "completed_at": "2199-01-01T00:00:00Z"}
    assert_problem(archivist.post(url, json=later), 422)


def test_closing_an_account_needs_its_closure_documents(api, demo):
    archivist = api("archivist")
    body = open_file(archivist)
    close = f"/api/v1/customers/{body['id']}/close"
    problem = assert_problem(archivist.post(close, json={"reason": "moved"}), 409, "gate-closed")
    assert problem["missing"] == ["closure"]
    assert archivist.get(f"/api/v1/customers/{body['id']}").get_json()["status"] == "active"
    _attach(archivist, body["id"], "closure")
    assert archivist.post(close, json={"reason": "moved"}).status_code == 200


def test_chasing_reminds_repeats_escalates_exactly_once_and_settles(api, session, demo):
    archivist = api("archivist")
    body = open_file(archivist)
    step = _step(session, body["id"], "application")

    def reminders():
        rows = session.scalars(select(Reminder).where(Reminder.subject_id == str(step.id)))
        return sorted((r.kind, r.stage, r.round) for r in rows if r.kind == "digitise")

    chasing.tick(session=session, now=T0 + 23 * H)  # normal: nobody is chased yet
    assert reminders() == []
    chasing.tick(session=session, now=T0 + 24 * H)  # warning: the owner is reminded
    assert reminders() == [("digitise", 1, 0)]
    chasing.tick(session=session, now=T0 + 30 * H)  # a restart or a second worker: no repeat
    assert reminders() == [("digitise", 1, 0)]
    chasing.tick(session=session, now=T0 + 48 * H)  # overdue: repeated, and escalated
    assert reminders() == [("digitise", 1, 0), ("digitise", 1, 1), ("digitise", 2, 0)]
    escalation = session.scalars(
        select(Alert).join(Reminder, Reminder.alert_id == Alert.id)
        .where(Reminder.subject_id == str(step.id), Reminder.stage == 2)
    ).one()  # fmt: skip
    assert escalation.tier == "archive" and escalation.order_id is None
    assert escalation.phones, "the supervisors' phones on file are named"
    assert session.scalar(select(AlertOutbox).where(AlertOutbox.alert_id == escalation.id))
    listed = archivist.get("/api/v1/alerts?open=true").get_json()
    assert escalation.id in {a["id"] for a in listed}
    _attach(archivist, body["id"], "application")  # done: its reminders settle
    chasing.tick(session=session, now=T0 + 49 * H)
    session.refresh(escalation)
    assert escalation.settled_at is not None


def test_deadline_rules_are_configurable(api, session, demo):
    archivist, admin = api("archivist"), api("admin")
    body = open_file(archivist)
    _step(session, body["id"], "application")
    rule = {"limit_hours": 24, "warning_hours": 6, "repeat_hours": 12}
    assert_problem(archivist.put("/api/v1/archive/deadline-rules/digitise", json=rule), 403)
    assert admin.put("/api/v1/archive/deadline-rules/digitise", json=rule).status_code == 200
    assert_problem(admin.put("/api/v1/archive/deadline-rules/nonsense", json=rule), 404)
    assert [i.status for i in _items(session, body["id"], "digitise", T0 + 24 * H)] == ["overdue"]
    rules = {r["kind"]: r for r in admin.get("/api/v1/archive/deadline-rules").get_json()}
    assert rules["digitise"]["limit_hours"] == 24 and rules["handover"]["limit_hours"] == 168


def test_worklist_per_department_in_scope(api, session, demo):
    archivist = api("archivist")
    urban = open_file(archivist, department_id=demo.departments["ST-URB"].id)
    open_file(archivist, department_id=demo.departments["ST-SUB"].id)
    url = f"/api/v1/archive/deadlines?kind=new_file&department_id={demo.departments['ST-URB'].id}"
    listed = archivist.get(url).get_json()
    assert {i["customer_id"] for i in listed} == {urban["id"]}
    assert listed[0]["status"] == "normal"
    assert_problem(api("crew1").get("/api/v1/archive/deadlines"), 403)
    assert_problem(archivist.get("/api/v1/archive/deadlines?status=late"), 422)
