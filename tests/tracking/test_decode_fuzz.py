"""Fuzz the decoders: only a valid result or a DecodeError may ever come out."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.tracking.ingest.decode import (
    MAX_PAYLOAD_BYTES,
    Decoded,
    DecodeError,
    OrderAck,
    PositionFix,
    Reason,
    TerminalEvent,
    VehicleStatus,
    decode_ack,
    decode_fieldline_event,
    decode_fieldline_position,
    decode_mqtt,
    decode_osmand,
    decode_owntracks,
    decode_traccar_json,
    parse_topic,
)

REASONS = set(get_args(Reason))
FUZZ = settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)

numbers = (
    st.integers()
    | st.builds(lambda sign, exp: sign * 10**exp, st.sampled_from([1, -1]), st.integers(300, 500))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -1, 90, 90.0000001, 180, 1e308, 1714550400, 1714550400000])
)
scalars = (
    st.none()
    | st.booleans()
    | numbers
    | st.text(max_size=30)
    | st.sampled_from(["2024-05-01T08:00:00Z", "location", "arrived", "2024-05-01T08:00:00"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
KEYS = [
    "ts", "lat", "lon", "acc", "speed", "heading", "batt", "seq", "event_id", "order_id", "type",
    "reason", "message_id", "_type", "tst", "vel", "cog", "alt", "device_id", "location",
    "timestamp", "coords", "latitude", "longitude", "accuracy", "battery", "level",
]  # fmt: skip
# Objects shaped like real messages reach the field checks, not just the JSON parser.
near_valid = st.recursive(
    st.fixed_dictionaries({}, optional={k: scalars for k in KEYS}),
    lambda inner: st.fixed_dictionaries({}, optional={k: inner | scalars for k in KEYS}),
    max_leaves=10,
)


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


payloads = (
    st.binary(max_size=200)
    | json_values.map(encode)
    | near_valid.map(encode)
    | st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 3).map(lambda n: b" " * (MAX_PAYLOAD_BYTES + n))
)

DECODERS: list[Callable[[bytes], Decoded]] = [
    lambda p: decode_fieldline_position("v", p),
    lambda p: decode_fieldline_event("v", p),
    lambda p: decode_ack("v", p),
    lambda p: decode_owntracks("u", "d", p),
    decode_traccar_json,
]


def check_valid(result: Decoded) -> None:
    if isinstance(result, VehicleStatus):
        return
    assert result.ts.tzinfo is UTC
    assert datetime(2000, 1, 1, tzinfo=UTC) <= result.ts < datetime(2100, 1, 1, tzinfo=UTC)
    if isinstance(result, PositionFix):
        assert -90 <= result.lat <= 90 and -180 <= result.lon <= 180
        for value in (
            result.lat,
            result.lon,
            result.acc,
            result.speed,
            result.heading,
            result.batt,
        ):
            assert value is None or (type(value) is float and math.isfinite(value))
        assert result.heading is None or 0 <= result.heading < 360
        assert result.seq is None or type(result.seq) is int
    elif isinstance(result, TerminalEvent):
        assert result.event_id and isinstance(result.event_id, str)
    else:
        assert isinstance(result, OrderAck)


def run(call: Callable[[], Decoded]) -> None:
    try:
        result = call()
    except DecodeError as exc:
        assert exc.reason in REASONS
    else:
        check_valid(result)


@FUZZ
@given(payloads, st.sampled_from(range(len(DECODERS))))
def test_json_decoders_raise_only_decode_error(payload: bytes, which: int) -> None:
    run(lambda: DECODERS[which](payload))


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "deviceid",
                "lat",
                "lon",
                "timestamp",
                "speed",
                "bearing",
                "heading",
                "altitude",
                "accuracy",
                "batt",
                "x",
            ]  # fmt: skip
        ),
        st.text(max_size=25)
        | st.sampled_from(["nan", "-Infinity", "1e999", "90", "1714550400", "1714550400123"])
        | numbers.map(str),
    )
)
def test_osmand_raises_only_decode_error(params: dict[str, str]) -> None:
    run(lambda: decode_osmand(params))


topic_levels = st.sampled_from(
    ["fieldline", "v1", "vehicles", "owntracks", "position", "event", "status", "ack", "", "+"]
) | st.text(max_size=6)


@FUZZ
@given(st.lists(topic_levels, max_size=6).map("/".join), payloads)
def test_topics_and_dispatch_raise_only_decode_error(topic: str, payload: bytes) -> None:
    if parse_topic(topic) is None:
        try:
            decode_mqtt(topic, payload)
        except DecodeError as exc:
            assert exc.reason == "unknown_topic"
        else:
            raise AssertionError("an unknown topic decoded")
    else:
        run(lambda: decode_mqtt(topic, payload))
