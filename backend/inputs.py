"""Reading request input safely: bounded JSON, storable text, one arguments parser for the API.

Every blueprint of the API is a `backend.inputs.Blueprint`: its `@blp.arguments` (and pagination)
read JSON through the app's JSON provider, whose depth limit turns a body nested 1000 deep into a
400 instead of a RecursionError, and refuse NUL characters and unpaired surrogates in any field
(value or key, at any depth) with a 422 naming it, before the schema or the database sees them.
Views that read `request` themselves use `request.get_json()` (same provider) and `query_int`,
`header_int` below. The API's own fields live here too: `Timestamp` and `Day` (bounded),
`DbInteger`, `PointField`, `BBoxField`, and `SelectPage` (pagination of a `select()`).

Arguments are parsed inside the view's `requires(...)` wrapper, so an anonymous caller gets 401
before any of this runs (tests/test_hostile_input.py holds every operation to that).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import flask_smorest
import orjson
from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Page
from geoalchemy2 import WKBElement, WKTElement
from geoalchemy2.shape import to_shape
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import Select, func, select
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import PathConverter, UnicodeConverter

from backend.db import point_element
from backend.errors import BadRequest, Unprocessable, field_error
from backend.unit_of_work import request_session
from sync.entities import AHEAD_OF_SERVER_MESSAGE, ahead_of_server
from sync.fields import Float, Integer
from sync.wire import (
    TEXT_MESSAGE,
    TIME_MESSAGE,
    ascii_int,
    json_depth,
    time_in_bounds,
    unstorable_paths,
)

# Deeper than any document of the API (sync mutations nest 4 levels), far below the
# interpreter's recursion limit that marshmallow and the JSON decoder would otherwise hit.
MAX_JSON_DEPTH = 32


class TooDeep(BadRequest):
    """The JSON body nests arrays/objects deeper than MAX_JSON_DEPTH."""

    title = "Body nested too deeply"


def _too_deep() -> TooDeep:
    return TooDeep(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")


class NumberTooLong(BadRequest):
    """A JSON number with more digits than Python converts (no field takes such a number)."""

    title = "Number too long"


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with a nesting limit on everything it decodes."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        value = _fast_loads(s) if not kwargs else _UNREAD
        if value is _UNREAD:
            value = self._module_loads(s, **kwargs)
        if json_depth(value) > MAX_JSON_DEPTH:
            raise _too_deep()
        return value

    def _module_loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise _too_deep() from None
        except json.JSONDecodeError:
            raise
        except ValueError as error:  # e.g. an integer past the interpreter's digit limit
            raise NumberTooLong(
                f"The JSON body holds a number that cannot be read: {error}."
            ) from None


_UNREAD = object()
# Digits as "0", everything else as " ": a run of 19 zeros is a number orjson may not keep.
_DIGITS_ONLY = bytes(ord("0") if b in b"0123456789" else ord(" ") for b in range(256))
_LONG_NUMBER = b"0" * 19


def _fast_loads(s: str | bytes) -> Any:
    """Decode UTF-8 JSON with orjson (a push body in half the time), or return `_UNREAD`.

    Only where both decoders give the same value: orjson turns an integer past 64 bits into a
    float, so text with a run of 19 digits is left to the json module, as is anything orjson
    refuses (NaN, lone surrogates, a BOM, other encodings, nesting past its own limit), so
    that errors and their 400s stay the json module's.
    """
    if not isinstance(s, bytes) or _LONG_NUMBER in s.translate(_DIGITS_ONLY):
        return _UNREAD
    try:
        return orjson.loads(s)
    except orjson.JSONDecodeError:
        return _UNREAD


def text_problem(paths: Iterable[tuple[str, ...]], location: str) -> Unprocessable | None:
    """Return a 422 naming every field whose text cannot be stored, or None if all can."""
    errors = [
        {"field": ".".join(path) or "_", "in": location, "messages": [TEXT_MESSAGE]}
        for path in sorted(set(paths))
    ]
    if not errors:
        return None
    return Unprocessable("The request did not pass validation; see errors.", errors=errors)


def check_text(value: object, location: str) -> None:
    """Raise a 422 if any string in a decoded JSON value, a query or a form is not storable."""
    if hasattr(value, "lists"):  # a werkzeug MultiDict: each key with its value(s)
        value = {key: vs[0] if len(vs) == 1 else vs for key, vs in value.lists()}
    problem = text_problem(unstorable_paths(value), location)
    if problem is not None:
        raise problem


class Parser(FlaskParser):  # type: ignore[misc]
    """webargs' Flask parser: JSON through the app's provider, unstorable text refused."""

    def _raw_load_json(self, req: Any) -> Any:
        if not is_json_request(req):
            return core.missing
        return current_app.json.loads(req.get_data(cache=True))

    def _load_location_data(self, *, schema: Schema, req: Any, location: str) -> Any:
        data = super()._load_location_data(schema=schema, req=req, location=location)
        _refuse_unicode_digits(schema, data, location)
        if location == "headers":  # only the headers the schema declares are read
            declared = [field.data_key or name for name, field in schema.fields.items()]
            check_text({name: data.get(name, "") for name in declared}, location)
        elif data is not core.missing:
            check_text(data, location)
        return data


def _refuse_unicode_digits(schema: Schema, data: Any, location: str) -> None:
    """Refuse a number spelled in other than ASCII digits ("١٢٣"), whoever declared the field.

    Our schemas use `sync.fields.Integer`/`Float`/`Decimal`, which refuse it themselves; this
    covers the fields of library schemas too (flask-smorest's `page`, `page_size`).
    """
    if data is core.missing or not hasattr(data, "get"):
        return
    bad = [
        key
        for name, field in schema.fields.items()
        if isinstance(field, fields.Number)
        for key in [field.data_key or name]
        if isinstance(data.get(key), str) and not data.get(key).isascii()
    ]
    if bad:
        errors = [
            {"field": key, "in": location, "messages": ["Not a valid number."]} for key in bad
        ]
        raise Unprocessable("The request did not pass validation; see errors.", errors=errors)


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """The API's blueprint: arguments and pagination read through `Parser`."""

    ARGUMENTS_PARSER = Parser()
    PAGINATION_ARGUMENTS_PARSER = Parser()


class TextConverter(UnicodeConverter):
    """The default path segment, refusing NUL: such a URL names nothing (404), never a query."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\x00]")


class TextPathConverter(PathConverter):
    """`<path:...>` without NUL."""

    regex = "[^\x00]+?"
    # Spans segments like any path (Werkzeug infers "isolating" from a regex without "/").
    part_isolating = False


def decode_json_body() -> None:
    """Decode a JSON body through the provider now, so a too-deep one is a 400 (a hook).

    For blueprints that cannot be a `backend.inputs.Blueprint` (sync/ never imports backend)
    and authenticate in their own `before_request`: this hook runs after that one, so webargs'
    own decoder only ever sees bodies within the depth limit. Invalid JSON is left to webargs.
    """
    if request.is_json:
        request.get_json(silent=True)


def init_app(app: Flask) -> None:
    """Install the JSON provider and the NUL-free path converters."""
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.url_map.converters["default"] = TextConverter
    app.url_map.converters["string"] = TextConverter
    app.url_map.converters["path"] = TextPathConverter


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


# The sync spec's wording of the bound, as a sentence (REST messages are sentences).
AHEAD_OF_SERVER_SENTENCE = AHEAD_OF_SERVER_MESSAGE.capitalize() + "."


def not_ahead_of_server(moment: datetime) -> None:
    """Refuse a time of observation more than `FUTURE_ALLOWANCE` ahead of the server clock."""
    if ahead_of_server(moment):
        raise ValidationError(AHEAD_OF_SERVER_SENTENCE)


def refuse_ahead_of_server(field: str, moment: datetime | None) -> None:
    """Refuse (422 naming `field`) a time of observation beyond the allowance; services call it.

    The schemas' `not_ahead_of_server` stops it at a REST door first; a service that several
    doors share asks again, so a sync push or an import is held to the same rule.
    """
    if moment is not None and ahead_of_server(moment):
        raise field_error(field, AHEAD_OF_SERVER_SENTENCE)


class Day(fields.Date):
    """An ISO 8601 calendar day between the years 1900 and 2200."""

    default_error_messages = {"bounds": TIME_MESSAGE}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        day: date = super()._deserialize(value, attr, data, **kwargs)
        if not time_in_bounds(day):
            raise self.make_error("bounds")
        return day


class DbInteger(Integer):
    """An integer that fits the database's integer columns: a larger one is a 422, not a 500."""

    default_error_messages = {"range": "Must be between -2147483648 and 2147483647."}

    def _validated(self, value: Any) -> int:
        number = super()._validated(value)
        if not -(2**31) <= number <= 2**31 - 1:
            raise self.make_error("range")
        return number


class LatLonSchema(Schema):
    """A WGS-84 point as latitude and longitude in degrees."""

    lat = Float(required=True, validate=validate.Range(-90, 90), allow_nan=False)
    lon = Float(required=True, validate=validate.Range(-180, 180), allow_nan=False)


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


def bbox_degrees(value: str) -> tuple[float, float, float, float]:
    """Read `west,south,east,north` (WGS-84 degrees), or raise ValidationError."""
    try:
        west, south, east, north = (float(v) for v in value.split(","))
    except ValueError as exc:
        raise ValidationError("bbox is west,south,east,north in degrees.") from exc
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ValidationError("bbox must be west<=east, south<=north, inside WGS-84.")
    return west, south, east, north


BBOX_MAX_CHARS = 200  # four coordinates with room to spare


class BBoxField(fields.String):
    """A viewport `west,south,east,north` in WGS-84 degrees, loaded as four floats."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {"description": "west,south,east,north (WGS-84 degrees)"})
        self._length = validate.Length(max=BBOX_MAX_CHARS)
        # Declared for the OpenAPI document; validators run on the loaded four floats, so
        # `_deserialize` measures the text itself.
        super().__init__(validate=self._length, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        self._length(text)
        return bbox_degrees(text)


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


class StreamTicketArgs(Schema):
    """The single-use ticket an event stream accepts instead of the Authorization header."""

    ticket = fields.String(
        load_only=True,
        validate=validate.Length(max=4096),
        metadata={
            "description": "A single-use stream ticket from `POST /api/v1/auth/stream-ticket` "
            "(EventSource cannot send headers); instead of the Authorization header."
        },
    )
