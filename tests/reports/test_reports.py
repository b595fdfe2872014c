"""Reports on a known set of orders give exact figures; CSV and XLSX parse back to them."""

from __future__ import annotations

import csv
import io
from datetime import date

import openpyxl
import pytest

from backend.demo.orders import seed_day
from backend.reports.service import percentile
from tests.conftest import assert_problem
from tests.dispatch.factories import T0, minutes, new_order, walk

WINDOW = {"from": T0.isoformat(), "to": (T0 + minutes(180)).isoformat()}


@pytest.fixture
def three_orders(session, demo):
    one = new_order(session, demo)
    walk(session, demo, one, {"D": 3.5, "E": 4, "F": 7, "G": 8, "H": 40, "finished": 50})
    two = new_order(session, demo, at=T0 + minutes(60))
    walk(session, demo, two, {"D": 62, "E": 62.5, "F": 63, "G": 64, "H": 80, "finished": 90})
    three = new_order(session, demo, at=T0 + minutes(120))
    walk(session, demo, three, {"D": 125})
    session.commit()
    return one, two, three


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([240, 60, 150], 50) == 150
    assert percentile([240, 60, 150], 90) == 240
    assert percentile([5], 90) == 5


def test_sla_compliance_exact(api, three_orders, demo):
    body = api("supervisor").get("/api/v1/reports/sla-compliance", query_string=WINDOW).get_json()
    assert body["summary"][0]["orders"] == 3
    got = {
        r["segment"]: (r["count"], r["breached"], r["breach_rate"], r["p50_s"], r["p90_s"])
        for r in body["segments"]
    }
    assert got == {
        "AB": (3, 0, 0.0, 60, 60),
        "BC": (3, 0, 0.0, 0, 0),
        "CD": (3, 2, 0.6667, 150, 240),
        "DE": (2, 0, 0.0, 30, 30),
        "EF": (2, 1, 0.5, 30, 180),
        "FG": (2, 0, 0.0, 60, 60),
        "GH": (2, 1, 0.5, 960, 1920),
        "AH": (2, 0, 0.0, 1200, 2400),
    }
    departments = {
        (r["department"], r["segment"]): (r["count"], r["breached"]) for r in body["departments"]
    }
    assert departments[("95598 Call Center", "AB")] == (3, 0)
    assert departments[("North Repair Center", "CD")] == (3, 2)
    assert departments[("network", "DE")] == (2, 0)
    assert departments[("Urban Station (low voltage)", "GH")] == (2, 1)
    assert {r["day"] for r in body["days"]} == {"2026-03-02"}
    # Seed 001's automatic assessment: two of three completed, both within the A->H limit, the
    # third open at D long past it (the report is read months later).
    [assessed] = body["performance"]
    assert (assessed["order_type"], assessed["orders"], assessed["completed"]) == ("electric", 3, 2)
    assert (assessed["completion_rate"], assessed["on_time"], assessed["on_time_rate"]) == (
        0.6667,
        2,
        1.0,
    )
    assert assessed["overdue_open"] == 1


def test_vehicle_busy_exact(api, three_orders, demo):
    body = api("dispatcher").get("/api/v1/reports/vehicle-busy", query_string=WINDOW).get_json()
    urban = [
        (r["hour"], r["busy_minutes"], r["utilisation"])
        for r in body["hours"]
        if r["department"] == "Urban Station (low voltage)" and r["specialty"] == "low_voltage"
    ]
    # T0 is 16:00 in Asia/Shanghai; order 3 is still open at the window's end. The station has
    # two low-voltage vehicles, so an hour offers 120 vehicle-minutes.
    assert urban == [(16, 46.5, 0.3875), (17, 28.0, 0.2333), (18, 55.0, 0.4583)]
    water = [r["busy_minutes"] for r in body["hours"] if r["specialty"] == "water"]
    assert water == [0, 0, 0]


def test_call_center_daily_exact(api, three_orders):
    body = api("callcenter").get("/api/v1/reports/call-center-daily?day=2026-03-02").get_json()
    summary = body["summary"][0]
    assert {
        k: summary[k]
        for k in (
            "calls",
            "issued",
            "ab_p50_s",
            "ab_breached",
            "ah_done",
            "ah_p50_s",
            "ah_breached",
            "followed_up",
            "open",
        )
    } == {
        "calls": 3,
        "issued": 3,
        "ab_p50_s": 60,
        "ab_breached": 0,
        "ah_done": 2,
        "ah_p50_s": 1200,
        "ah_breached": 0,
        "followed_up": 0,
        "open": 3,
    }
    assert body["fault_types"] == [{"order_type": "electric", "fault_type": "no power", "calls": 3}]


