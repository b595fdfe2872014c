"""Tests for backend.tracking.ingest.decode: the wire contract and the foreign protocols."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.tracking.ingest.decode import (
    DecodeError,
    EventType,
    OrderAck,
    PositionFix,
    TerminalEvent,
    TopicRef,
    VehicleStatus,
    decode_ack,
    decode_fieldline_event,
    decode_fieldline_position,
    decode_mqtt,
    decode_osmand,
    decode_owntracks,
    decode_status,
    decode_traccar_json,
    parse_topic,
)
from gis.datum import Datum

TS = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
EPOCH = 1714550400  # TS as epoch seconds


def dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def reason_of(call: Any, *args: Any) -> str:
    with pytest.raises(DecodeError) as info:
        call(*args)
    return info.value.reason


# --- topics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("fieldline/v1/vehicles/V-17/position", TopicRef("position", "V-17")),
        ("fieldline/v1/vehicles/V-17/event", TopicRef("event", "V-17")),
        ("fieldline/v1/vehicles/V-17/status", TopicRef("status", "V-17")),
        ("fieldline/v1/vehicles/V-17/ack", TopicRef("ack", "V-17")),
        ("owntracks/alice/phone", TopicRef("owntracks", "alice/phone")),
        ("fieldline/v1/vehicles/V-17/orders", None),
        ("fieldline/v1/vehicles//position", None),
        ("fieldline/v1/vehicles/+/position", None),
        ("fieldline/v2/vehicles/V-17/position", None),
        ("fieldline/v1/vehicles/V-17/position/extra", None),
        ("owntracks/alice/phone/event", None),
        ("owntracks/alice", None),
        ("", None),
    ],
)
def test_parse_topic(topic: str, expected: TopicRef | None) -> None:
    assert parse_topic(topic) == expected


def test_parse_topic_custom_root() -> None:
    assert parse_topic("acme/fl/v1/vehicles/7/position", root="acme/fl/v1") == TopicRef(
        "position", "7"
    )
    assert parse_topic("fieldline/v1/vehicles/7/position", root="acme/fl/v1") is None


# --- fieldline position ------------------------------------------------------------------


def test_full_position() -> None:
    payload = {
        "ts": "2024-05-01T16:00:00+08:00",
        "lat": 39.907,
        "lon": 116.391,
        "acc": 4.5,
        "speed": 12.5,
        "heading": 360,
        "batt": 87,
        "seq": 42,
        "extra": "ignored for forward compatibility",
    }
    fix = decode_fieldline_position("V-17", dumps(payload), datum=Datum.GCJ02)
    assert fix == PositionFix(
        vehicle="V-17",
        ts=TS,
        lat=39.907,
        lon=116.391,
        acc=4.5,
        speed=12.5,
        heading=0.0,
        batt=87.0,
        seq=42,
        datum=Datum.GCJ02,
    )
    assert fix.ts.tzinfo is UTC


def test_minimal_position_with_epoch_and_nulls() -> None:
    fix = decode_fieldline_position(
        "V-17", dumps({"ts": EPOCH, "lat": 0.5, "lon": -1, "acc": None, "seq": None})
    )
    assert (fix.ts, fix.lat, fix.lon, fix.acc, fix.seq, fix.datum) == (
        TS,
        0.5,
        -1.0,
        None,
        None,
        Datum.WGS84,
    )
    assert isinstance(fix.lon, float)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2024-05-01T08:00:00Z", TS),
        ("2024-05-01t08:00:00z", TS),
        ("2024-05-01 08:00:00Z", TS),
        ("2024-05-01T08:00:00.123456789Z", TS + timedelta(microseconds=123456)),
        ("2024-05-01T03:30:00-04:30", TS),
        (EPOCH + 0.5, TS + timedelta(milliseconds=500)),
    ],
)
def test_timestamps(ts: Any, expected: datetime) -> None:
    payload = dumps({"ts": ts, "lat": 1, "lon": 1})
    assert decode_fieldline_position("v", payload).ts == expected


BASE = {"ts": "2024-05-01T08:00:00Z", "lat": 39.9, "lon": 116.4}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "malformed_json"),
        (b"{", "malformed_json"),
        (b"\xff\xfe{}", "malformed_json"),
        (b'{"lat": 1' + b"1" * 5000 + b"}", "malformed_json"),
        (b"[" * 5000 + b"]" * 5000, "too_large"),
        (b"[" * 4000 + b"]" * 4000, "malformed_json"),
        (b"[]", "not_an_object"),
        (b'"x"', "not_an_object"),
        (b"null", "not_an_object"),
        (b" " * 8193, "too_large"),
        (dumps({**BASE, "pad": "x" * 8200}), "too_large"),
        (dumps({"lat": 1, "lon": 1}), "missing_field"),
        (dumps({**BASE, "lat": None}), "missing_field"),
        (dumps({"ts": BASE["ts"], "lat": 1}), "missing_field"),
        (dumps({**BASE, "lat": "39.9"}), "wrong_type"),
        (dumps({**BASE, "lat": True}), "wrong_type"),
        (dumps({**BASE, "acc": False}), "wrong_type"),
        (dumps({**BASE, "lon": [116]}), "wrong_type"),
        (dumps({**BASE, "seq": 1.0}), "wrong_type"),
        (dumps({**BASE, "seq": True}), "wrong_type"),
        (b'{"ts": "2024-05-01T08:00:00Z", "lat": NaN, "lon": 1}', "nan"),
        (b'{"ts": "2024-05-01T08:00:00Z", "lat": 1, "lon": -Infinity}', "nan"),
        (b'{"ts": "2024-05-01T08:00:00Z", "lat": 1, "lon": 1, "speed": 1e999}', "nan"),
        (b'{"ts": NaN, "lat": 1, "lon": 1}', "nan"),
        (dumps({**BASE, "lat": 90.0001}), "out_of_range"),
        (dumps({**BASE, "lon": -180.5}), "out_of_range"),
        (dumps({**BASE, "lat": 10**400}), "out_of_range"),
        (dumps({**BASE, "acc": -1}), "out_of_range"),
        (dumps({**BASE, "speed": -0.1}), "out_of_range"),
        (dumps({**BASE, "heading": 361}), "out_of_range"),
        (dumps({**BASE, "batt": 101}), "out_of_range"),
        (dumps({**BASE, "seq": -1}), "out_of_range"),
        (dumps({**BASE, "seq": 2**63}), "out_of_range"),
        (dumps({**BASE, "ts": "2024-05-01T08:00:00"}), "bad_timestamp"),
        (dumps({**BASE, "ts": "2024-05-01"}), "bad_timestamp"),
        (dumps({**BASE, "ts": "yesterday"}), "bad_timestamp"),
        (dumps({**BASE, "ts": "2024-13-01T08:00:00Z"}), "bad_timestamp"),
        (dumps({**BASE, "ts": "2024-05-01T08:00:60Z"}), "bad_timestamp"),
        (dumps({**BASE, "ts": "9999-12-31T23:59:59-23:59"}), "bad_timestamp"),
        (dumps({**BASE, "ts": "1999-12-31T23:59:59Z"}), "bad_timestamp"),
        (dumps({**BASE, "ts": "٢٠٢٤-05-01T08:00:00Z"}), "bad_timestamp"),
        (dumps({**BASE, "ts": EPOCH * 1000}), "bad_timestamp"),
        (dumps({**BASE, "ts": 10**400}), "bad_timestamp"),
        (dumps({**BASE, "ts": -1}), "bad_timestamp"),
        (dumps({**BASE, "ts": True}), "wrong_type"),
        (dumps({**BASE, "ts": {"s": 1}}), "wrong_type"),
    ],
)
def test_position_rejections(payload: bytes, reason: str) -> None:
    assert reason_of(decode_fieldline_position, "v", payload) == reason


def test_decode_error_carries_field() -> None:
    with pytest.raises(DecodeError) as info:
        decode_fieldline_position("v", dumps({**BASE, "lat": 91}))
    assert (info.value.reason, info.value.field) == ("out_of_range", "lat")
    assert "lat" in str(info.value)
    assert not isinstance(info.value, ValueError)


# --- events and acks ---------------------------------------------------------------------


def test_event() -> None:
    payload = {"event_id": "e-1", "order_id": "o-1", "type": "arrived", "ts": EPOCH}
    assert decode_fieldline_event("V-17", dumps(payload)) == TerminalEvent(
        vehicle="V-17", event_id="e-1", order_id="o-1", type=EventType.ARRIVED, ts=TS
    )


def test_unavailable_without_order_with_reason() -> None:
    payload = {"event_id": "e-2", "type": "unavailable", "ts": EPOCH, "reason": "flat tyre"}
    event = decode_fieldline_event("V-17", dumps(payload))
    assert (event.order_id, event.type, event.reason) == (None, "unavailable", "flat tyre")


EVENT = {"event_id": "e-1", "order_id": "o-1", "type": "accepted", "ts": EPOCH}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({**EVENT, "type": "teleported"}, "out_of_range"),
        ({**EVENT, "type": 3}, "wrong_type"),
        ({**EVENT, "order_id": None}, "missing_field"),
        ({**EVENT, "event_id": None}, "missing_field"),
        ({**EVENT, "event_id": ""}, "out_of_range"),
        ({**EVENT, "event_id": "x" * 129}, "out_of_range"),
        ({**EVENT, "order_id": 17}, "wrong_type"),
        ({**EVENT, "ts": "soon"}, "bad_timestamp"),
        ({**EVENT, "reason": ["a"]}, "wrong_type"),
        # Text PostgreSQL cannot store would fail the whole ingest batch it rides in.
        ({**EVENT, "event_id": "e\x00"}, "unstorable_text"),
        ({**EVENT, "order_id": "\ud800"}, "unstorable_text"),
        ({**EVENT, "reason": "flat\x00"}, "unstorable_text"),
    ],
)
def test_event_rejections(payload: dict[str, Any], reason: str) -> None:
    assert reason_of(decode_fieldline_event, "v", dumps(payload)) == reason


def test_ack() -> None:
    payload = {"order_id": "o-1", "message_id": "m-9", "ts": "2024-05-01T08:00:00Z"}
    assert decode_ack("V-17", dumps(payload)) == OrderAck("V-17", "o-1", "m-9", TS)
    assert reason_of(decode_ack, "v", dumps({"order_id": "o-1", "ts": EPOCH})) == "missing_field"


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"online", True), (b"offline", False), (b" offline\n", False)],
)
def test_status(payload: bytes, expected: bool) -> None:
    assert decode_status("V-17", payload) == VehicleStatus("V-17", expected)


def test_status_rejections() -> None:
    assert reason_of(decode_status, "v", b"maybe") == "out_of_range"
    assert reason_of(decode_status, "v", b"x" * 9000) == "too_large"


# --- OwnTracks ----------------------------------------------------------------------------

OWNTRACKS = {
    "_type": "location",
    "tid": "al",
    "lat": 39.907,
    "lon": 116.391,
    "tst": EPOCH,
    "acc": 12,
    "vel": 36,
    "cog": 90,
    "batt": 64,
    "alt": 44,
}


def test_owntracks_location() -> None:
    fix = decode_owntracks("alice", "phone", dumps(OWNTRACKS))
    assert fix == PositionFix(
        vehicle="alice/phone",
        ts=TS,
        lat=39.907,
        lon=116.391,
        acc=12.0,
        speed=pytest.approx(10.0),  # type: ignore[arg-type]
        heading=90.0,
        batt=64.0,
        alt=44.0,
    )


def test_owntracks_unknown_velocity_and_course() -> None:
    fix = decode_owntracks("a", "b", dumps({**OWNTRACKS, "vel": -1, "cog": -1}))
    assert (fix.speed, fix.heading) == (None, None)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"_type": "lwt", "tst": EPOCH}, "ignored_type"),
        ({"_type": "transition", "event": "enter"}, "ignored_type"),
        ({"_type": "encrypted", "data": "..."}, "ignored_type"),
        ({"lat": 1, "lon": 1, "tst": EPOCH}, "missing_field"),
        ({**OWNTRACKS, "_type": 1}, "wrong_type"),
        ({**OWNTRACKS, "tst": "2024-05-01T08:00:00Z"}, "wrong_type"),
        ({**OWNTRACKS, "tst": None}, "missing_field"),
        ({**OWNTRACKS, "vel": -2}, "out_of_range"),
        ({**OWNTRACKS, "lat": "39.9"}, "wrong_type"),
    ],
)
def test_owntracks_rejections(payload: dict[str, Any], reason: str) -> None:
    assert reason_of(decode_owntracks, "a", "b", dumps(payload)) == reason


# --- OsmAnd / Traccar Client HTTP -------------------------------------------------------

OSMAND = {
    "id": "123456",
    "lat": "39.907",
    "lon": "116.391",
    "timestamp": str(EPOCH),
    "speed": "10",
    "bearing": "180.5",
    "altitude": "44.2",
    "accuracy": "8",
    "batt": "77.0",
}


def test_osmand() -> None:
    fix = decode_osmand(OSMAND)
    assert fix.vehicle == "123456"
    assert (fix.ts, fix.lat, fix.lon, fix.acc, fix.heading, fix.batt, fix.alt) == (
        TS,
        39.907,
        116.391,
        8.0,
        180.5,
        77.0,
        44.2,
    )
    assert fix.speed == pytest.approx(5.144444, abs=1e-6)  # 10 knots


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (str(EPOCH), TS),
        (str(EPOCH * 1000 + 250), TS + timedelta(milliseconds=250)),
        (f"{EPOCH}.5", TS + timedelta(milliseconds=500)),
        ("2024-05-01T08:00:00Z", TS),
        ("2024-05-01T16:00:00+08:00", TS),
    ],
)
def test_osmand_timestamp_forms(timestamp: str, expected: datetime) -> None:
    assert decode_osmand({**OSMAND, "timestamp": timestamp}).ts == expected


def test_osmand_optional_fields_and_aliases() -> None:
    minimal = {"deviceid": "abc", "lat": "1", "lon": "2", "timestamp": str(EPOCH), "speed": ""}
    fix = decode_osmand(minimal)
    assert (fix.vehicle, fix.speed, fix.acc, fix.heading) == ("abc", None, None, None)
    assert decode_osmand({**minimal, "heading": "90"}).heading == 90.0


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"id": ""}, "missing_field"),
        ({"id": "a/b"}, "out_of_range"),
        ({"lat": ""}, "missing_field"),
        ({"timestamp": ""}, "missing_field"),
        ({"lat": "NaN"}, "nan"),
        ({"lon": "-inf"}, "nan"),
        ({"speed": "1e999"}, "nan"),
        ({"lat": "1_0"}, "wrong_type"),
        ({"lat": "٣"}, "wrong_type"),
        ({"lat": "north"}, "wrong_type"),
        ({"lat": "91"}, "out_of_range"),
        ({"speed": "-1"}, "out_of_range"),
        ({"timestamp": "tomorrow"}, "bad_timestamp"),
        ({"timestamp": "99999999999999999999"}, "bad_timestamp"),
        ({"batt": "x" * 9000}, "too_large"),
    ],
)
def test_osmand_rejections(override: dict[str, str], reason: str) -> None:
    assert reason_of(decode_osmand, {**OSMAND, **override}) == reason


# --- Traccar Client JSON ------------------------------------------------------------------

TRACCAR = {
    "device_id": "9f1c",
    "location": {
        "timestamp": "2024-05-01T08:00:00.000Z",
        "coords": {
            "latitude": 39.907,
            "longitude": 116.391,
            "accuracy": 6.1,
            "speed": 3.2,
            "heading": 271.0,
            "altitude": 50.0,
        },
        "battery": {"level": 0.52, "is_charging": False},
        "is_moving": True,
    },
}


def test_traccar_json() -> None:
    fix = decode_traccar_json(dumps(TRACCAR))
    assert fix == PositionFix(
        vehicle="9f1c",
        ts=TS,
        lat=39.907,
        lon=116.391,
        acc=6.1,
        speed=3.2,
        heading=271.0,
        batt=52.0,
        alt=50.0,
    )


def test_traccar_json_unknowns() -> None:
    body = json.loads(json.dumps(TRACCAR))
    body["location"]["coords"].update(speed=-1, heading=-1)
    body["location"]["battery"] = {"level": -1}
    fix = decode_traccar_json(dumps(body))
    assert (fix.speed, fix.heading, fix.batt) == (None, None, None)
    del body["location"]["battery"]
    assert decode_traccar_json(dumps(body)).batt is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b.pop("device_id"), "missing_field"),
        (lambda b: b.update(device_id="a/b"), "out_of_range"),
        (lambda b: b.update(location=[1]), "wrong_type"),
        (lambda b: b["location"].pop("coords"), "missing_field"),
        (lambda b: b["location"].update(battery=0.5), "wrong_type"),
        (lambda b: b["location"]["coords"].update(latitude=None), "missing_field"),
        (lambda b: b["location"]["coords"].update(speed=-2), "out_of_range"),
        (lambda b: b["location"]["battery"].update(level=1.5), "out_of_range"),
        (lambda b: b["location"].update(timestamp="2024-05-01"), "bad_timestamp"),
    ],
)
def test_traccar_json_rejections(mutate: Any, reason: str) -> None:
    body = json.loads(json.dumps(TRACCAR))
    mutate(body)
    assert reason_of(decode_traccar_json, dumps(body)) == reason


# --- dispatch by topic ---------------------------------------------------------------------


def test_decode_mqtt_dispatches_by_topic() -> None:
    position = dumps({"ts": EPOCH, "lat": 1, "lon": 2})
    assert isinstance(decode_mqtt("fieldline/v1/vehicles/v/position", position), PositionFix)
    event = dumps(EVENT)
    assert isinstance(decode_mqtt("fieldline/v1/vehicles/v/event", event), TerminalEvent)
    ack = dumps({"order_id": "o", "message_id": "m", "ts": EPOCH})
    assert isinstance(decode_mqtt("fieldline/v1/vehicles/v/ack", ack), OrderAck)
    assert decode_mqtt("fieldline/v1/vehicles/v/status", b"online") == VehicleStatus("v", True)
    fix = decode_mqtt("owntracks/alice/phone", dumps(OWNTRACKS))
    assert isinstance(fix, PositionFix)
    assert fix.vehicle == "alice/phone"
    assert reason_of(decode_mqtt, "fieldline/v1/vehicles/v/orders", b"{}") == "unknown_topic"
    assert reason_of(decode_mqtt, "owntracks/alice/phone/event", b"{}") == "unknown_topic"
