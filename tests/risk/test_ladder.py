"""The collection ladder: order, the CA policy, the visit on the handheld, the evidence gate."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from backend.archive import service as archive
from backend.archive.schemas import CustomerCreateSchema
from backend.db import utcnow
from backend.demo import seed_org
from backend.risk import ladder
from backend.risk.models import BillingRecord
from backend.risk.payment_service import Window
from tests.archive.helpers import customer_body
from tests.conftest import assert_problem
from tests.dispatch.factories import actor
from tests.inspection.helpers import open_case
from tests.risk.helpers import station_customer
from tests.risk.test_billing_api import upload
from tests.risk.test_classes_api import _arrears_growing, _months_back


def _owing(api, demo) -> dict:
    """A customer who left last month unpaid (behaviour B, class CA4, no limit)."""
    customer = station_customer(api, demo)
    rows = [
        ["户号", "账期", "应收电费", "实收电费"],
        [customer["account_number"], _months_back(1), "300", "0"],
    ]
    assert upload(api("collector"), rows).status_code == 201
    return customer


def _open(api, customer) -> dict:
    response = api("collector").post(f"/api/v1/customers/{customer['id']}/collection-cases")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _step(api, case, who="collector", **body):
    return api(who).post(f"/api/v1/risk/collection-cases/{case['id']}/steps", json=body)


def test_steps_go_in_order_and_out_of_order_is_refused(api, demo):
    case = _open(api, _owing(api, demo))
    assert (case["stage"], case["next_participant"], case["amount"]) == (
        "deferral",
        "collections",
        300.0,
    )
    problem = assert_problem(
        _step(api, case, step="disconnection_notice", outcome="served"), 409, "invalid-transition"
    )
    assert problem["current_state"] == "deferral"
    after = api("collector").get(f"/api/v1/risk/collection-cases/{case['id']}").get_json()
    assert after["steps"] == [] and after["stage"] == "deferral"
    moved = _step(api, case, step="deferral", outcome="refused", notes="asked for more time")
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["stage"] == "visit" and body["next_participant"] == "crew"
    assert body["stage_due_on"] == (date.today() + timedelta(days=7)).isoformat()
    assert body["steps"][0]["completed_by"].endswith(":collector")
    assert_problem(_step(api, case, step="deferral", outcome="granted"), 409, "invalid-transition")


def test_a_deferral_asks_the_risk_class_policy(api, demo):
    until = (date.today() + timedelta(days=10)).isoformat()
    prepay = _open(api, _arrears_growing(api, demo))  # CA5: prepay only
    problem = assert_problem(
        _step(api, prepay, step="deferral", outcome="granted", deferred_until=until),
        409,
        "risk-policy",
    )
    assert problem["risk_class"] == "CA5"
    owing = _owing(api, demo)  # CA4 without a limit: 300 owed is beyond it
    assert_problem(
        _step(api, _open(api, owing), step="deferral", outcome="granted", deferred_until=until),
        409,
        "risk-policy",
    )
    api("collector").put(
        f"/api/v1/customers/{owing['id']}/credit-limit",
        json={"amount": "300.00", "reason": "agreed"},
    )
    case = api("collector").get("/api/v1/risk/collection-cases?stage=deferral").get_json()
    mine = next(c for c in case if c["customer_id"] == owing["id"])
    granted = _step(api, mine, step="deferral", outcome="granted", deferred_until=until)
    assert granted.status_code == 200, granted.get_json()
    assert granted.get_json()["steps"][0]["details"]["deferred_until"] == until


def test_the_disconnection_notice_passes_the_evidence_gate(api, demo):
    customer = _owing(api, demo)
    case = _open(api, customer)
    _step(api, case, step="deferral", outcome="refused")
    _step(api, case, step="visit", outcome="refused")
    assert_problem(
        _step(api, case, "supervisor", step="disconnection_notice", outcome="served"), 422
    )
    inspection = open_case(
        api("inspector"),
        {"customer_id": customer["id"], "premise_id": customer["premises"][0]["id"]},
    )
    refused = _step(
        api,
        case,
        "supervisor",
        step="disconnection_notice",
        outcome="served",
        inspection_case_id=inspection["id"],
    )
    problem = assert_problem(refused, 409, "evidence-missing")
    assert any("photos" in m for m in problem["missing"])
    override = api("supervisor").post(
        f"/api/v1/cases/{inspection['id']}/evidence-override",
        json={"reason": "meter room locked; notice served by post"},
    )
    assert override.status_code == 200, override.get_json()
    served = _step(
        api,
        case,
        "supervisor",
        step="disconnection_notice",
        outcome="served",
        inspection_case_id=inspection["id"],
    )
    assert served.status_code == 200, served.get_json()
    assert served.get_json()["stage"] == "prepayment_meter"
    done = _step(api, case, step="prepayment_meter", outcome="installed").get_json()
    assert (done["stage"], done["outcome"]) == ("closed", "installed")


def test_paid_closes_the_case_and_the_report_counts_steps(api, demo):
    first, second = _open(api, _owing(api, demo)), _open(api, _owing(api, demo))
    paid = _step(api, first, step="deferral", outcome="paid").get_json()
    assert (paid["stage"], paid["outcome"]) == ("closed", "paid")
    report = api("supervisor").get("/api/v1/risk/report").get_json()
    rows = {r["step"]: r for r in report["ladder"]}
    assert rows["deferral"]["open"] >= 1 and rows["deferral"]["overdue"] == 0
    assert second["stage"] == "deferral"
    assert_problem(api("crew1").get(f"/api/v1/risk/collection-cases/{second['id']}"), 403)
    assert_problem(
        api("keyaccount").post(f"/api/v1/customers/{second['customer_id']}/collection-cases"), 403
    )


def _owing_customer_committed(committed_db) -> dict[str, str]:
    """A file in ST-URB owing last month, with an open case at the visit step (real commits)."""
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        data = CustomerCreateSchema().load(
            customer_body(department_id=demo.departments["ST-URB"].id)
        )
        customer = archive.open_customer(
            session=session, actor=actor(session, "archivist"), data=data
        )
        month = date.today().replace(day=1) - timedelta(days=1)
        session.add(
            BillingRecord(
                customer_id=customer.id,
                department_id=customer.department_id,
                period=month.replace(day=1),
                billed=Decimal(500),
                paid=Decimal(0),
                recorded_by="test",
                recorded_at=utcnow(),
            )
        )
        session.flush()
        collector = actor(session, "collector")
        window = Window(as_of=month.replace(day=1))
        case = ladder.open_case(
            session=session, actor=collector, customer_id=customer.id, window=window
        )
        ladder.complete_step(
            session=session,
            actor=collector,
            case_id=case.id,
            data={"step": "deferral", "outcome": "refused"},
            window=window,
            rules=None,
        )  # type: ignore[arg-type]
        visit = ladder.send_visit(
            session=session, actor=collector, case_id=case.id, crew_id=demo.crews["Urban Crew 1"].id
        )
        return {"case": str(case.id), "visit": str(visit.id)}


def test_the_visit_is_a_field_task_on_the_crews_handheld(committed_db, make_client):
    device, other = make_client("H-1001"), make_client("H-2001")
    ids = _owing_customer_committed(committed_db)
    device.pull()
    visit = device.get("collection_visit", ids["visit"])
    assert visit is not None and visit["status"] == "open" and visit["amount_due"] == 500.0
    assert "grade" not in visit and "risk_class" not in visit  # what is owed, not the credit
    other.pull()
    assert other.get("collection_visit", ids["visit"]) is None
    # Nor does the station's desk: what is owed is the crew's task and the collectors' (REST).
    for who in ("dispatcher", "inspector"):
        desk = make_client(who, from_start=True)
        desk.pull()
        assert desk.get("collection_visit", ids["visit"]) is None
    device.update(
        "collection_visit",
        ids["visit"],
        {"status": "done", "outcome": "promised", "notes": "will pay on Friday"},
    )
    verdicts = device.push()
    assert [v["verdict"] for v in verdicts] == ["applied"], verdicts
    with committed_db.unit_of_work(actor="test") as session:
        case = ladder.get_case(
            session=session, actor=actor(session, "collector"), case_id=uuid.UUID(ids["case"])
        )
        steps = ladder.steps_of(session, case.id)
        assert case.stage == "disconnection_notice"
        assert [(s.step, s.outcome) for s in steps] == [
            ("deferral", "refused"),
            ("visit", "promised"),
        ]
        assert steps[-1].completed_by.endswith("H-1001") or "crew" in steps[-1].completed_by


def test_cases_filter_by_customer_within_the_callers_scope(api, demo):
    first, second = _owing(api, demo), _owing(api, demo)
    mine, theirs = _open(api, first), _open(api, second)
    collector = api("collector")
    url = "/api/v1/risk/collection-cases"
    listed = collector.get(f"{url}?customer_id={first['id']}").get_json()
    assert [c["id"] for c in listed] == [mine["id"]]
    both = {c["id"] for c in collector.get(url).get_json()}
    assert {mine["id"], theirs["id"]} <= both
    assert collector.get(f"{url}?customer_id={first['id']}&stage=visit").get_json() == []
    assert collector.get(f"{url}?customer_id={uuid.uuid4()}").get_json() == []
    assert_problem(collector.get(f"{url}?customer_id=not-a-uuid"), 422)
    # A case outside the collector's scope stays out of it, named or not.
    outside = station_customer(api, demo, station="CALL")
    billing = [["户号", "账期", "应收电费", "实收电费"],
               [outside["account_number"], _months_back(1), "300", "0"]]  # fmt: skip
    assert upload(api("admin"), billing).status_code == 201
    case = api("admin").post(f"/api/v1/customers/{outside['id']}/collection-cases")
    assert case.status_code == 201, case.get_json()
    by_admin = api("admin").get(f"{url}?customer_id={outside['id']}").get_json()
    assert [c["id"] for c in by_admin] == [case.get_json()["id"]]
    assert collector.get(f"{url}?customer_id={outside['id']}").get_json() == []