def test_csv_and_xlsx_parse_back(api, three_orders):
    sup = api("supervisor")
    json_body = sup.get("/api/v1/reports/sla-compliance", query_string=WINDOW).get_json()
    response = sup.get(
        "/api/v1/reports/sla-compliance",
        query_string={**WINDOW, "format": "csv", "table": "segments"},
    )
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["segment"], int(r["count"]), int(r["breached"])) for r in rows] == [
        (r["segment"], r["count"], r["breached"]) for r in json_body["segments"]
    ]
    response = sup.get("/api/v1/reports/sla-compliance", query_string={**WINDOW, "format": "xlsx"})
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["summary", "segments", "departments", "days", "performance"]
    sheet = list(workbook["segments"].values)
    header = list(sheet[0])
    cd = dict(zip(header, next(r for r in sheet[1:] if r[0] == "CD"), strict=True))
    assert (cd["count"], cd["breached"], cd["p50_s"], cd["p90_s"]) == (3, 2, 150, 240)
    assert_problem(
        sup.get(
            "/api/v1/reports/sla-compliance",
            query_string={**WINDOW, "format": "csv", "table": "nope"},
        ),
        422,
    )
    assert_problem(
        sup.get(
            "/api/v1/reports/sla-compliance",
            query_string={"from": WINDOW["to"], "to": WINDOW["from"]},
        ),
        422,
    )
    assert_problem(api("crew1").get("/api/v1/reports/sla-compliance", query_string=WINDOW), 403)


def test_demo_day_is_idempotent_and_reported(api, session, demo):
    day = date(2026, 2, 1)
    assert seed_day(session, day=day, count=8) == 8
    assert seed_day(session, day=day, count=8) == 0
    session.commit()
    body = api("callcenter").get(f"/api/v1/reports/call-center-daily?day={day}").get_json()
    summary = body["summary"][0]
    assert summary["calls"] == 8 and summary["issued"] == 8
    assert summary["closed"] == 5 and summary["open"] == 3


def test_report_window_is_bounded(api):
    from tests.conftest import assert_problem

    query = {"from": "1900-01-01T00:00:00Z", "to": "2900-01-01T00:00:00Z"}
    response = api("dispatcher").get("/api/v1/reports/vehicle-busy", query_string=query)
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["field"] == "to"


def test_vehicle_busy_counts_only_time_that_has_passed(api, session, demo):
    from backend.db import utcnow
    from backend.dispatch import service
    from tests.dispatch.factories import actor

    now = utcnow()
    order = new_order(session, demo, at=now - minutes(150))
    service.dispatch_order(  # and still open: busy until now, not until the window's end
        session=session,
        actor=actor(session, "dispatcher"),
        order_id=order.id,
        crew_id=demo.crews["Urban Crew 1"].id,
        now=now - minutes(140),
    )
    session.commit()
    window = {"from": (now - minutes(120)).isoformat(), "to": (now + minutes(180)).isoformat()}
    body = api("dispatcher").get("/api/v1/reports/vehicle-busy", query_string=window).get_json()
    rows = [r for r in body["hours"] if r["specialty"] == "low_voltage"]
    assert rows and sum(r["available_minutes"] for r in rows) <= 2 * 121  # none to come
    busy = sum(r["busy_minutes"] for r in rows)
    assert 119.9 <= busy <= 121  # two hours of one vehicle, none of the three to come
    assert all(r["utilisation"] <= 1 for r in body["hours"])


def test_vehicle_busy_utilisation_is_divided_before_rounding(api, session, demo):
    order = new_order(session, demo, specialty="water", order_type="water")
    walk(session, demo, order, {"D": 2}, crew="Water Crew 1", crew_user="crew5")
    session.commit()
    # A 20.16 s window the only water vehicle is busy throughout: 0.336 of 0.336 minutes.
    start = T0 + minutes(3)
    window = {"from": start.isoformat(), "to": (start + minutes(0.336)).isoformat()}
    body = api("dispatcher").get("/api/v1/reports/vehicle-busy", query_string=window).get_json()
    water = [r for r in body["hours"] if r["specialty"] == "water"]
    assert [(r["busy_minutes"], r["utilisation"]) for r in water] == [(0.34, 1.0)]


def test_vehicle_busy_counts_orders_taken_days_before_the_window(api, session, demo):
    """A job dispatched two days ago and finished two hours into the window kept its vehicle
    busy for those two hours, however long ago the call came."""
    order = new_order(session, demo, at=T0 - minutes(2 * 24 * 60 + 10))
    walk(session, demo, order, {"D": -2880, "E": -2879, "F": -2878, "G": -2877, "H": -2870,
                                "finished": 120})  # fmt: skip
    session.commit()
    body = api("dispatcher").get("/api/v1/reports/vehicle-busy", query_string=WINDOW).get_json()
    busy = sum(r["busy_minutes"] for r in body["hours"] if r["specialty"] == "low_voltage")
    assert 119.9 <= busy <= 120.1, body["hours"]
