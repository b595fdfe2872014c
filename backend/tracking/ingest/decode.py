"""Decode positions, terminal events and acks from the tracking protocols Fieldline accepts."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Literal

import orjson

from gis.datum import Datum
from sync.protocol import unstorable_text

MAX_PAYLOAD_BYTES: Final = 8 * 1024
KNOT_M_S: Final = 1852.0 / 3600.0
KMH_M_S: Final = 1.0 / 3.6
# Plausible device clocks: anything outside is a broken RTC or a unit mix-up, not a fix.
TS_MIN: Final = datetime(2000, 1, 1, tzinfo=UTC)
TS_MAX: Final = datetime(2100, 1, 1, tzinfo=UTC)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_ID_LEN: Final = 128
_MAX_REASON_LEN: Final = 500
# Traccar's OsmAnd decoder reads a timestamp below 2**31 - 1 as seconds, above it as ms.
_OSMAND_MS_THRESHOLD: Final = 2**31 - 1
# Traccar Client's alternative timestamp form (no zone): read as UTC.
_TRACCAR_LOCAL = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?", re.ASCII)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NON_FINITE_WORDS: Final = frozenset({"nan", "inf", "infinity"})
# Topic levels double as keys in the database and in logs: keep them to a safe alphabet.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")

Reason = Literal[
    "malformed_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "nan",
    "out_of_range",
    "too_large",
    "unknown_topic",
    "ignored_type",
    "bad_timestamp",
    "unstorable_text",
]
TopicKind = Literal["position", "event", "status", "ack", "owntracks"]
_VEHICLE_TOPICS: Final[dict[str, TopicKind]] = {
    "position": "position",
    "event": "event",
    "status": "status",
    "ack": "ack",
}


class DecodeError(Exception):
    """A message that cannot become a fix, event or ack; `reason` is a stable code."""

    def __init__(self, reason: Reason, detail: str = "", *, field: str | None = None) -> None:
        super().__init__(": ".join(part for part in (reason, field, detail) if part))
        self.reason: Reason = reason
        self.detail = detail
        self.field = field


class EventType(StrEnum):
    """What a terminal reports about an order or its own availability."""

    ACCEPTED = "accepted"
    DEPARTED = "departed"
    ARRIVED = "arrived"
    FINISHED = "finished"
    UNAVAILABLE = "unavailable"
    AVAILABLE = "available"


# Availability is about the vehicle; the other events only make sense for an order.
_ORDER_OPTIONAL: Final = frozenset({EventType.UNAVAILABLE, EventType.AVAILABLE})


@dataclass(frozen=True, slots=True)
class TopicRef:
    """What an MQTT topic names: `vehicle` is the vid, or `user/device` for OwnTracks."""

    kind: TopicKind
    vehicle: str


@dataclass(frozen=True, slots=True)
class PositionFix:
    """One GPS fix as the device reported it; `ts` is aware UTC, speeds are m/s.

    `vehicle` is the Fieldline vid, or the device key (`user/device` for OwnTracks, the
    `id` for OsmAnd and Traccar) that the ingest resolves to a vehicle.
    """

    vehicle: str
    ts: datetime
    lat: float
    lon: float
    acc: float | None = None
    speed: float | None = None
    heading: float | None = None
    batt: float | None = None
    seq: int | None = None
    datum: Datum = Datum.WGS84
    alt: float | None = None


@dataclass(frozen=True, slots=True)
class TerminalEvent:
    """An order or availability event from a vehicle terminal, idempotent by `event_id`."""

    vehicle: str
    event_id: str
    order_id: str | None
    type: EventType
    ts: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class OrderAck:
    """A terminal's receipt of an order message (timing point E)."""

    vehicle: str
    order_id: str
    message_id: str
    ts: datetime


@dataclass(frozen=True, slots=True)
class VehicleStatus:
    """The retained `online` or the Last Will `offline` of a vehicle."""

    vehicle: str
    online: bool


Decoded = PositionFix | TerminalEvent | OrderAck | VehicleStatus


def parse_topic(topic: str, root: str = "fieldline/v1") -> TopicRef | None:
    """Return what `topic` names, or None for a topic the ingest does not read.

    Reads `{root}/vehicles/{vid}/(position|event|status|ack)` and `owntracks/{user}/{device}`.
    """
    levels = topic.split("/")
    root_levels = root.split("/")
    n = len(root_levels)
    if (
        len(levels) == n + 3
        and levels[:n] == root_levels
        and levels[n] == "vehicles"
        and levels[n + 2] in _VEHICLE_TOPICS
        and _KEY.fullmatch(levels[n + 1])
    ):
        return TopicRef(_VEHICLE_TOPICS[levels[n + 2]], levels[n + 1])
    if len(levels) == 3 and levels[0] == "owntracks" and all(map(_KEY.fullmatch, levels[1:])):
        return TopicRef("owntracks", f"{levels[1]}/{levels[2]}")
    return None


