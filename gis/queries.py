"""Dialect-neutral spatial expressions: callers name the dialect, never an ST_ function."""

from __future__ import annotations

import math
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


def index_window(
    dialect: str, table: str, column: Any, lon: float, lat: float, metres: float
) -> Any:
    """A WHERE clause the spatial index answers: rows roughly within `metres` of (lon, lat).

    A coarse, index-only prefilter (a box in degrees, generous at high latitudes); pair it
    with `distance_m` for the exact figure.
    """
    degrees = metres / 111_320.0 / max(math.cos(math.radians(min(abs(lat), 85.0))), 0.05)
    return select_dialect(dialect).index_window(table, column, lon, lat, degrees)


def eta_minutes(distance_m: float, speed_kmh: float = 30.0, detour: float = 1.3) -> float:
    """Estimate driving minutes from a straight-line distance (urban speed, road detour)."""
    if distance_m < 0 or speed_kmh <= 0 or detour < 1:
        raise ValueError("distance must not be negative, speed positive and detour >= 1")
    return distance_m * detour / (speed_kmh * 1000 / 60)


def intersects_bbox(
    dialect: str, column: Any, west: float, south: float, east: float, north: float
) -> ColumnElement[bool]:
    """A WHERE clause: the geometry's bounding box meets a WGS-84 box (GeoJSON layer filters)."""
    return select_dialect(dialect).intersects_bbox(  # type: ignore[no-any-return]
        column, west, south, east, north
    )
