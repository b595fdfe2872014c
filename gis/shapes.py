"""Geometry input: parse GeoJSON or WKT, check it and bring it to WGS-84 from a declared SRID."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy
import pyproj
import shapely
from shapely import wkt as shapely_wkt
from shapely.errors import GEOSException, ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from gis.geometry import WGS84_SRID, is_valid_lon_lat

__all__ = ["GeometryError", "parse_geometry", "to_geojson"]


class GeometryError(ValueError):
    """Input geometry that cannot be stored: unparsable, wrong type, invalid or off the map."""


@lru_cache(maxsize=32)
def _transformer(srid: int) -> pyproj.Transformer:
    try:
        source = pyproj.CRS.from_epsg(srid)
        return pyproj.Transformer.from_crs(source, pyproj.CRS.from_epsg(WGS84_SRID), always_xy=True)
    except pyproj.exceptions.ProjError as exc:  # unknown, or no way to WGS-84 (CRSError too)
        raise GeometryError(f"unknown SRID {srid}, or none that maps to WGS-84") from exc


def _load(value: Any) -> BaseGeometry:
    try:
        if isinstance(value, Mapping):
            return shape(value)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("{"):
                return shape(json.loads(text))
            if text.upper().startswith("SRID="):
                text = text.split(";", 1)[1]
            return shapely_wkt.loads(text)
    except (
        ShapelyError, GEOSException, ValueError, TypeError, KeyError, AttributeError,
        IndexError,  # a MultiPolygon member without rings
        RecursionError,  # GeoJSON text nested thousands deep (the body's depth limit is past)
    ) as exc:  # fmt: skip
        raise GeometryError(f"not a geometry: {str(exc)[:200]}") from exc
    raise GeometryError("a geometry is GeoJSON or WKT")


def parse_geometry(value: Any, *, kinds: tuple[str, ...], srid: int = WGS84_SRID) -> BaseGeometry:
    """Return a valid WGS-84 shapely geometry of one of `kinds` from GeoJSON or WKT.

    The input is in `srid` (reprojected with pyproj); refused: empty, non-finite, invalid
    (OGC validity), self-intersecting lines, positions outside WGS-84.
    """
    geometry = _load(value)
    if geometry.geom_type not in kinds:
        raise GeometryError(f"expected {' or '.join(kinds)}, got {geometry.geom_type}")
    if geometry.is_empty:
        raise GeometryError("the geometry is empty")
    if geometry.has_z:
        geometry = shapely.force_2d(geometry)
    if not all(math.isfinite(float(v)) for v in shapely.get_coordinates(geometry).ravel()):
        raise GeometryError("coordinates must be finite numbers")
    if srid != WGS84_SRID:
        project = _transformer(srid)
        geometry = shapely.transform(
            geometry, lambda xy: numpy.column_stack(project.transform(xy[:, 0], xy[:, 1]))
        )
    for lon, lat in shapely.get_coordinates(geometry):
        if not is_valid_lon_lat(float(lon), float(lat)):
            raise GeometryError(
                f"position ({lon}, {lat}) is outside WGS-84; declare the input's SRID"
            )
    if geometry.geom_type == "LineString" and not geometry.is_simple:
        raise GeometryError("the line intersects itself")
    if not geometry.is_valid:
        raise GeometryError(f"invalid geometry: {shapely.is_valid_reason(geometry)}")
    if geometry.geom_type == "LineString" and len(geometry.coords) < 2:
        raise GeometryError("a line needs at least two positions")
    return geometry


def to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    """Return the GeoJSON geometry object of a shapely geometry."""
    result: dict[str, Any] = json.loads(shapely.to_geojson(geometry))
    return result