def decode_mqtt(
    topic: str, payload: bytes, *, root: str = "fieldline/v1", ref: TopicRef | None = None
) -> Decoded:
    """Decode one MQTT message by its topic; raise `DecodeError` (`unknown_topic`, ...).

    `ref` is the topic already parsed by the caller (the ingest parses it once per message).
    """
    ref = ref or parse_topic(topic, root)
    if ref is None:
        raise DecodeError("unknown_topic", topic[:200])
    if ref.kind == "position":
        return decode_fieldline_position(ref.vehicle, payload)
    if ref.kind == "event":
        return decode_fieldline_event(ref.vehicle, payload)
    if ref.kind == "ack":
        return decode_ack(ref.vehicle, payload)
    if ref.kind == "status":
        return decode_status(ref.vehicle, payload)
    user, device = ref.vehicle.split("/")
    return decode_owntracks(user, device, payload)


def decode_fieldline_position(
    vid: str, payload: bytes, *, datum: Datum = Datum.WGS84
) -> PositionFix:
    """Decode `…/vehicles/{vid}/position`: ts, lat, lon and optional acc, speed, heading, batt, seq.

    `datum` is per device configuration, not on the wire: terminals with a Chinese map
    chip report GCJ-02.
    """
    obj = _load_object(payload)
    return PositionFix(
        vehicle=vid,
        ts=_timestamp(_required(obj, "ts"), "ts"),
        lat=_lat(obj.get("lat")),
        lon=_lon(obj.get("lon")),
        acc=_opt_real(obj, "acc", 0, 1e6),
        speed=_opt_real(obj, "speed", 0, 1000),
        heading=_heading(_opt_real(obj, "heading", 0, 360)),
        batt=_opt_real(obj, "batt", 0, 100),
        seq=_opt_int(obj, "seq", 0, 2**63 - 1),
        datum=datum,
    )


def decode_fieldline_event(vid: str, payload: bytes) -> TerminalEvent:
    """Decode `…/vehicles/{vid}/event`; order_id may be absent only for (un)available."""
    obj = _load_object(payload)
    raw_type = _string(obj, "type", 32)
    try:
        event_type = EventType(raw_type)
    except ValueError:
        raise DecodeError(
            "out_of_range", f"unknown event type {raw_type!r}", field="type"
        ) from None
    order_id = _opt_string(obj, "order_id", _MAX_ID_LEN)
    if order_id is None and event_type not in _ORDER_OPTIONAL:
        raise DecodeError("missing_field", f"{event_type} needs an order", field="order_id")
    return TerminalEvent(
        vehicle=vid,
        event_id=_string(obj, "event_id", _MAX_ID_LEN),
        order_id=order_id,
        type=event_type,
        ts=_timestamp(_required(obj, "ts"), "ts"),
        reason=_opt_string(obj, "reason", _MAX_REASON_LEN),
    )


def decode_ack(vid: str, payload: bytes) -> OrderAck:
    """Decode `…/vehicles/{vid}/ack`: order_id, message_id and ts."""
    obj = _load_object(payload)
    return OrderAck(
        vehicle=vid,
        order_id=_string(obj, "order_id", _MAX_ID_LEN),
        message_id=_string(obj, "message_id", _MAX_ID_LEN),
        ts=_timestamp(_required(obj, "ts"), "ts"),
    )


