"""Sharing rounds among streams: one batch per audience, positions coalesced, lag by events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from backend.live.events import EventType, LiveEvent
from backend.live.fanout import Audience, Batch, Subscription, coalesce
from backend.live.hub import LiveSettings, stream

URBAN, SUBURBAN = 11, 12
FEED = frozenset({EventType.POSITION, EventType.ORDER})


def _position(vehicle_id: int, ts: str, lon: float = 120.16, lat: float = 30.27) -> LiveEvent:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"vehicle_id": vehicle_id, "ts": ts},
    }
    return LiveEvent(EventType.POSITION, feature, frozenset({URBAN}), vehicle_id=vehicle_id)


def _order(number: str, change_id: int) -> LiveEvent:
    data = {"order_id": number, "number": number}
    return LiveEvent(EventType.ORDER, data, frozenset({URBAN}), str(change_id), change_id)


def _round(audience: Audience, *events: LiveEvent) -> Batch:
    batch = audience.batch(events)
    assert batch is not None
    return batch


def _events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for block in body.decode().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            found.append((lines["event"], json.loads(lines["data"])))
    return found


class _Hub:
    """What `stream` needs of a hub."""

    settings = LiveSettings(keepalive_s=0.01)

    def unsubscribe(self, sub: Subscription) -> None:
        """Nothing to forget."""


def test_a_stream_behind_gets_each_vehicle_once_at_its_latest_fix() -> None:
    audience = Audience(frozenset({URBAN}), FEED, frozenset({EventType.ORDER}))
    sub = Subscription(audience, size=100)
    body: Iterator[bytes] = stream(_Hub(), sub, [], max_seconds=None)  # type: ignore[arg-type]
    assert next(body) == b"retry: 3000\n\n"
    # Three rounds arrive before the stream writes again: the client was slow to read.
    sub.offer(_round(audience, _position(1, "t1"), _order("WO-1", 7), _position(2, "t1")))
    sub.offer(_round(audience, _position(1, "t2")))
    sub.offer(_round(audience, _position(1, "t3"), _order("WO-2", 8)))
    sent = _events(next(body))
    assert sent == [
        ("order", {"order_id": "WO-1", "number": "WO-1"}),
        ("position", _position(2, "t1").data),
        ("position", _position(1, "t3").data),
        ("order", {"order_id": "WO-2", "number": "WO-2"}),
    ]
    # A stream that keeps up gets the round's shared bytes as they are.
    latest = _round(audience, _position(1, "t4"), _position(2, "t4"))
    sub.offer(latest)
    assert next(body) == latest.body
    assert next(body) == b": keep-alive\n\n"


def test_coalescing_keeps_every_other_event_in_order() -> None:
    audience = Audience(None, FEED)
    rounds = [
        _round(audience, _position(1, "a"), _order("WO-1", 1)),
        _round(audience, _order("WO-1", 2), _position(1, "b"), _position(3, "b")),
    ]
    kept = coalesce(rounds)
    assert [(i.event.type, i.event.data.get("number")) for i in kept][:2] == [
        (EventType.ORDER, "WO-1"),
        (EventType.ORDER, "WO-1"),
    ]
    positions = [i.event.data["properties"] for i in kept if i.event.type == EventType.POSITION]
    assert positions == [{"vehicle_id": 1, "ts": "b"}, {"vehicle_id": 3, "ts": "b"}]
    # Each event was formatted once: every stream of the audience sends the same bytes.
    assert all(item.frame is item.event.frame(with_id=False) for item in kept)


def test_positions_never_make_a_stream_lag_other_events_do() -> None:
    audience = Audience(frozenset({URBAN}), FEED)
    sub = Subscription(audience, size=5)
    for ts in range(50):
        sub.offer(_round(audience, *(_position(v, str(ts)) for v in range(10))))
    assert not sub.lagging  # 500 fixes of 10 vehicles: the stream will send 10
    held = sub.take(0)
    assert len(held) < Subscription.MERGE_AT  # a slow reader holds coalesced rounds, not all
    latest = [item.event.data["properties"] for item in coalesce(held)]
    assert latest == [{"vehicle_id": v, "ts": "49"} for v in range(10)]
    sub.offer(_round(audience, *(_order(f"WO-{n}", n) for n in range(6))))
    assert sub.lagging and sub.take(0) == []


def test_an_audience_sees_only_its_departments_types_and_viewport() -> None:
    elsewhere = LiveEvent(
        EventType.POSITION, _position(9, "t").data, frozenset({SUBURBAN}), vehicle_id=9
    )
    events = [_position(1, "t"), elsewhere, _order("WO-1", 1)]
    urban = Audience(frozenset({URBAN}), frozenset({EventType.POSITION}))
    assert urban.batch([elsewhere]) is None
    batch = _round(urban, *events)
    assert [i.event.vehicle_id for i in batch.items] == [1]
    assert b'"vehicle_id":9' not in batch.body
    inside = _position(4, "t", lon=120.16, lat=30.27)
    outside = _position(5, "t", lon=121.5, lat=31.2)
    viewport = Audience(frozenset({URBAN}), FEED, bbox=(120.0, 30.0, 120.5, 30.5))
    kept = _round(viewport, inside, outside, _order("WO-1", 1)).items
    assert [i.event.vehicle_id for i in kept] == [4, None]  # orders are not placed on the map
