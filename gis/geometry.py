"""WGS-84 geometry helpers: distances, bearings, WKT, shapely shapes and GeoJSON."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

import pyproj
import shapely
from shapely.geometry import LineString, Point, Polygon

WGS84_SRID: Final = 4326
# IUGG mean Earth radius: the haversine error against the ellipsoid stays under 0.5 %,
# far below GPS noise at the distances tracking works with.
EARTH_RADIUS_M: Final = 6_371_008.8
# RFC 7946 section 11.2: six decimals are about 10 cm, finer than any GPS fix.
GEOJSON_PRECISION: Final = 6

LonLat = tuple[float, float]
GeoJSON = dict[str, Any]


def is_valid_lon_lat(lon: float, lat: float) -> bool:
    """Tell whether `lon`, `lat` are finite WGS-84 degrees within range."""
    return (
        math.isfinite(lon)
        and math.isfinite(lat)
        and -180.0 <= lon <= 180.0
        and -90.0 <= lat <= 90.0
    )


def check_lon_lat(lon: float, lat: float) -> None:
    """Raise `ValueError` unless `lon`, `lat` are valid WGS-84 degrees."""
    if not is_valid_lon_lat(lon, lat):
        raise ValueError(f"not a WGS-84 position: lon={lon!r}, lat={lat!r}")


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in metres between two positions.

    Args:
        lon1: Longitude of the first position, degrees.
        lat1: Latitude of the first position, degrees.
        lon2: Longitude of the second position, degrees.
        lat2: Latitude of the second position, degrees.

    Returns:
        The distance on a sphere of radius `EARTH_RADIUS_M`.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    # Rounding can push h a hair past 1 for antipodal points, where asin is undefined.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the initial bearing from the first position to the second, in [0, 360).

    0 is north and 90 east, matching the `heading` that terminals report.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlmb = math.radians(lon2 - lon1)
    x = math.sin(dlmb) * math.cos(phi2)
    y = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlmb)
    bearing = math.degrees(math.atan2(x, y)) % 360.0
    # A tiny negative angle modulo 360 rounds to 360.0, outside the promised range.
    return 0.0 if bearing >= 360.0 else bearing


def point_wkt(lon: float, lat: float) -> str:
    """Return the WKT `POINT(lon lat)`; raise `ValueError` for an invalid position."""
    check_lon_lat(lon, lat)
    # repr keeps every digit of the float, so the database sees exactly what was decoded.
    return f"POINT({float(lon)!r} {float(lat)!r})"


def point_ewkt(lon: float, lat: float) -> str:
    """Return the EWKT `SRID=4326;POINT(lon lat)` that GeoAlchemy2 accepts for a Geometry."""
    return f"SRID={WGS84_SRID};{point_wkt(lon, lat)}"


def make_point(lon: float, lat: float) -> Point:
    """Return a shapely `Point(lon, lat)`; raise `ValueError` for an invalid position."""
    check_lon_lat(lon, lat)
    return Point(float(lon), float(lat))


def make_line(coords: Sequence[LonLat]) -> LineString:
    """Return a shapely `LineString` through `(lon, lat)` pairs (at least two)."""
    _check_line(coords)
    return LineString([(float(lon), float(lat)) for lon, lat in coords])


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """An azimuthal equidistant projection in metres centred on `origin` (lon, lat).

    Distances from the origin are true, so buffering a site by a radius in metres gives
    the geofence circle the arrival rules use.
    """

    origin: LonLat
    to_local: pyproj.Transformer
    to_wgs84: pyproj.Transformer

    def forward(self, lon: float, lat: float) -> tuple[float, float]:
        """Project WGS-84 degrees to local metres `(x east, y north)`."""
        x, y = self.to_local.transform(lon, lat)
        return float(x), float(y)

    def inverse(self, x: float, y: float) -> LonLat:
        """Return the WGS-84 `(lon, lat)` of local metres `(x, y)`."""
        lon, lat = self.to_wgs84.transform(x, y)
        return float(lon), float(lat)


@lru_cache(maxsize=256)
def local_projection(lon: float, lat: float) -> LocalProjection:
    """Return the (cached) local metric projection centred on `(lon, lat)`."""
    check_lon_lat(lon, lat)
    local = pyproj.CRS.from_proj4(f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +datum=WGS84 +units=m")
    wgs84 = pyproj.CRS.from_epsg(WGS84_SRID)
    return LocalProjection(
        origin=(lon, lat),
        to_local=pyproj.Transformer.from_crs(wgs84, local, always_xy=True),
        to_wgs84=pyproj.Transformer.from_crs(local, wgs84, always_xy=True),
    )


def circle_polygon(lon: float, lat: float, radius_m: float, quad_segs: int = 16) -> Polygon:
    """Return a WGS-84 polygon approximating the circle of `radius_m` metres around a site.

    Args:
        lon: Longitude of the centre, degrees.
        lat: Latitude of the centre, degrees.
        radius_m: Radius in metres, positive.
        quad_segs: Segments per quarter circle.

    Returns:
        The polygon in (lon, lat), e.g. to draw a geofence on the dispatcher map.
    """
    if not (math.isfinite(radius_m) and radius_m > 0):
        raise ValueError(f"radius must be a positive number of metres, got {radius_m!r}")
    proj = local_projection(lon, lat)
    circle = Point(0.0, 0.0).buffer(radius_m, quad_segs=quad_segs)
    return shapely.transform(circle, proj.to_wgs84.transform, interleaved=False)


def point_feature(
    lon: float,
    lat: float,
    properties: Mapping[str, Any] | None = None,
    *,
    feature_id: str | int | None = None,
) -> GeoJSON:
    """Return a GeoJSON Point Feature (RFC 7946) for one position.

    Args:
        lon: Longitude, degrees.
        lat: Latitude, degrees.
        properties: JSON-serialisable properties, e.g. vehicle id and fix time.
        feature_id: Optional Feature `id`.

    Returns:
        The Feature as a plain dict ready for `json.dumps`.
    """
    check_lon_lat(lon, lat)
    geometry = {"type": "Point", "coordinates": _position(lon, lat)}
    return _feature(geometry, properties, feature_id)


def line_feature(
    coords: Sequence[LonLat],
    properties: Mapping[str, Any] | None = None,
    *,
    times: Sequence[datetime] | None = None,
    feature_id: str | int | None = None,
) -> GeoJSON:
    """Return a GeoJSON LineString Feature for a vehicle track.

    Args:
        coords: At least two `(lon, lat)` pairs in travel order.
        properties: JSON-serialisable properties.
        times: One aware datetime per coordinate, stored as RFC 3339 strings in the
            `times` property (the convention map libraries use for animated tracks).
        feature_id: Optional Feature `id`.

    Returns:
        The Feature as a plain dict.

    Raises:
        ValueError: Fewer than two positions, an invalid position, or `times` of the wrong
            length or naive.
    """
    _check_line(coords)
    props = dict(properties or {})
    if times is not None:
        if len(times) != len(coords):
            raise ValueError("times must have one entry per coordinate")
        props["times"] = [rfc3339(t) for t in times]
    geometry = {"type": "LineString", "coordinates": [_position(lon, lat) for lon, lat in coords]}
    return _feature(geometry, props, feature_id)


def feature_collection(features: Iterable[Mapping[str, Any]]) -> GeoJSON:
    """Return a GeoJSON FeatureCollection holding `features`."""
    return {"type": "FeatureCollection", "features": [dict(f) for f in features]}


def rfc3339(ts: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a `Z` suffix."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("naive datetime: Fieldline times are timezone-aware")
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _check_line(coords: Sequence[LonLat]) -> None:
    if len(coords) < 2:
        raise ValueError("a line string needs at least two positions")
    for lon, lat in coords:
        check_lon_lat(lon, lat)


def _position(lon: float, lat: float) -> list[float]:
    return [round(float(lon), GEOJSON_PRECISION), round(float(lat), GEOJSON_PRECISION)]


def _feature(
    geometry: dict[str, Any], properties: Mapping[str, Any] | None, feature_id: str | int | None
) -> GeoJSON:
    feature: GeoJSON = {
        "type": "Feature",
        "geometry": geometry,
        "properties": dict(properties or {}),
    }
    if feature_id is not None:
        feature["id"] = feature_id
    return feature
