"""PostGIS spelling of Fieldline's spatial operations (metres through geography)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import ColumnElement, Float, cast, func

SRID = 4326


def make_point(lon: Any, lat: Any) -> ColumnElement[Any]:
    """Build a WGS-84 point from longitude and latitude expressions."""
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID)


def distance_m(a: Any, b: Any) -> ColumnElement[float]:
    """Geodesic distance in metres between two WGS-84 geometries."""
    return func.ST_Distance(cast(a, Geography(srid=SRID)), cast(b, Geography(srid=SRID)))


def within_distance(a: Any, b: Any, metres: float) -> ColumnElement[bool]:
    """Whether two WGS-84 geometries lie within `metres` of each other (index-assisted)."""
    return func.ST_DWithin(cast(a, Geography(srid=SRID)), cast(b, Geography(srid=SRID)), metres)


def knn_order(column: Any, point: Any) -> ColumnElement[Any]:
    """An ORDER BY term that walks a GiST index nearest-first (the `<->` operator)."""
    order: ColumnElement[Any] = column.op("<->")(point)
    return order


def planar_degrees(column: Any, point: Any) -> ColumnElement[float]:
    """The planar distance in degrees that `knn_order` walks the index by."""
    distance: ColumnElement[float] = column.op("<->", return_type=Float())(point)
    return distance


def index_window(table: str, column: Any, west: Any, south: Any, east: Any, north: Any) -> Any:
    """A WHERE clause the GiST index answers: the column's box overlaps a WGS-84 box."""
    del table  # PostGIS finds the index from the column itself
    return column.op("&&")(func.ST_MakeEnvelope(west, south, east, north, SRID))


def intersects_bbox(
    column: Any, west: float, south: float, east: float, north: float
) -> ColumnElement[bool]:
    """Whether the column's box overlaps a WGS-84 box (the GiST index answers `&&`)."""
    envelope = func.ST_MakeEnvelope(west, south, east, north, SRID)
    overlaps: ColumnElement[bool] = column.op("&&")(envelope)
    return overlaps
