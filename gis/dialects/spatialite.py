"""SpatiaLite spelling of Fieldline's spatial operations (metres on the WGS-84 ellipsoid)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select
from sqlalchemy import column as column_
from sqlalchemy import table as table_

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


def planar_degrees(column: Any, point: Any) -> ColumnElement[float]:
    """The planar distance in degrees (no ellipsoid)."""
    return func.ST_Distance(column, point)


def index_window(table: str, column: Any, west: Any, south: Any, east: Any, north: Any) -> Any:
    """A WHERE clause answered by the table's R*Tree: rows whose box meets a WGS-84 box.

    Reads SpatiaLite's R*Tree (`idx_<table>_<column>`) directly, as SQLite's rtree module
    answers range constraints on its columns; the `SpatialIndex` virtual table in front of
    it costs a callback per row.
    """
    rtree = table_(f"idx_{table}_{column.key}", column_("pkid"), column_("xmin"),
                   column_("xmax"), column_("ymin"), column_("ymax"))  # fmt: skip
    c = rtree.c
    window = select(c.pkid).where(c.xmin <= east, c.xmax >= west, c.ymin <= north, c.ymax >= south)
    return literal_column(f"{table}.ROWID").in_(window)


def intersects_bbox(
    column: Any, west: float, south: float, east: float, north: float
) -> ColumnElement[bool]:
    """Whether the column's minimum bounding rectangle meets a WGS-84 box."""
    return func.MbrIntersects(column, func.BuildMbr(west, south, east, north, SRID)) == 1
