"""Classification reviews: the due list per department, the outcome as an archive version."""

from __future__ import annotations

from tests.conftest import assert_problem
from tests.risk.helpers import station_customer


def test_a_review_is_a_new_archive_version_and_leaves_the_due_list(api, demo):
    customer = station_customer(api, demo)
    keyaccount = api("keyaccount")
    due = keyaccount.get("/api/v1/risk/classification-reviews").get_json()
    row = next(r for r in due if r["customer_id"] == customer["id"])
    assert row["status"] == "due" and row["classification"] == "ordinary"
    assert row["department"] == "Urban Station (low voltage)"
    response = keyaccount.post(
        f"/api/v1/customers/{customer['id']}/classification",
        json={"classification": "important", "tier": "key", "account_owner": "keyaccount",
              "reason": "hospital supply", "base_version": 1},
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["version_no"] == 2
    history = api("archivist").get(f"/api/v1/customers/{customer['id']}/history").get_json()
    last = [v for v in history if v["entity"] == "customer"][-1]
    assert last["data"]["classification"] == "important" and last["reason"] == "hospital supply"
    assert last["changed_by"].endswith(":keyaccount")
    due = keyaccount.get("/api/v1/risk/classification-reviews").get_json()
    assert customer["id"] not in {r["customer_id"] for r in due}
    # Due again in about two months: within 62 days it shows as due.
    later = keyaccount.get("/api/v1/risk/classification-reviews?within_days=62").get_json()
    assert customer["id"] in {r["customer_id"] for r in later}


def test_key_customers_need_an_owner_who_manages_accounts(api, demo):
    customer = station_customer(api, demo)
    url = f"/api/v1/customers/{customer['id']}/classification"
    keyaccount = api("keyaccount")
    body = {"classification": "ordinary", "tier": "vip", "reason": "r"}
    assert_problem(keyaccount.post(url, json=body), 422)
    assert_problem(keyaccount.post(url, json={**body, "account_owner": "crew1"}), 422)
    stale = keyaccount.post(url, json={**body, "account_owner": "keyaccount", "base_version": 7})
    assert_problem(stale, 409)


def test_reviews_per_department_and_permissions(api, demo):
    urban = station_customer(api, demo)
    suburban = station_customer(api, demo, station="ST-SUB")
    department = demo.departments["ST-SUB"].id
    rows = (
        api("supervisor")
        .get(f"/api/v1/risk/classification-reviews?department_id={department}")
        .get_json()
    )
    ids = {r["customer_id"] for r in rows}
    assert suburban["id"] in ids and urban["id"] not in ids
    assert_problem(api("crew1").get("/api/v1/risk/classification-reviews"), 403)
    body = {"classification": "special", "reason": "r"}
    assert_problem(
        api("collector").post(f"/api/v1/customers/{urban['id']}/classification", json=body), 403
    )


def test_credit_readers_see_the_credit_summary_in_the_file(api, demo, session):
    from tests.risk.helpers import install_models

    install_models(session)
    customer = station_customer(api, demo)
    api("collector").post(f"/api/v1/customers/{customer['id']}/credit/rate")
    seen = api("supervisor").get(f"/api/v1/customers/{customer['id']}").get_json()
    assert seen["credit"]["grade"] == "A" and seen["classification"] == "ordinary"
    hidden = api("archivist").get(f"/api/v1/customers/{customer['id']}").get_json()
    assert "credit" not in hidden


def test_key_tier_is_suggested_from_200000_a_year(api, demo):
    from tests.risk.test_billing_api import upload
    from tests.risk.test_classes_api import _months_back

    big, small = station_customer(api, demo), station_customer(api, demo)
    rows = [["户号", "账期", "应收电费", "实收电费"],
            [big["account_number"], _months_back(1), "200000.00", "200000.00"],
            [small["account_number"], _months_back(1), "199999.99", "199999.99"]]  # fmt: skip
    assert upload(api("collector"), rows).status_code == 201
    due = {r["customer_id"]: r for r in api("keyaccount").get(
        "/api/v1/risk/classification-reviews").get_json()}  # fmt: skip
    assert (due[big["id"]]["suggested_tier"], due[big["id"]]["yearly_revenue"]) == ("key", 200000.0)
    assert due[small["id"]]["suggested_tier"] == "ordinary"
