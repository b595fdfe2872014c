"""One listener per process; every SSE subscriber is fed from its rounds, none queries alone."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from backend.db import READ_ONLY, Database
from backend.errors import ServiceUnavailable
from backend.live.collect import Collector
from backend.live.events import EventType, LiveEvent, sse
from backend.live.signals import ChangeWaiter, waiter_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSettings:
    """Tuning of the hub (from `Config`: LIVE_POLL_SECONDS, LIVE_KEEPALIVE_SECONDS, ...)."""

    poll_s: float = 0.5
    keepalive_s: float = 15.0
    queue_size: int = 1000
    ready_timeout_s: float = 30.0
    # With a read replica: how long a round waits for the replica to replay what was notified.
    replica_wait_s: float = 1.0


class Subscription:
    """One SSE client: what it may see, and a queue the hub fills."""

    def __init__(
        self, departments: frozenset[int] | None, types: frozenset[EventType], size: int
    ) -> None:
        self.departments = departments
        self.types = types
        self.queue: queue.Queue[LiveEvent] = queue.Queue(maxsize=size)
        self.ready = threading.Event()
        self.lagging = False

    def offer(self, events: Iterable[LiveEvent]) -> None:
        """Queue the events this subscriber may see; a full queue marks it lagging."""
        for event in events:
            if event.type in self.types and event.visible_to(self.departments):
                try:
                    self.queue.put_nowait(event)
                except queue.Full:
                    self.lagging = True  # it reconnects and resumes; the hub never waits
                    return

    def take(self, timeout: float) -> list[LiveEvent]:
        """Wait up to `timeout` for events; return all that are queued."""
        try:
            found = [self.queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                found.append(self.queue.get_nowait())
            except queue.Empty:
                return found


class LiveHub:
    """Runs one thread that waits for commits and fans each round's events out."""

    def __init__(self, database: Database, settings: LiveSettings | None = None) -> None:
        self.database = database
        self.settings = settings or LiveSettings()
        # Its own sessions (never a request's): reads only, no write lock; on the read replica
        # when one is set (READ_DATABASE_URL). The listener stays on the primary, where the
        # commits are notified.
        self._sessions = sessionmaker(
            bind=database.read_engine.execution_options(**{READ_ONLY: True}),
            expire_on_commit=False,
        )
        self._replica = database.replica_engine is not None
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._pending: list[Subscription] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.rounds = 0  # how many query rounds ran (tests check one per change, not per client)

    def subscribe(
        self, departments: frozenset[int] | None, types: Iterable[EventType]
    ) -> Subscription:
        """Register a subscriber; return once every later commit will reach it."""
        sub = Subscription(departments, frozenset(types), self.settings.queue_size)
        with self._lock:
            if self._stopped:
                raise ServiceUnavailable("The live feed is shutting down; retry.")
            self._pending.append(sub)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
                self._thread.start()
        self._wake.set()
        if not sub.ready.wait(self.settings.ready_timeout_s):
            self.unsubscribe(sub)
            raise ServiceUnavailable("The live feed is not available right now; retry.")
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscriber (its client went away or its stream ended)."""
        with self._lock:
            self._subscribers.discard(sub)
            if sub in self._pending:
                self._pending.remove(sub)
            idle = not self._subscribers and not self._pending
        if idle:
            self._wake.set()  # the listener stops now, not after its keep-alive wait

    def stop(self, timeout: float = 30.0) -> None:
        """End every stream's feed and the listener thread (app teardown, end of tests)."""
        with self._lock:
            self._stopped = True
            self._subscribers.clear()
            self._pending.clear()
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def listener(self) -> threading.Thread | None:
        """The listener thread while one runs."""
        return self._thread

    def subscriber_count(self) -> int:
        """How many streams are open."""
        with self._lock:
            return len(self._subscribers) + len(self._pending)

    def _run(self) -> None:
        waiter: ChangeWaiter | None = None
        collector: Collector | None = None
        while True:
            with self._lock:
                if self._stopped or (not self._subscribers and not self._pending):
                    # Nobody listens: stop; the next subscriber starts afresh.
                    self._thread = None
                    if waiter is not None:
                        waiter.close()
                    return
            try:
                if waiter is None:
                    waiter = waiter_for(self.database.engine, self.settings.poll_s)
                with self._lock:
                    pending = bool(self._pending)
                changed = pending or waiter.wait(self._wake, self.settings.keepalive_s)
                self._wake.clear()
                with self._lock:
                    pending = bool(self._pending)
                if changed or pending or collector is None:
                    if self._replica and changed:
                        # What was notified is on the replica before the round reads it.
                        self._await_replica(waiter.position())
                    collector = self._round(collector)
            except Exception:  # noqa: BLE001 - the feed must outlive a database outage
                if self._stopped:
                    continue  # torn down under us (the database went away): just end
                log.exception("live hub round failed; reconnecting")
                if waiter is not None:
                    waiter.close()
                # The collector keeps its cursors: the next round reads what the outage hid.
                waiter = None
                self._wake.wait(1)

    def _await_replica(self, position: str | None) -> None:
        """Wait (up to `replica_wait_s`) until the replica replayed the primary's `position`.

        A replica that is not a standby (no replay position) counts as caught up; one still
        behind after the wait is read anyway, and what it missed comes with a later round
        (the collector's cursors look back, and the fleet's next fix notifies again).
        """
        if position is None:
            return
        deadline = time.monotonic() + self.settings.replica_wait_s
        with self._sessions() as session:
            while True:
                caught_up = session.execute(
                    text("SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn), true)"),
                    {"lsn": position},
                ).scalar_one()
                session.rollback()
                if caught_up or time.monotonic() >= deadline:
                    return
                time.sleep(0.005)

    def _round(self, collector: Collector | None) -> Collector:
        with self._sessions() as session:
            if collector is None:
                collector = Collector(session)
                found: list[LiveEvent] = []
            else:
                found = collector.round(session)
            session.rollback()
        self.rounds += 1
        with self._lock:
            joining, self._pending = self._pending, []
            self._subscribers.update(joining)
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.offer(found)
        for sub in joining:  # from here on every commit reaches it
            sub.ready.set()
        return collector


def stream(
    hub: LiveHub,
    sub: Subscription,
    backlog: list[LiveEvent],
    *,
    max_seconds: float | None,
    id_types: frozenset[EventType] = frozenset(),
) -> Iterator[str]:
    """Yield the backlog, then live events, until `max_seconds` pass or the client lags.

    Holds no database session while it waits. Only events of `id_types` carry an `id:`, so a
    client's Last-Event-ID always names one kind of cursor.
    """
    sent: set[str] = set()

    def fresh(events: Iterable[LiveEvent]) -> Iterator[str]:
        for event in events:
            with_id = event.type in id_types and event.event_id is not None
            if with_id:  # the backlog and the first live round may overlap
                key = str(event.event_id if event.change_id is None else event.change_id)
                if key in sent:
                    continue
                sent.add(key)
            yield event.sse(with_id=with_id)

    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    try:
        yield "retry: 3000\n\n"
        yield from fresh(backlog)
        while True:
            remaining = hub.settings.keepalive_s
            if deadline is not None:
                remaining = min(remaining, deadline - time.monotonic())
                if remaining <= 0:
                    yield sse("end", {"reason": "max_seconds"})
                    return
            events = sub.take(remaining)
            if sub.lagging:
                yield sse("end", {"reason": "lagging"})
                return
            if len(sent) > 10_000:
                sent.clear()
            yield from fresh(events) if events else [": keep-alive\n\n"]
    finally:
        hub.unsubscribe(sub)
