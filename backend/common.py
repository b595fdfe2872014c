"""Marshmallow fields and pagination shared by every domain's schemas and routes."""

from __future__ import annotations

import math
from typing import Any

from flask_smorest import Page
from geoalchemy2 import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import Select, func, select

from backend.unit_of_work import request_session


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
