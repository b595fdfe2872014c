"""One round's events shared among streams: grouped by audience, formatted once, coalesced."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from backend.live.events import BBox, EventType, LiveEvent


class Item(NamedTuple):
    """An event as a stream sends it: its bytes, and its resume key when it carries an id."""

    event: LiveEvent
    frame: bytes
    key: str | None


@dataclass(frozen=True)
class Audience:
    """What a stream may see. Streams with equal audiences share each round's bytes.

    `departments` is the subscriber's scope as the authorization policy computed it for that
    subscriber (`backend.auth.policy.department_filter`): two dispatchers share an audience
    only when their scopes are the same set, so sharing never widens what either sees.
    """

    departments: frozenset[int] | None
    types: frozenset[EventType]
    # Event types sent with their `id:` (the stream's Last-Event-ID names one kind of cursor).
    id_types: frozenset[EventType] = frozenset()
    bbox: BBox | None = None  # a viewport: positions outside it are not sent

    def sees(self, event: LiveEvent) -> bool:
        """Tell whether this audience may see the event (type, scope, viewport)."""
        return (
            event.type in self.types
            and event.visible_to(self.departments)
            and (self.bbox is None or event.inside(self.bbox))
        )

    def item(self, event: LiveEvent) -> Item:
        """The event as this audience's streams send it."""
        if event.type in self.id_types and event.event_id is not None:
            key = str(event.event_id if event.change_id is None else event.change_id)
            return Item(event, event.frame(with_id=True), key)
        return Item(event, event.frame(with_id=False), None)

    def batch(self, events: Iterable[LiveEvent]) -> Batch | None:
        """This audience's share of a round, or None when it sees nothing of it."""
        items = [self.item(event) for event in events if self.sees(event)]
        return Batch(items) if items else None


class Batch:
    """One round's events for one audience; every stream of the audience sends the same bytes."""

    __slots__ = ("body", "items", "others", "resumable")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.body = b"".join(item.frame for item in items)
        # Events a late stream must still get one by one (positions coalesce, these do not).
        self.others = sum(1 for item in items if item.event.vehicle_id is None)
        self.resumable = any(item.key is not None for item in items)


def coalesce(batches: list[Batch]) -> list[Item]:
    """The events of several rounds in order, each vehicle's position only at its latest.

    A map needs where a vehicle is now, not every fix it passed while the stream was behind.
    """
    if len(batches) == 1:
        return batches[0].items
    items = [item for batch in batches for item in batch.items]
    latest = {item.event.vehicle_id: i for i, item in enumerate(items)}
    return [
        item
        for i, item in enumerate(items)
        if item.event.vehicle_id is None or latest[item.event.vehicle_id] == i
    ]


class Subscription:
    """One SSE client: its audience, and the batches the hub left for it since it last took.

    The hub hands each round over in O(1) per stream. A stream whose client reads slowly has
    its waiting rounds coalesced every `MERGE_AT` rounds, so what it holds stays bounded by the
    fleet plus its other events; more than `size` events other than positions waiting mark it
    lagging: it reconnects and resumes.
    """

    MERGE_AT = 8

    def __init__(self, audience: Audience, size: int) -> None:
        self.audience = audience
        self.size = size
        self.ready = threading.Event()
        self.lagging = False
        self._batches: list[Batch] = []
        self._others = 0
        self._arrived = threading.Condition()

    def offer(self, batch: Batch) -> None:
        """Leave a round's batch; too far behind, the stream is marked lagging (never awaited)."""
        with self._arrived:
            if self.lagging:
                return
            self._batches.append(batch)
            self._others += batch.others
            if self._others > self.size:
                self.lagging = True
                self._batches = []
            elif len(self._batches) >= self.MERGE_AT:
                self._batches = [Batch(coalesce(self._batches))]
            self._arrived.notify()

    def take(self, timeout: float) -> list[Batch]:
        """Wait up to `timeout` for batches; return all that are waiting."""
        with self._arrived:
            if not self._batches and not self.lagging:
                self._arrived.wait(timeout)
            found, self._batches, self._others = self._batches, [], 0
            return found
