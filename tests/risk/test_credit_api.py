"""Credit rating over the API: models as versioned data, assessments, history, permissions."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.db import utcnow
from backend.risk import credit_service
from backend.risk.default_models import DEFAULT_MODELS
from backend.risk.models import CreditModel, CreditRating
from tests.conftest import assert_problem
from tests.risk.helpers import install_models, station_customer


@pytest.fixture
def models(session):
    install_models(session)


def test_assessment_rates_with_breakdown_and_model_version(api, demo, models):
    customer = station_customer(api, demo)  # 630 kW non-residential: large
    collector = api("collector")
    response = collector.post(
        f"/api/v1/customers/{customer['id']}/credit/assessments",
        json={"indicators": {"theft_violation": "violation"}, "notes": "found on site"},
    )
    assert response.status_code == 201, response.get_json()
    rating = response.get_json()
    # violation 100 x 0.6 (theft_violation) x 0.25 (safety) = 15 points off: 185 is grade D.
    assert rating["size"] == "large" and rating["model_version"] == 1
    assert rating["score"] == 185 and rating["grade"] == "D"
    lines = {line["code"]: line for line in rating["breakdown"]}
    assert lines["theft_violation"]["points"] == 15 and lines["safety"]["deduction"] == 60
    assert lines["debt_ratio"]["criterion"] == "below_60"  # unassessed: the default
    current = collector.get(f"/api/v1/customers/{customer['id']}/credit").get_json()
    assert current["id"] == rating["id"]


def test_an_unrated_customer_reads_as_unrated_not_missing(api, demo, models):
    customer = station_customer(api, demo)
    url = f"/api/v1/customers/{customer['id']}/credit"
    unrated = api("auditor").get(url)
    assert unrated.status_code == 200, unrated.get_json()
    body = unrated.get_json()
    assert (body["rated"], body["customer_id"], body["grade"], body["score"]) == (
        False,
        customer["id"],
        None,
        None,
    )
    assert body["breakdown"] is None and body["rated_at"] is None
    rating = api("collector").post(f"{url}/rate").get_json()
    rated = api("auditor").get(url).get_json()
    assert rated == {**rating, "rated": True}
    assert_problem(api("auditor").get(f"/api/v1/customers/{uuid.uuid4()}/credit"), 404)


def test_a_new_model_version_is_used_and_recorded_old_ratings_keep_theirs(api, demo, models):
    customer = station_customer(api, demo)
    collector = api("collector")
    first = collector.post(f"/api/v1/customers/{customer['id']}/credit/rate").get_json()
    model = copy.deepcopy(DEFAULT_MODELS["large"])
    model[1]["children"][1]["default"] = "violation"  # everyone counts as a violator now
    put = api("supervisor").put(
        "/api/v1/risk/credit-models/large", json={"indicators": model, "reason": "stricter"}
    )
    assert put.status_code == 201, put.get_json()
    assert put.get_json()["version"] == 2
    second = collector.post(f"/api/v1/customers/{customer['id']}/credit/rate").get_json()
    assert (first["model_version"], first["grade"]) == (1, "A")
    assert (second["model_version"], second["grade"]) == (2, "D")
    history = collector.get(f"/api/v1/customers/{customer['id']}/credit/history").get_json()
    assert [h["grade"] for h in history] == ["D", "A"]
    old = collector.get("/api/v1/risk/credit-models/large?version=1").get_json()
    assert old["indicators"] == DEFAULT_MODELS["large"]


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("weights_must_sum_to_1", lambda m: m[0].update(weight=0.5)),
        ("top_indicators_complete", lambda m: m.pop()),
        (
            "deduction_within_0_200",
            lambda m: m[1]["children"][0]["criteria"][1].update(deduction=250),
        ),
    ],
)
def test_bad_models_are_refused_and_nothing_is_written(api, session, models, rule, change):
    model = copy.deepcopy(DEFAULT_MODELS["large"])
    change(model)
    before = session.scalar(select(func.count()).select_from(CreditModel))
    response = api("admin").put(
        "/api/v1/risk/credit-models/large", json={"indicators": model, "reason": rule}
    )
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"], rule
    assert session.scalar(select(func.count()).select_from(CreditModel)) == before


def test_an_assessment_naming_unknown_indicators_is_refused(api, demo, session, models):
    customer = station_customer(api, demo)
    response = api("collector").post(
        f"/api/v1/customers/{customer['id']}/credit/assessments",
        json={"indicators": {"made_up": "x", "theft_violation": "murder"}},
    )
    problem = assert_problem(response, 422)
    assert {e["field"] for e in problem["errors"]} == {
        "indicators.made_up", "indicators.theft_violation",
    }  # fmt: skip
    assert session.scalar(select(func.count()).select_from(CreditRating)) == 0


def test_small_customers_are_rated_by_the_small_model(api, demo, models):
    customer = station_customer(
        api, demo, customer_type="residential", voltage_level="220V", contract_capacity_kw=8.0
    )
    rating = api("keyaccount").post(f"/api/v1/customers/{customer['id']}/credit/rate").get_json()
    assert rating["size"] == "small" and rating["grade"] == "A"


@pytest.mark.parametrize("who", ["crew1", "callcenter", "dispatcher", "inspector", "archivist"])
def test_credit_data_is_hidden_from_roles_the_policy_does_not_name(api, demo, models, who):
    customer = station_customer(api, demo)
    api("collector").post(f"/api/v1/customers/{customer['id']}/credit/rate")
    assert_problem(api(who).get(f"/api/v1/customers/{customer['id']}/credit"), 403)
    assert_problem(api(who).get("/api/v1/risk/credit-models"), 403)


def test_auditor_reads_but_may_not_rate(api, demo, models):
    customer = station_customer(api, demo)
    api("collector").post(f"/api/v1/customers/{customer['id']}/credit/rate")
    assert api("auditor").get(f"/api/v1/customers/{customer['id']}/credit").status_code == 200
    assert_problem(api("auditor").post(f"/api/v1/customers/{customer['id']}/credit/rate"), 403)
    assert_problem(api("collector").put("/api/v1/risk/credit-models/small", json={}), 403)


def test_customers_outside_the_collectors_scope_are_refused(api, demo, models):
    customer = station_customer(api, demo, station="CALL")  # the call center's file
    response = api("collector").post(f"/api/v1/customers/{customer['id']}/credit/rate")
    assert_problem(response, 403, "out-of-scope")


def test_scheduled_rerating_rates_the_due_and_only_them(api, demo, session, models):
    fresh = station_customer(api, demo)
    rated = station_customer(api, demo)
    api("collector").post(f"/api/v1/customers/{rated['id']}/credit/rate")
    now = utcnow()
    due = credit_service.due_for_rating(session, now=now, every=timedelta(days=30))
    assert fresh["id"] in {str(c) for c in due} and rated["id"] not in {str(c) for c in due}
    count = credit_service.rerate_due(session, now=now, every=timedelta(days=30))
    assert count == len(due)
    assert credit_service.due_for_rating(session, now=now, every=timedelta(days=30)) == []
    # A month later everyone is due again; the history keeps both ratings.
    later = now + timedelta(days=31)
    assert credit_service.rerate_due(session, now=later, every=timedelta(days=30)) >= 2
    triggers = session.scalars(
        select(CreditRating.trigger).where(CreditRating.customer_id == uuid.UUID(rated["id"]))
    )
    assert sorted(triggers) == ["on_demand", "schedule"]
