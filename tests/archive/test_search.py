"""Fuzzy search of customers: one API over pg_trgm and FTS5, Chinese included, ranked."""

from __future__ import annotations

import pytest

from backend.archive.search import search_terms
from tests.archive.helpers import open_file


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("张伟", "张伟"),
        ("杭州西湖", "杭州 州西 西湖"),
        ("王", "王"),
        ("HZ-0001 Zhang Wei", "hz 0001 zhang wei"),
        ("龙井路1号", "龙井 井路 1 号"),
        ("ＡＢＣ１２３", "abc123"),
        ("", ""),
    ],
)
def test_search_terms_split_cjk_into_bigrams(text, terms):
    assert search_terms(text) == terms


@pytest.fixture
def files(api, demo):
    archivist = api("archivist")
    dept = demo.departments["ST-URB"].id
    made = {
        "tea": open_file(archivist, name="杭州西湖茶叶有限公司", department_id=dept),
        "zhang": open_file(
            archivist,
            name="张伟",
            customer_type="residential",
            voltage_level="220V",
            contract_capacity_kw=8,
            contacts=[{"name": "张伟", "phone": "13912345678"}],
            premises=[{"address": "杭州市拱墅区湖墅南路88号", "line_name": "湖墅线"}],
            department_id=dept,
        ),
        "latin": open_file(
            archivist,
            name="Hangzhou Steel Works",
            contract_capacity_kw=5000,
            premises=[{"address": "1 Industrial Road", "line_name": "Steel Line 2"}],
            department_id=dept,
        ),
    }
    return archivist, made


def _ids(response):
    assert response.status_code == 200, response.get_json()
    return [c["id"] for c in response.get_json()]


def test_fuzzy_name_finds_chinese_substrings(files):
    archivist, made = files
    assert _ids(archivist.get("/api/v1/customers?name=西湖茶叶"))[0] == made["tea"]["id"]
    assert made["zhang"]["id"] in _ids(archivist.get("/api/v1/customers?name=张伟"))
    assert made["latin"]["id"] in _ids(archivist.get("/api/v1/customers?q=hangzhou steel"))


def test_account_number_match_ranks_first(files):
    archivist, made = files
    account = made["zhang"]["account_number"]
    assert _ids(archivist.get(f"/api/v1/customers?q={account}"))[0] == made["zhang"]["id"]
    exact = archivist.get(f"/api/v1/customers?account_number={account}")
    assert _ids(exact) == [made["zhang"]["id"]]


def test_address_phone_and_line(files):
    archivist, made = files
    assert made["zhang"]["id"] in _ids(archivist.get("/api/v1/customers?address=湖墅南路"))
    assert made["zhang"]["id"] in _ids(archivist.get("/api/v1/customers?phone=13912345678"))
    on_line = _ids(archivist.get("/api/v1/customers?line=湖墅线"))
    assert on_line == [made["zhang"]["id"]]


def test_capacity_range(files):
    archivist, made = files
    found = _ids(archivist.get("/api/v1/customers?capacity_min=1000&capacity_max=6000"))
    assert made["latin"]["id"] in found
    assert made["zhang"]["id"] not in found and made["tea"]["id"] not in found


def test_changed_name_is_found_by_its_new_name_only(files):
    archivist, made = files
    url = f"/api/v1/customers/{made['zhang']['id']}"
    archivist.patch(url, json={"name": "李娜", "reason": "name corrected"})
    assert made["zhang"]["id"] in _ids(archivist.get("/api/v1/customers?name=李娜"))
    assert made["zhang"]["id"] not in _ids(archivist.get("/api/v1/customers?name=张伟"))


def test_search_stays_in_scope(files, api):
    _, made = files
    assert _ids(api("crew3").get("/api/v1/customers?name=张伟")) == []


def test_free_text_finds_no_phone_for_roles_that_see_phones_masked(files, api):
    """`q` matches phone digits; a dispatcher (phones masked) must not probe them with it."""
    archivist, made = files
    zhang = made["zhang"]["id"]
    for query in ("13912345678", "139123", "张伟 13912345678"):
        assert zhang in _ids(archivist.get(f"/api/v1/customers?q={query}")), query
    dispatcher = api("dispatcher")
    for query in ("13912345678", "139123", "5678"):
        assert zhang not in _ids(dispatcher.get(f"/api/v1/customers?q={query}")), query
    # The rest of the query still searches (names, addresses; a full account number).
    assert zhang in _ids(dispatcher.get("/api/v1/customers?q=张伟 13912345678"))
    account = made["zhang"]["account_number"]
    assert _ids(dispatcher.get(f"/api/v1/customers?q={account}")) == [zhang]
