"""How many event streams may be open at once: per user and per process (each holds a thread)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from backend.errors import TooManyRequests


@dataclass(frozen=True)
class StreamLimits:
    """Caps on open streams in one process (LIVE_STREAMS_PER_USER, LIVE_STREAMS_PER_PROCESS)."""

    per_user: int = 4
    per_process: int = 16
    # What a refused client is told to wait before it tries again (Retry-After).
    retry_after_s: int = 15


class StreamSlot:
    """One open stream's place; released once, however the stream ends."""

    def __init__(self, slots: StreamSlots, holder: str) -> None:
        self._slots = slots
        self.holder = holder
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        """Give the place back (a second call does nothing)."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self._slots._give_back(self.holder)


class StreamSlots:
    """Counts open streams by holder; refuses (429) past either cap instead of taking a thread."""

    def __init__(self, limits: StreamLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._by_holder: Counter[str] = Counter()
        self._open = 0

    def acquire(self, holder: str) -> StreamSlot:
        """Take a place for `holder` (e.g. `user:3`), or raise 429 with a Retry-After."""
        with self._lock:
            if self._by_holder[holder] >= self.limits.per_user:
                detail = (
                    f"You already have {self.limits.per_user} live streams open; close one "
                    "(or wait for one to end) and retry."
                )
            elif self._open >= self.limits.per_process:
                detail = "This server holds as many live streams as it may; retry shortly."
            else:
                self._by_holder[holder] += 1
                self._open += 1
                return StreamSlot(self, holder)
        raise TooManyRequests(detail, retry_after_seconds=self.limits.retry_after_s)

    def open_count(self, holder: str | None = None) -> int:
        """How many streams are open (of `holder`, or in all)."""
        with self._lock:
            return self._open if holder is None else self._by_holder[holder]

    def _give_back(self, holder: str) -> None:
        with self._lock:
            self._open -= 1
            self._by_holder[holder] -= 1
            if self._by_holder[holder] <= 0:
                del self._by_holder[holder]
