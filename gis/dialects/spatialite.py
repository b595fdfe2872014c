"""SpatiaLite spelling of Fieldline's spatial operations (metres on the WGS-84 ellipsoid)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, select, table

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


def index_window(table: str, column: Any, lon: float, lat: float, degrees: float) -> Any:
    """A WHERE clause answered by the table's R*Tree (SpatiaLite's `SpatialIndex` table)."""
    window: Any = (
        select(literal_column("ROWID"))
        .select_from(table_valued_spatial_index())
        .where(
            literal_column("f_table_name") == table,
            literal_column("f_geometry_column") == column.key,
            literal_column("search_frame") == func.BuildCircleMbr(lon, lat, degrees, SRID),
        )
    )
    return literal_column(f"{table}.ROWID").in_(window)


def table_valued_spatial_index() -> Any:
    """The virtual table through which SpatiaLite queries any R*Tree spatial index."""
    return table("SpatialIndex")


def intersects_bbox(
    column: Any, west: float, south: float, east: float, north: float
) -> ColumnElement[bool]:
    """Whether the column's minimum bounding rectangle meets a WGS-84 box."""
    return func.MbrIntersects(column, func.BuildMbr(west, south, east, north, SRID)) == 1
