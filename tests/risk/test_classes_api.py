"""Payment behaviour and CA policies over the API: evaluated from the billing table, enforced."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from backend.db import utcnow
from backend.risk.abc import add_months
from backend.risk.models import RiskClassRecord
from tests.conftest import assert_problem
from tests.risk.helpers import station_customer
from tests.risk.test_billing_api import upload


def _months_back(n: int) -> str:
    return f"{add_months(utcnow().date(), -n):%Y-%m}"


def _arrears_growing(api, demo) -> dict:
    """A customer that stopped paying three months ago: behaviour C, risk class CA5."""
    customer = station_customer(api, demo)
    rows = [["户号", "账期", "应收电费", "实收电费", "缴费日期"]]
    for back in (4, 3, 2, 1):
        month = _months_back(back)
        paid = ("100", f"{month}-15") if back == 4 else ("0", "")
        rows.append([customer["account_number"], month, "100", *paid])
    assert upload(api("collector"), rows).status_code == 201
    return customer


def test_an_import_evaluates_behaviour_and_class(api, demo, session):
    customer = _arrears_growing(api, demo)
    view = api("collector").get(f"/api/v1/customers/{customer['id']}/risk-class").get_json()
    assert (view["behaviour"], view["criterion"], view["risk_class"]) == ("C", 6, "CA5")
    assert view["policy"]["prepay_only"] is True and view["facts"]["unpaid"] == "300.00"


def test_a_customer_never_evaluated_reads_as_evaluated_now_not_missing(api, demo, session):
    customer = station_customer(api, demo)
    url = f"/api/v1/customers/{customer['id']}/risk-class"
    response = api("auditor").get(url)
    assert response.status_code == 200, response.get_json()
    view = response.get_json()
    assert (view["customer_id"], view["behaviour"], view["criterion"], view["credit_grade"]) == (
        customer["id"], None, None, None,
    )  # fmt: skip
    assert (view["facts"], view["risk_class"], view["policy"]["monitoring"]) == ({}, "CA3", True)
    stored = select(func.count()).select_from(RiskClassRecord)
    assert (
        session.scalar(stored.where(RiskClassRecord.customer_id == uuid.UUID(customer["id"]))) == 0
    )
    assert_problem(api("auditor").get(f"/api/v1/customers/{uuid.uuid4()}/risk-class"), 404)


def test_raising_a_CA5_customers_credit_limit_is_refused(api, demo):
    customer = _arrears_growing(api, demo)
    url = f"/api/v1/customers/{customer['id']}/credit-limit"
    keyaccount = api("keyaccount")
    problem = assert_problem(
        keyaccount.put(url, json={"amount": "1000.00", "reason": "good customer"}), 409,
        "risk-policy",
    )  # fmt: skip
    assert problem["risk_class"] == "CA5"
    assert keyaccount.get(url).get_json() == []
    check = keyaccount.post(f"/api/v1/customers/{customer['id']}/credit-check",
                            json={"amount": "0.01"}).get_json()  # fmt: skip
    assert check["allowed"] is False and check["risk_class"] == "CA5"


def test_CA4_stays_strictly_within_its_limit(api, demo):
    customer = station_customer(api, demo)
    # One month paid two months late: behaviour B, class CA4; 100 still owed of another month.
    month, later = _months_back(3), _months_back(1)
    rows = [["户号", "账期", "应收电费", "实收电费", "缴费日期"],
            [customer["account_number"], month, "100", "100", f"{later}-20"],
            [customer["account_number"], _months_back(2), "100", "0", ""]]  # fmt: skip
    collector = api("collector")
    assert upload(collector, rows).status_code == 201
    url = f"/api/v1/customers/{customer['id']}"
    assert collector.get(f"{url}/risk-class").get_json()["risk_class"] == "CA4"
    limit = collector.put(f"{url}/credit-limit", json={"amount": "500.00", "reason": "agreed"})
    assert limit.status_code == 201, limit.get_json()
    at_limit = collector.post(f"{url}/credit-check", json={"amount": "400.00"}).get_json()
    over = collector.post(f"{url}/credit-check", json={"amount": "400.01"}).get_json()
    assert (at_limit["allowed"], over["allowed"]) == (True, False)
    assert at_limit["outstanding"] == 100.0


def test_policies_are_data(api):
    body = api("supervisor").get("/api/v1/risk/policies").get_json()
    by_class = {p["risk_class"]: p for p in body["policies"]}
    assert by_class["CA3"]["beyond_limit"] == "monitored"
    assert by_class["CA4"]["beyond_limit"] == "no" and by_class["CA5"]["prepay_only"]
    assert body["behaviour_class"]["C"] == "CA5"
    assert_problem(api("crew1").get("/api/v1/risk/policies"), 403)
