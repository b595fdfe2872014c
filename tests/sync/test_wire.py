"""The one definition of readable wire text: ASCII integers, storable strings, safe times."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.wire import ascii_int, bounded_utc, json_depth, storable, time_in_bounds, unstorable_paths


@pytest.mark.parametrize(
    "text,expected",
    [
        ("0", 0),
        ("42", 42),
        ("007", 7),
        ("9223372036854775807", 2**63 - 1),
        ("9223372036854775808", None),
        ("²", None),
        ("١٢", None),
        ("߁", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1_000", None),
        ("", None),
        (None, None),
    ],
)
def test_ascii_int(text, expected):
    assert ascii_int(text) == expected


def test_ascii_int_maximum():
    assert ascii_int("10", maximum=10) == 10
    assert ascii_int("11", maximum=10) is None


@given(st.text())
def test_ascii_int_only_reads_what_its_ascii_digits_say(text):
    value = ascii_int(text)
    if value is not None:
        assert text.isascii() and text.isdigit() and int(text) == value


@pytest.mark.parametrize("text", ["\x00", "a\ud800", "\udfffb", "x\x00y"])
def test_unstorable_text(text):
    assert not storable(text)


@pytest.mark.parametrize("text", ["", "plain", "电力抢修", "emoji \U0001f527", "tab\there"])
def test_storable_text(text):
    assert storable(text)


def test_unstorable_paths_name_values_keys_and_list_items():
    value = {"ok": "x", "a": {"b": ["fine", "bad\x00"]}, "k\ud800": 1, "n": 5}
    assert sorted(unstorable_paths(value)) == [("a", "b", "1"), ("k\\ud800",)]


def test_json_depth():
    assert json_depth(5) == 0
    assert json_depth([]) == 1
    assert json_depth({"a": [{"b": []}]}) == 4


def test_json_depth_of_a_very_deep_value_does_not_recurse():
    value: list = []
    for _ in range(50_000):
        value = [value]
    assert json_depth(value) == 50_001


@pytest.mark.parametrize(
    "moment,inside",
    [
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))), False),
        (datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))), False),
        (datetime(1899, 12, 31, tzinfo=UTC), False),
        (datetime(1900, 1, 1, tzinfo=UTC), True),
        (datetime(2200, 12, 31, tzinfo=UTC), True),
        (datetime(2201, 1, 1, tzinfo=UTC), False),
        (date(2026, 1, 1), True),
    ],
)
def test_time_bounds(moment, inside):
    assert time_in_bounds(moment) is inside


def test_bounded_utc():
    assert bounded_utc(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) is None
    moment = datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))
    assert bounded_utc(moment) == datetime(2026, 1, 1, tzinfo=UTC)