def decode_status(vid: str, payload: bytes) -> VehicleStatus:
    """Decode `…/vehicles/{vid}/status`: the plain text `online` or `offline`."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError("too_large", f"{len(payload)} bytes")
    text = payload.strip()
    if text not in (b"online", b"offline"):
        raise DecodeError("out_of_range", "status must be online or offline")
    return VehicleStatus(vehicle=vid, online=text == b"online")


def decode_owntracks(user: str, device: str, payload: bytes) -> PositionFix:
    """Decode an OwnTracks message from `owntracks/{user}/{device}`.

    Only `_type: location` is a fix; lwt, transition, waypoint, card, encrypted and the
    rest raise `ignored_type`. `vel` is km/h; a `vel` or `cog` of -1 (iOS "unknown") becomes
    None. `tid` is a display label, not an identity, so it is not used.
    """
    obj = _load_object(payload)
    kind = _string(obj, "_type", 32)
    if kind != "location":
        raise DecodeError("ignored_type", kind[:32], field="_type")
    vel = _opt_real(obj, "vel", -1, 3600)
    return PositionFix(
        vehicle=f"{user}/{device}",
        ts=_timestamp(_required_number(obj, "tst"), "tst"),
        lat=_lat(obj.get("lat")),
        lon=_lon(obj.get("lon")),
        acc=_opt_real(obj, "acc", 0, 1e6),
        speed=_unknown_if_negative(vel * KMH_M_S if vel is not None else None),
        heading=_heading(_unknown_if_negative(_opt_real(obj, "cog", -1, 360))),
        batt=_opt_real(obj, "batt", 0, 100),
        alt=_opt_real(obj, "alt", -1000, 50_000),
    )


def decode_osmand(params: Mapping[str, str]) -> PositionFix:
    """Decode the OsmAnd / Traccar Client HTTP query: id, lat, lon, timestamp and the rest.

    `timestamp` is epoch seconds, epoch milliseconds (Traccar's rule: at or above 2**31 - 1)
    or RFC 3339; `speed` is in knots; `id` may also be sent as `deviceid`.
    """
    if sum(len(k) + len(v) for k, v in params.items()) > MAX_PAYLOAD_BYTES:
        raise DecodeError("too_large", "query parameters")
    obj: dict[str, Any] = {}
    for key in ("lat", "lon", "speed", "bearing", "heading", "altitude", "accuracy", "batt"):
        if params.get(key) not in (None, ""):
            obj[key] = _param_number(params[key], key)
    raw_ts = params.get("timestamp")
    if raw_ts is None or raw_ts == "":
        raise DecodeError("missing_field", field="timestamp")
    device = params.get("id") or params.get("deviceid")
    if device is None or not _KEY.fullmatch(device):
        raise DecodeError("missing_field" if not device else "out_of_range", field="id")
    speed_knots = _opt_real(obj, "speed", 0, 2000)
    return PositionFix(
        vehicle=device,
        ts=_osmand_timestamp(raw_ts),
        lat=_lat(obj.get("lat")),
        lon=_lon(obj.get("lon")),
        acc=_opt_real(obj, "accuracy", 0, 1e6),
        speed=speed_knots * KNOT_M_S if speed_knots is not None else None,
        heading=_heading(_opt_real(obj, "bearing" if "bearing" in obj else "heading", 0, 360)),
        batt=_opt_real(obj, "batt", 0, 100),
        alt=_opt_real(obj, "altitude", -1000, 50_000),
    )


def decode_traccar_json(body: bytes) -> PositionFix:
    """Decode a Traccar Client JSON post: device_id and location{timestamp, coords, battery}.

    Speeds are m/s; -1 (the "unknown" of the location library) for speed, heading or battery
    becomes None; `battery.level` is a 0-1 fraction, stored as percent.
    """
    obj = _load_object(body)
    device = _string(obj, "device_id", _MAX_ID_LEN)
    if not _KEY.fullmatch(device):
        raise DecodeError("out_of_range", "unsupported characters", field="device_id")
    location = _object(obj, "location")
    coords = _object(location, "coords")
    battery = location.get("battery")
    level = _opt_real(_object(location, "battery"), "level", -1, 1) if battery is not None else None
    return PositionFix(
        vehicle=device,
        ts=_timestamp(_required(location, "timestamp"), "timestamp"),
        lat=_lat(coords.get("latitude")),
        lon=_lon(coords.get("longitude")),
        acc=_opt_real(coords, "accuracy", 0, 1e6),
        speed=_unknown_if_negative(_opt_real(coords, "speed", -1, 1000)),
        heading=_heading(_unknown_if_negative(_opt_real(coords, "heading", -1, 360))),
        batt=_unknown_if_negative(level * 100 if level is not None else None),
        alt=_opt_real(coords, "altitude", -1000, 50_000),
    )


def _load_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError("too_large", f"{len(payload)} bytes")
    try:
        # orjson for speed; what it refuses (NaN literals, integers past 64 bits, ...) goes to
        # the standard library so such payloads keep their precise rejection reason.
        value = orjson.loads(payload)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(payload.decode("utf-8"))
        # ValueError covers bad UTF-8, bad JSON and over-long integer literals; deep nesting
        # exhausts the recursion limit of the C scanner.
        except (ValueError, RecursionError) as exc:
            raise DecodeError("malformed_json", str(exc)[:200]) from None
    if not isinstance(value, dict):
        raise DecodeError("not_an_object", type(value).__name__)
    return value


def _object(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = _required(obj, key)
    if not isinstance(value, dict):
        raise DecodeError("wrong_type", "expected an object", field=key)
    return value


def _required(obj: Mapping[str, Any], key: str) -> Any:
    value = obj.get(key)
    if value is None:
        raise DecodeError("missing_field", field=key)
    return value


def _required_number(obj: Mapping[str, Any], key: str) -> int | float:
    value = _required(obj, key)
    if isinstance(value, str):
        raise DecodeError("wrong_type", "expected a number", field=key)
    return _real_value(value, key)


def _real_value(value: object, key: str) -> int | float:
    # bool is an int in Python, but `true` is never a coordinate.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError("wrong_type", "expected a number", field=key)
    if isinstance(value, float) and not math.isfinite(value):
        raise DecodeError("nan", repr(value), field=key)
    return value


def _real(value: object, key: str, lo: float, hi: float) -> float:
    number = _real_value(value, key)
    # Compare before float(): a huge JSON integer would overflow the conversion.
    if not lo <= number <= hi:
        raise DecodeError("out_of_range", f"not within [{lo}, {hi}]", field=key)
    return float(number)


def _opt_real(obj: Mapping[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = obj.get(key)
    return None if value is None else _real(value, key, lo, hi)


def _opt_int(obj: Mapping[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError("wrong_type", "expected an integer", field=key)
    if not lo <= value <= hi:
        raise DecodeError("out_of_range", f"not within [{lo}, {hi}]", field=key)
    return value


def _lat(value: object) -> float:
    if value is None:
        raise DecodeError("missing_field", field="lat")
    return _real(value, "lat", -90, 90)


def _lon(value: object) -> float:
    if value is None:
        raise DecodeError("missing_field", field="lon")
    return _real(value, "lon", -180, 180)


def _heading(value: float | None) -> float | None:
    # 360 and 0 are the same direction; store one spelling.
    return None if value is None else value % 360.0


def _unknown_if_negative(value: float | None) -> float | None:
    return None if value is None or value < 0 else value


def _string(obj: Mapping[str, Any], key: str, max_len: int) -> str:
    value = _opt_string(obj, key, max_len)
    if value is None:
        raise DecodeError("missing_field", field=key)
    return value


def _opt_string(obj: Mapping[str, Any], key: str, max_len: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError("wrong_type", "expected a string", field=key)
    if not 0 < len(value) <= max_len:
        raise DecodeError("out_of_range", f"length must be 1..{max_len}", field=key)
    # PostgreSQL refuses NUL in text: stored, one such message would fail its whole batch.
    why = unstorable_text(value)
    if why is not None:
        raise DecodeError("unstorable_text", why, field=key)
    return value


def _timestamp(value: object, key: str) -> datetime:
    """Read RFC 3339 text (with an offset) or epoch seconds as an aware UTC datetime."""
    if isinstance(value, str):
        if not _RFC3339.fullmatch(value):
            raise DecodeError("bad_timestamp", "expected RFC 3339 with an offset", field=key)
        try:
            ts = datetime.fromisoformat(value.upper()).astimezone(UTC)
        except (ValueError, OverflowError):
            raise DecodeError("bad_timestamp", value[:40], field=key) from None
    else:
        seconds = _real_value(value, key)
        lo, hi = (TS_MIN - _EPOCH).total_seconds(), (TS_MAX - _EPOCH).total_seconds()
        if not lo <= seconds < hi:
            raise DecodeError("bad_timestamp", "epoch seconds out of range", field=key)
        ts = _EPOCH + timedelta(seconds=float(seconds))
    if not TS_MIN <= ts < TS_MAX:
        raise DecodeError("bad_timestamp", "not between 2000 and 2100", field=key)
    return ts


def _osmand_timestamp(raw: str) -> datetime:
    if _TRACCAR_LOCAL.fullmatch(raw):
        # Traccar's own form `yyyy-MM-dd HH:mm:ss`, zone-less: UTC, as Traccar servers run.
        return _timestamp(raw.replace(" ", "T") + "Z", "timestamp")
    if not _DECIMAL.fullmatch(raw):
        return _timestamp(raw, "timestamp")
    number = float(raw)
    # A float is exact for integers below 2**53, far past any epoch in milliseconds.
    if number >= _OSMAND_MS_THRESHOLD:
        number /= 1000.0
    return _timestamp(number, "timestamp")


def _param_number(raw: str, key: str) -> float:
    text = raw.strip()
    if text.lstrip("+-").lower() in _NON_FINITE_WORDS:
        raise DecodeError("nan", text[:20], field=key)
    # float() would also take "1_000" and non-ASCII digits; the wire says plain decimals.
    if not _DECIMAL.fullmatch(text):
        raise DecodeError("wrong_type", "expected a decimal number", field=key)
    value = float(text)
    if not math.isfinite(value):
        raise DecodeError("nan", "overflows a float", field=key)
    return value
