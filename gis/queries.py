"""Dialect-neutral spatial expressions: callers name the dialect, never an ST_ function."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


# WGS-84 metres per degree, as lower bounds: along a meridian the fewest are at the equator
# (a(1 - e^2) pi / 180); along a parallel at latitude phi there are at least a cos(phi) pi / 180.
_MERIDIAN_M_PER_DEG_MIN = 6_378_137.0 * (1 - 0.00669437999014) * math.pi / 180  # 110,574.3
_PARALLEL_M_PER_DEG_EQUATOR = 6_378_137.0 * math.pi / 180  # 111,319.5
# Slack for the distance functions' own rounding: a bound 0.1 % low only costs a few rows.
_SLACK = 0.999


@dataclass(frozen=True, slots=True)
class DegreeWindow:
    """A box in degrees around (lon, lat) that holds every point within `metres` (geodesic).

    Any path of length <= r from the centre stays within r / 110,574 m of its latitude, where
    a degree of longitude is at least `parallel_m` metres long, so the box is rigorous (the
    R*Tree and GiST boxes are rounded outwards, never in). `metres_per_degree` is a lower
    bound of geodesic metres per planar degree inside the box: a point at planar degree
    distance D from the centre, if nearer than `metres`, is at least D * metres_per_degree
    away. `wraps` says the box crosses the antimeridian or a pole, where planar degrees stop
    measuring nearness: callers measure every row there instead.
    """

    lon: float
    lat: float
    half_lon: float
    half_lat: float
    metres_per_degree: float
    wraps: bool

    @classmethod
    def around(cls, lon: float, lat: float, metres: float) -> DegreeWindow:
        """The window holding every point within `metres` of (lon, lat)."""
        half_lat = metres / _MERIDIAN_M_PER_DEG_MIN / _SLACK
        edge = abs(lat) + half_lat
        cos_edge = math.cos(math.radians(min(edge, 90.0)))
        parallel_m = _PARALLEL_M_PER_DEG_EQUATOR * cos_edge
        wraps = edge >= 89.0 or parallel_m <= 0.0
        half_lon = 360.0 if wraps else metres / parallel_m / _SLACK
        wraps = wraps or abs(lon) + half_lon > 180.0
        per_degree = min(_MERIDIAN_M_PER_DEG_MIN, max(parallel_m, 0.0)) * _SLACK
        return cls(lon, lat, half_lon, half_lat, per_degree, wraps)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """West, south, east, north."""
        return (
            self.lon - self.half_lon,
            self.lat - self.half_lat,
            self.lon + self.half_lon,
            self.lat + self.half_lat,
        )


def index_window(
    dialect: str, table: str, column: Any, west: Any, south: Any, east: Any, north: Any
) -> Any:
    """A WHERE clause the spatial index answers: rows whose box meets a WGS-84 box.

    The edges are numbers or bind parameters (see `DegreeWindow.bounds`). A coarse,
    index-only prefilter; pair it with `distance_m` for the exact figure.
    """
    return select_dialect(dialect).index_window(table, column, west, south, east, north)


def planar_degrees(dialect: str, column: Any, point: Any) -> ColumnElement[float]:
    """Planar distance in degrees (what `nearest_first` orders by): see `DegreeWindow`."""
    return select_dialect(dialect).planar_degrees(column, point)  # type: ignore[no-any-return]


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
