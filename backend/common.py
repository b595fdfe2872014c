"""Marshmallow fields and pagination shared by every domain's schemas and routes."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from flask_smorest import Page
from geoalchemy2 import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import Select, func, select

from backend.errors import BadRequest
from backend.unit_of_work import request_session
from sync.wire import TIME_MESSAGE, ascii_int, time_in_bounds


def query_int(raw: str | None, *, name: str, default: int, maximum: int = 2**31 - 1) -> int:
    """Parse a query parameter as a non-negative ASCII integer; anything else is a 400.

    `str.isdigit()` lets "²" through to `int()` (a 500); every query or header integer that a
    view reads itself goes through here or `header_int`.
    """
    if raw is None:
        return default
    value = ascii_int(raw, maximum=maximum)
    if value is None:
        raise BadRequest(f"{name} must be a whole number between 0 and {maximum} (ASCII digits).")
    return value


def header_int(raw: str | None, *, name: str, maximum: int = 2**63 - 1) -> int | None:
    """Parse a header as a non-negative ASCII integer (None when absent); anything else is a 400."""
    if raw is None:
        return None
    value = ascii_int(raw.strip(), maximum=maximum)
    if value is None:
        raise BadRequest(f"The {name} header must be a whole number between 0 and {maximum}.")
    return value


class Timestamp(fields.AwareDateTime):
    """An ISO 8601 date-time with an offset, between the years 1900 and 2200.

    The one date-time field of the API: the bounds are checked before anything converts it to
    UTC or adds a window to it (year 1 at +01:00 overflows on conversion).
    """

    default_error_messages = {"bounds": TIME_MESSAGE}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        if not time_in_bounds(moment):
            raise self.make_error("bounds")
        return moment


class Day(fields.Date):
    """An ISO 8601 calendar day between the years 1900 and 2200."""

    default_error_messages = {"bounds": TIME_MESSAGE}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        day: date = super()._deserialize(value, attr, data, **kwargs)
        if not time_in_bounds(day):
            raise self.make_error("bounds")
        return day


class DbInteger(fields.Integer):
    """An integer that fits the database's integer columns: a larger one is a 422, not a 500."""

    default_error_messages = {"range": "Must be between -2147483648 and 2147483647."}

    def _validated(self, value: Any) -> int:
        number = super()._validated(value)
        if not -(2**31) <= number <= 2**31 - 1:
            raise self.make_error("range")
        return number


class LatLonSchema(Schema):
    """A WGS-84 point as latitude and longitude in degrees."""

    lat = fields.Float(required=True, validate=validate.Range(-90, 90), allow_nan=False)
    lon = fields.Float(required=True, validate=validate.Range(-180, 180), allow_nan=False)


class PointField(fields.Nested):
    """A geometry column exposed as `{"lat": .., "lon": ..}` (WGS-84)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(LatLonSchema, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, WKBElement | WKTElement):
            point = to_shape(value)
            return {"lat": point.y, "lon": point.x}
        return value

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        if loaded is None:
            return None
        if not math.isfinite(loaded["lat"]) or not math.isfinite(loaded["lon"]):
            raise ValidationError("Coordinates must be finite numbers.")
        return point_element(loaded["lon"], loaded["lat"])


def point_element(lon: float, lat: float) -> WKTElement:
    """Build a WGS-84 point for a geometry column."""
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=4326)


class SelectPage(Page):  # type: ignore[misc]
    """flask-smorest pagination over a SQLAlchemy `select()` in the request session."""

    @property
    def items(self) -> list[Any]:
        statement: Select[Any] = self.collection
        first = self.page_params.first_item
        if first > 2**31:  # no table holds that many rows; the drivers refuse such offsets
            return []
        return list(
            request_session().scalars(statement.offset(first).limit(self.page_params.page_size))
        )

    @property
    def item_count(self) -> int:
        statement: Select[Any] = self.collection
        count = select(func.count()).select_from(statement.order_by(None).subquery())
        return int(request_session().scalar(count) or 0)
