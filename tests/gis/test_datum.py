"""Tests for gis.datum: GCJ-02 and BD-09 conversions through coordTransform."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis.datum import Datum, from_wgs84, in_china, to_wgs84
from gis.geometry import haversine_m

TIANANMEN_WGS84 = (116.391, 39.907)
# coordTransform's GCJ-02 reference for the point above; AMap shows Tiananmen there.
TIANANMEN_GCJ02 = (116.39724, 39.90840)
# The library's coordTransform box edges blur the offset within about 1 km; stay clear.
china_lons = st.floats(74.0, 134.9)
china_lats = st.floats(4.0, 53.4)
offset_datums = st.sampled_from([Datum.GCJ02, Datum.BD09])


def test_datum_values_are_wire_names() -> None:
    assert [d.value for d in Datum] == ["wgs84", "gcj02", "bd09"]
    assert Datum("gcj02") is Datum.GCJ02


def test_tiananmen_reference_point() -> None:
    lon, lat = from_wgs84(*TIANANMEN_WGS84, Datum.GCJ02)
    assert (lon, lat) == pytest.approx(TIANANMEN_GCJ02, abs=5e-5)
    # The offset there is several hundred metres: converting matters.
    assert 500 < haversine_m(*TIANANMEN_WGS84, lon, lat) < 700
    back = to_wgs84(lon, lat, Datum.GCJ02)
    assert haversine_m(*TIANANMEN_WGS84, *back) < 0.01


def test_bd09_is_further_offset_from_gcj02() -> None:
    gcj = from_wgs84(*TIANANMEN_WGS84, Datum.GCJ02)
    bd = from_wgs84(*TIANANMEN_WGS84, Datum.BD09)
    assert bd == pytest.approx((116.40361, 39.91474), abs=5e-5)
    assert haversine_m(*gcj, *bd) > 500


@pytest.mark.parametrize(
    "point", [(-0.1276, 51.5072), (-74.006, 40.7128), (151.2093, -33.8688), (135.5, 34.7)]
)
def test_outside_china_gcj02_is_wgs84(point: tuple[float, float]) -> None:
    assert not in_china(*point)
    assert from_wgs84(*point, Datum.GCJ02) == point
    assert to_wgs84(*point, Datum.GCJ02) == point


def test_outside_china_bd09_keeps_the_baidu_offset_and_round_trips() -> None:
    # coordTransform applies Baidu's own offset everywhere (only the GCJ-02 step is
    # China-only); Fieldline follows the library rather than guessing Baidu's overseas rule.
    london = (-0.1276, 51.5072)
    bd = from_wgs84(*london, Datum.BD09)
    assert bd != london
    assert haversine_m(*london, *to_wgs84(*bd, Datum.BD09)) < 0.01


def test_wgs84_is_identity() -> None:
    assert to_wgs84(*TIANANMEN_WGS84, Datum.WGS84) == TIANANMEN_WGS84
    assert from_wgs84(*TIANANMEN_WGS84, Datum.WGS84) == TIANANMEN_WGS84


def test_in_china() -> None:
    assert in_china(*TIANANMEN_WGS84)
    assert not in_china(-0.1276, 51.5072)


@pytest.mark.parametrize("func", [to_wgs84, from_wgs84])
@pytest.mark.parametrize(("lon", "lat"), [(math.nan, 30.0), (116.0, 91.0), (-181.0, 0.0)])
def test_invalid_input_raises(func: object, lon: float, lat: float) -> None:
    with pytest.raises(ValueError, match="WGS-84"):
        func(lon, lat, Datum.GCJ02)  # type: ignore[operator]


@given(china_lons, china_lats, offset_datums)
def test_round_trip_wgs84_datum_wgs84_under_2_m(lon: float, lat: float, datum: Datum) -> None:
    back = to_wgs84(*from_wgs84(lon, lat, datum), datum)
    assert haversine_m(lon, lat, *back) < 2.0


@given(china_lons, china_lats, offset_datums)
def test_round_trip_datum_wgs84_datum_under_2_m(lon: float, lat: float, datum: Datum) -> None:
    again = from_wgs84(*to_wgs84(lon, lat, datum), datum)
    assert haversine_m(lon, lat, *again) < 2.0
