"""Geometry in and out of network records: input checked by `gis.shapes`, output as GeoJSON."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from shapely.geometry.base import BaseGeometry

from backend.errors import field_error
from gis.shapes import GeometryError, parse_geometry, to_geojson


def element(
    value: Any, *, field: str, kinds: tuple[str, ...], srid: int = 4326
) -> tuple[WKTElement, BaseGeometry]:
    """Parse GeoJSON / WKT in `srid` into a WGS-84 column value, or raise a 422 on `field`."""
    try:
        shape = parse_geometry(value, kinds=kinds, srid=srid)
    except GeometryError as exc:
        raise field_error(field, str(exc)) from exc
    return WKTElement(shape.wkt, srid=4326), shape


def geojson(value: Any) -> dict[str, Any] | None:
    """Return a geometry column's value as a GeoJSON geometry (None stays None)."""
    if value is None:
        return None
    if isinstance(value, WKBElement | WKTElement):
        return to_geojson(to_shape(value))
    if isinstance(value, BaseGeometry):
        return to_geojson(value)
    return dict(value)
