"""Dialect-neutral spatial expressions: callers name the dialect, never an ST_ function."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from gis.dialects import select_dialect


def make_point(dialect: str, lon: Any, lat: Any) -> ColumnElement[Any]:
    """A WGS-84 point expression."""
    return select_dialect(dialect).make_point(lon, lat)  # type: ignore[no-any-return]


def distance_m(dialect: str, a: Any, b: Any) -> ColumnElement[float]:
    """Geodesic distance in metres."""
    return select_dialect(dialect).distance_m(a, b)  # type: ignore[no-any-return]


def within_distance(dialect: str, a: Any, b: Any, metres: float) -> ColumnElement[bool]:
    """A WHERE clause: `a` within `metres` of `b`."""
    return select_dialect(dialect).within_distance(a, b, metres)  # type: ignore[no-any-return]


def nearest_first(dialect: str, column: Any, point: Any) -> ColumnElement[Any]:
    """An ORDER BY term ranking rows by distance from `point`."""
    return select_dialect(dialect).knn_order(column, point)  # type: ignore[no-any-return]
