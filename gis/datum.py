"""Chinese map datums (GCJ-02, BD-09) to and from WGS-84, via the coordTransform library."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Final

import coordTransform

from gis.geometry import LonLat, check_lon_lat


class Datum(StrEnum):
    """The datum a device reports its coordinates in."""

    WGS84 = "wgs84"  # GPS, OwnTracks, Traccar Client, OpenStreetMap
    GCJ02 = "gcj02"  # Chinese national obfuscation: AMap (Gaode), Tencent, Google China
    BD09 = "bd09"  # Baidu Maps: GCJ-02 with a further Baidu offset


_Transform = Callable[[float, float], LonLat]


def _lib(func: Callable[..., list[float]]) -> _Transform:
    # The library returns a two-item list (or the input unchanged outside China); give the
    # rest of Fieldline a plain float tuple.
    def call(lon: float, lat: float) -> LonLat:
        out = func(float(lon), float(lat))
        return float(out[0]), float(out[1])

    return call


_FROM_WGS84: Final[dict[Datum, _Transform]] = {
    Datum.GCJ02: _lib(coordTransform.wgs84_to_gcj02),
    Datum.BD09: _lib(coordTransform.wgs84_to_bd09),
}
_TO_WGS84: Final[dict[Datum, _Transform]] = {
    Datum.GCJ02: _lib(coordTransform.gcj02_to_wgs84),
    Datum.BD09: _lib(coordTransform.bd09_to_wgs84),
}
# coordTransform's inverses are a single linearisation step, measured up to 4.9 m off across
# China. The forward map is close to the identity, so fixed-point steps against the library's
# own forward transform shrink that about a hundredfold each: under 0.1 mm after four.
_REFINE_STEPS: Final = 4
_REFINE_TOLERANCE_DEG: Final = 1e-9  # about 0.1 mm


def in_china(lon: float, lat: float) -> bool:
    """Tell whether coordTransform applies the Chinese offset at `(lon, lat)`.

    It uses a bounding box, so Mongolia, Korea or Japan partly count as inside; outside
    the box GCJ-02 and BD-09 are treated as WGS-84.
    """
    return not bool(coordTransform.out_of_china(float(lon), float(lat)))


def from_wgs84(lon: float, lat: float, datum: Datum) -> LonLat:
    """Convert WGS-84 `(lon, lat)` to `datum`, e.g. to draw a fix on an AMap or Baidu layer.

    Args:
        lon: WGS-84 longitude, degrees.
        lat: WGS-84 latitude, degrees.
        datum: The target datum.

    Returns:
        `(lon, lat)` in `datum`; unchanged for WGS-84 or outside China.

    Raises:
        ValueError: `lon`, `lat` are not valid degrees.
    """
    check_lon_lat(lon, lat)
    if datum is Datum.WGS84:
        return float(lon), float(lat)
    return _FROM_WGS84[datum](lon, lat)


def to_wgs84(lon: float, lat: float, datum: Datum) -> LonLat:
    """Convert `(lon, lat)` given in `datum` to WGS-84, the datum Fieldline stores.

    Args:
        lon: Longitude in `datum`, degrees.
        lat: Latitude in `datum`, degrees.
        datum: The datum the coordinates were reported in.

    Returns:
        WGS-84 `(lon, lat)`; `from_wgs84` of it reproduces the input to well under a metre.

    Raises:
        ValueError: `lon`, `lat` are not valid degrees.
    """
    check_lon_lat(lon, lat)
    if datum is Datum.WGS84:
        return float(lon), float(lat)
    forward = _FROM_WGS84[datum]
    x, y = _TO_WGS84[datum](lon, lat)
    for _ in range(_REFINE_STEPS):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        if abs(dx) < _REFINE_TOLERANCE_DEG and abs(dy) < _REFINE_TOLERANCE_DEG:
            break
        x, y = x - dx, y - dy
    return x, y
