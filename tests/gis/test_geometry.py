"""Tests for gis.geometry: distances, bearings, WKT, projections and GeoJSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis.geometry import (
    EARTH_RADIUS_M,
    WGS84_SRID,
    bearing_deg,
    circle_polygon,
    feature_collection,
    haversine_m,
    line_feature,
    local_projection,
    make_line,
    make_point,
    point_ewkt,
    point_feature,
    point_wkt,
    rfc3339,
)

lons = st.floats(-180, 180, allow_nan=False)
lats = st.floats(-90, 90, allow_nan=False)

TIANANMEN = (116.391, 39.907)
LUJIAZUI = (121.4998, 31.2397)


def test_srid_is_wgs84() -> None:
    assert WGS84_SRID == 4326


@pytest.mark.parametrize(
    ("a", "b", "expected_m", "tolerance_m"),
    [
        ((0.0, 0.0), (0.0, 1.0), 2 * math.pi * EARTH_RADIUS_M / 360, 0.01),
        ((0.0, 0.0), (1.0, 0.0), 2 * math.pi * EARTH_RADIUS_M / 360, 0.01),
        (TIANANMEN, TIANANMEN, 0.0, 0.0),
        # Beijing-Shanghai great circle is about 1,067 km.
        (TIANANMEN, LUJIAZUI, 1_067_000, 5_000),
        ((0.0, 0.0), (180.0, 0.0), math.pi * EARTH_RADIUS_M, 0.01),
    ],
)
def test_haversine_known_distances(
    a: tuple[float, float], b: tuple[float, float], expected_m: float, tolerance_m: float
) -> None:
    assert haversine_m(*a, *b) == pytest.approx(expected_m, abs=tolerance_m)


@given(lons, lats, lons, lats)
def test_haversine_is_symmetric_and_bounded(
    lon1: float, lat1: float, lon2: float, lat2: float
) -> None:
    d = haversine_m(lon1, lat1, lon2, lat2)
    assert 0 <= d <= math.pi * EARTH_RADIUS_M + 1e-6
    assert d == pytest.approx(haversine_m(lon2, lat2, lon1, lat1), abs=1e-6)


@pytest.mark.parametrize(
    ("to", "expected"),
    [((0.0, 1.0), 0.0), ((1.0, 0.0), 90.0), ((0.0, -1.0), 180.0), ((-1.0, 0.0), 270.0)],
)
def test_bearing_cardinal_directions(to: tuple[float, float], expected: float) -> None:
    assert bearing_deg(0.0, 0.0, *to) == pytest.approx(expected)


@given(lons, lats, lons, lats)
def test_bearing_in_range(lon1: float, lat1: float, lon2: float, lat2: float) -> None:
    assert 0 <= bearing_deg(lon1, lat1, lon2, lat2) < 360


def test_point_wkt_keeps_lon_lat_order_and_digits() -> None:
    assert point_wkt(116.391, 39.907) == "POINT(116.391 39.907)"
    assert point_wkt(1, 2) == "POINT(1.0 2.0)"
    assert point_ewkt(116.391, 39.907) == "SRID=4326;POINT(116.391 39.907)"


@pytest.mark.parametrize(
    ("lon", "lat"), [(181.0, 0.0), (0.0, 90.5), (math.nan, 0.0), (0.0, math.inf)]
)
def test_invalid_positions_raise(lon: float, lat: float) -> None:
    with pytest.raises(ValueError, match="WGS-84"):
        point_wkt(lon, lat)
    with pytest.raises(ValueError, match="WGS-84"):
        make_point(lon, lat)
    with pytest.raises(ValueError, match="WGS-84"):
        point_feature(lon, lat)


def test_shapely_helpers() -> None:
    point = make_point(*TIANANMEN)
    assert (point.x, point.y) == TIANANMEN
    line = make_line([TIANANMEN, LUJIAZUI])
    assert list(line.coords) == [TIANANMEN, LUJIAZUI]
    with pytest.raises(ValueError, match="two positions"):
        make_line([TIANANMEN])


def test_local_projection_measures_metres() -> None:
    proj = local_projection(*TIANANMEN)
    assert proj.forward(*TIANANMEN) == pytest.approx((0.0, 0.0), abs=1e-6)
    lon, lat = proj.inverse(0.0, 1000.0)
    assert lon == pytest.approx(TIANANMEN[0], abs=1e-9)
    assert haversine_m(*TIANANMEN, lon, lat) == pytest.approx(1000.0, rel=5e-3)
    assert local_projection(*TIANANMEN) is proj  # cached


def test_circle_polygon_vertices_lie_on_the_radius() -> None:
    circle = circle_polygon(*TIANANMEN, 100.0)
    for lon, lat in circle.exterior.coords:
        assert haversine_m(*TIANANMEN, lon, lat) == pytest.approx(100.0, rel=5e-3)
    assert circle.contains(make_point(*TIANANMEN))
    with pytest.raises(ValueError, match="radius"):
        circle_polygon(*TIANANMEN, 0.0)


def test_point_feature_is_rfc7946() -> None:
    feature = point_feature(116.3912345678, 39.907, {"vehicle": "v1"}, feature_id="v1")
    assert feature == {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [116.391235, 39.907]},
        "properties": {"vehicle": "v1"},
        "id": "v1",
    }
    assert "id" not in point_feature(1.0, 2.0)
    assert point_feature(1.0, 2.0)["properties"] == {}


def test_line_feature_with_times_and_collection() -> None:
    t0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    track = line_feature(
        [TIANANMEN, (116.392, 39.908)],
        {"vehicle": "v1"},
        times=[t0, t0.astimezone(timezone(timedelta(hours=8))) + timedelta(seconds=5)],
    )
    assert track["geometry"] == {
        "type": "LineString",
        "coordinates": [[116.391, 39.907], [116.392, 39.908]],
    }
    assert track["properties"] == {
        "vehicle": "v1",
        "times": ["2024-05-01T08:00:00Z", "2024-05-01T08:00:05Z"],
    }
    collection = feature_collection([track, point_feature(*TIANANMEN)])
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 2
    json.dumps(collection, allow_nan=False)


@pytest.mark.parametrize(
    ("coords", "times", "message"),
    [
        ([TIANANMEN], None, "two positions"),
        ([TIANANMEN, (200.0, 0.0)], None, "WGS-84"),
        ([TIANANMEN, LUJIAZUI], [datetime(2024, 1, 1, tzinfo=UTC)], "one entry per"),
        ([TIANANMEN, LUJIAZUI], [datetime(2024, 1, 1)] * 2, "naive"),
    ],
)
def test_line_feature_rejects(
    coords: list[tuple[float, float]], times: list[datetime] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        line_feature(coords, times=times)


def test_rfc3339_is_utc_z() -> None:
    ts = datetime(2024, 5, 1, 16, 0, 0, 123000, tzinfo=timezone(timedelta(hours=8)))
    assert rfc3339(ts) == "2024-05-01T08:00:00.123000Z"
