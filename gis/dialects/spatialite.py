"""SpatiaLite spelling of Fieldline's spatial operations (metres on the WGS-84 ellipsoid)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func

SRID = 4326


def make_point(lon: Any, lat: Any) -> ColumnElement[Any]:
    """Build a WGS-84 point from longitude and latitude expressions."""
    return func.MakePoint(lon, lat, SRID)


def distance_m(a: Any, b: Any) -> ColumnElement[float]:
    """Geodesic distance in metres between two WGS-84 geometries (use_ellipsoid=1)."""
    return func.ST_Distance(a, b, 1)


def within_distance(a: Any, b: Any, metres: float) -> ColumnElement[bool]:
    """Whether two WGS-84 points lie within `metres` of each other."""
    return func.PtDistWithin(a, b, metres, 1) == 1


def knn_order(column: Any, point: Any) -> ColumnElement[Any]:
    """An ORDER BY term nearest-first (SpatiaLite has no KNN operator; the R*Tree prefilters)."""
    return distance_m(column, point)
