"""The quick query and region codes: the desk's one-call answer, on both backends."""

from __future__ import annotations

from typing import Any

from tests.conftest import assert_problem
from tests.network.helpers import make_area, make_customer, make_line
from tests.network.test_outages import outage_body


def _region(api: Any, code: str = "hz-xihu") -> dict[str, Any]:
    response = api("admin").post(
        "/api/v1/region-codes",
        json={
            "code": code,
            "name": "西湖区",
            "service_contact": "西湖供电所",
            "service_phone": "0571-8888",
        },
    )
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_quick_query_answers_outage_until_when_and_contact(api: Any) -> None:
    _region(api)
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    area = make_area(dispatcher, line["id"])
    customer = make_customer(archivist, area, name="张三丰茶庄")
    outage = dispatcher.post(
        "/api/v1/outages", json=outage_body(line, reason="线路检修")
    ).get_json()
    desk = api("callcenter")
    for q in (customer["account_number"], "张三丰", "13800001234"):
        response = desk.get("/api/v1/quick-query", query_string={"q": q})
        assert response.status_code == 200, response.get_json()
        matches = response.get_json()["matches"]
        assert matches and matches[0]["customer"]["id"] == customer["id"], (q, matches)
    best = desk.get("/api/v1/quick-query", query_string={"q": customer["account_number"]})
    answer = best.get_json()["matches"][0]
    assert answer["out_now"] is True
    assert answer["outage"]["number"] == outage["number"]
    assert answer["outage"]["reason"] == "线路检修"
    assert answer["outage"]["planned_end_at"] == outage["planned_end_at"]
    assert answer["places"][0]["line"]["code"] == line["code"]
    assert answer["places"][0]["area"]["code"] == area["code"]
    # The premise's region "HZ" resolves partially to the one code starting with it.
    assert answer["service_contact"]["service_phone"] == "0571-8888"
    dispatcher.post(f"/api/v1/outages/{outage['id']}/transition", json={"to": "restored"})
    again = desk.get("/api/v1/quick-query", query_string={"q": customer["account_number"]})
    assert again.get_json()["matches"][0]["out_now"] is False
    assert_problem(api("crew1").get("/api/v1/quick-query", query_string={"q": "x"}), 403)
    assert_problem(desk.get("/api/v1/quick-query"), 422)


def test_region_codes_case_insensitive_and_partial(api: Any) -> None:
    created = _region(api)
    assert created["code"] == "HZ-XIHU"
    desk = api("callcenter")
    for code in ("hz-xihu", "Hz-XiHu", "HZ-XIHU-07", "hz-xi"):
        response = desk.get(f"/api/v1/region-codes/{code}")
        assert response.status_code == 200, (code, response.get_json())
        assert response.get_json()["service_contact"] == "西湖供电所"
    _region(api, "HZ-XIAOSHAN")
    # "hz-xi" now names two regions: ambiguous, not guessed.
    assert_problem(desk.get("/api/v1/region-codes/hz-xi"), 404)
    assert_problem(desk.get("/api/v1/region-codes/sh"), 404)
    admin = api("admin")
    dup = admin.post(
        "/api/v1/region-codes",
        json={"code": "HZ-xihu", "name": "x", "service_contact": "x", "service_phone": "1"},
    )
    assert_problem(dup, 409)
    changed = admin.patch("/api/v1/region-codes/hz-xihu", json={"service_phone": "0571-9999"})
    assert changed.status_code == 200 and changed.get_json()["service_phone"] == "0571-9999"
    assert_problem(desk.patch("/api/v1/region-codes/hz-xihu", json={"name": "y"}), 403)
    assert admin.delete("/api/v1/region-codes/HZ-XIHU").status_code == 204
    assert_problem(admin.delete("/api/v1/region-codes/HZ-XIHU"), 404)


def test_quick_query_does_not_reveal_phones_to_roles_that_see_them_masked(api: Any) -> None:
    """A dispatcher sees phones masked: digits typed into the quick query must not confirm one
    (a prefix answered yes or no would spell the number out), while the account still hits."""
    dispatcher = api("dispatcher")
    line = make_line(dispatcher)
    area = make_area(dispatcher, line["id"])
    customer = make_customer(api("archivist"), area, name="张三丰茶庄")
    for q in ("13800001234", "1380000", "138"):
        response = dispatcher.get("/api/v1/quick-query", query_string={"q": q})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["matches"] == [], q
    by_account = dispatcher.get(
        "/api/v1/quick-query", query_string={"q": customer["account_number"]}
    )
    assert [m["customer"]["id"] for m in by_account.get_json()["matches"]] == [customer["id"]]
    by_name = dispatcher.get("/api/v1/quick-query", query_string={"q": "张三丰 1380000"})
    assert [m["customer"]["id"] for m in by_name.get_json()["matches"]] == [customer["id"]]
    desk = api("callcenter")  # sees phones in full: may find the caller by number
    by_phone = desk.get("/api/v1/quick-query", query_string={"q": "13800001234"})
    assert [m["customer"]["id"] for m in by_phone.get_json()["matches"]] == [customer["id"]]
