"""Geometry input: parsing, validity, self-intersection and reprojection (no database)."""

from __future__ import annotations

import pytest

from gis.shapes import GeometryError, parse_geometry


def test_geojson_and_wkt_parse_alike() -> None:
    a = parse_geometry(
        {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}, kinds=("LineString",)
    )
    b = parse_geometry("SRID=4326;LINESTRING(1 2, 3 4)", kinds=("LineString",))
    assert a.equals(b)


def test_reprojects_from_declared_srid() -> None:
    # EPSG:3857 metres of (120, 30) degrees.
    point = parse_geometry("POINT(13358338.9 3503549.8)", kinds=("Point",), srid=3857)
    assert point.x == pytest.approx(120.0, abs=1e-5)
    assert point.y == pytest.approx(30.0, abs=1e-5)


@pytest.mark.parametrize(
    ("value", "kinds", "message"),
    [
        ("LINESTRING(0 0, 1 1, 1 0, 0 1)", ("LineString",), "intersects itself"),
        ("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", ("Polygon",), "invalid"),
        ("POINT(1 2)", ("LineString",), "expected"),
        ("POINT(500 2)", ("Point",), "outside WGS-84"),
        ("LINESTRING EMPTY", ("LineString",), "empty"),
        ("garbage", ("Point",), "not a geometry"),
        ({"type": "Point"}, ("Point",), "not a geometry"),
        (7, ("Point",), "GeoJSON or WKT"),
    ],
)
def test_refused(value: object, kinds: tuple[str, ...], message: str) -> None:
    with pytest.raises(GeometryError, match=message):
        parse_geometry(value, kinds=kinds)


def test_unknown_srid() -> None:
    with pytest.raises(GeometryError, match="unknown SRID"):
        parse_geometry("POINT(1 2)", kinds=("Point",), srid=998998)
