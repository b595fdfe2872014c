"""One listener per process; every SSE subscriber is fed from its rounds, none queries alone."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from backend.db import READ_ONLY, Database
from backend.errors import ServiceUnavailable
from backend.live.collect import Collector
from backend.live.events import BBox, EventType, LiveEvent, sse
from backend.live.fanout import Audience, Item, Subscription, coalesce
from backend.live.signals import ChangeWaiter, waiter_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveSettings:
    """Tuning of the hub (from `Config`: LIVE_POLL_SECONDS, LIVE_KEEPALIVE_SECONDS, ...)."""

    poll_s: float = 0.5
    keepalive_s: float = 15.0
    # At most one round this often: under a busy fleet each round sends each moved vehicle
    # once, not one round (and one write per stream) per ingest commit.
    round_s: float = 0.2
    queue_size: int = 1000
    ready_timeout_s: float = 30.0
    # With a read replica: how long a round waits for the replica to replay what was notified.
    replica_wait_s: float = 1.0


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
        # Open streams by audience: each round is filtered and formatted once per audience.
        self._audiences: dict[Audience, set[Subscription]] = {}
        self._pending: list[Subscription] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.rounds = 0  # how many query rounds ran (tests check one per change, not per client)
        self._last_round = 0.0

    def subscribe(
        self,
        departments: frozenset[int] | None,
        types: Iterable[EventType],
        *,
        id_types: Iterable[EventType] = (),
        bbox: BBox | None = None,
    ) -> Subscription:
        """Register a subscriber; return once every later commit will reach it."""
        audience = Audience(departments, frozenset(types), frozenset(id_types), bbox)
        sub = Subscription(audience, self.settings.queue_size)
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
            group = self._audiences.get(sub.audience)
            if group is not None:
                group.discard(sub)
                if not group:
                    del self._audiences[sub.audience]
            if sub in self._pending:
                self._pending.remove(sub)
            idle = not self._audiences and not self._pending
        if idle:
            self._wake.set()  # the listener stops now, not after its keep-alive wait

    def stop(self, timeout: float = 30.0) -> None:
        """End every stream's feed and the listener thread (app teardown, end of tests)."""
        with self._lock:
            self._stopped = True
            self._audiences.clear()
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
            return sum(len(group) for group in self._audiences.values()) + len(self._pending)

    def _run(self) -> None:
        waiter: ChangeWaiter | None = None
        collector: Collector | None = None
        while True:
            with self._lock:
                if self._stopped or (not self._audiences and not self._pending):
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
                    if not pending:
                        self._pace()
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

    def _pace(self) -> None:
        """Wait out the rest of `round_s` since the last round (a new subscriber cuts it short)."""
        rest = self._last_round + self.settings.round_s - time.monotonic()
        if rest > 0:
            self._wake.wait(rest)

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
        self._last_round = time.monotonic()
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
            for sub in joining:
                self._audiences.setdefault(sub.audience, set()).add(sub)
            audiences = [(audience, list(group)) for audience, group in self._audiences.items()]
        # Filtered per audience, each event formatted once, the same batch for every stream.
        for audience, group in audiences:
            batch = audience.batch(found) if found else None
            if batch is not None:
                for sub in group:
                    sub.offer(batch)
        for sub in joining:  # from here on every commit reaches it
            sub.ready.set()
        return collector


def stream(
    hub: LiveHub,
    sub: Subscription,
    backlog: list[LiveEvent],
    *,
    max_seconds: float | None,
    ends_as: str = "max_seconds",
    recheck: Callable[[], str | None] | None = None,
) -> Iterator[bytes]:
    """Yield the backlog, then live events, until `max_seconds` pass or the client lags.

    Holds no database session while it waits. One write per round: the batch its audience
    shares, as is, unless the stream was behind (then coalesced) or has resumable events to
    check against what it already sent. Once per keep-alive period, busy or not, `recheck`
    says whether the caller may still listen (None) or why the stream ends; `ends_as` is the
    reason given when `max_seconds` pass.
    """
    sent: set[str] = set()

    def fresh(items: Iterable[Item]) -> bytes:
        frames = []
        for item in items:
            if item.key is not None:  # the backlog and the first live round may overlap
                if item.key in sent:
                    continue
                sent.add(item.key)
            frames.append(item.frame)
        return b"".join(frames)

    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    next_check = time.monotonic() + hub.settings.keepalive_s
    try:
        yield b"retry: 3000\n\n"
        first = fresh(sub.audience.item(event) for event in backlog)
        # An open stream keeps no copy of the fleet it opened with: 100 consoles holding 2,000
        # events each are hundreds of MB for the garbage collector to walk again and again.
        del backlog
        if first:
            yield first
        del first
        while True:
            # Wakes at least once per keep-alive period, the recheck's too.
            remaining = max(0.0, next_check - time.monotonic())
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    yield sse("end", {"reason": ends_as})
                    return
                remaining = min(remaining, left)
            batches = sub.take(remaining)
            if sub.lagging:
                yield sse("end", {"reason": "lagging"})
                return
            if time.monotonic() >= next_check:
                refused = None if recheck is None else recheck()
                if refused is not None:
                    yield sse("end", {"reason": refused})
                    return
                next_check = time.monotonic() + hub.settings.keepalive_s
            if len(sent) > 10_000:
                sent.clear()
            if not batches:
                yield b": keep-alive\n\n"
            elif len(batches) == 1 and not batches[0].resumable:
                yield batches[0].body
            else:
                body = fresh(coalesce(batches))
                if body:
                    yield body
    finally:
        hub.unsubscribe(sub)
