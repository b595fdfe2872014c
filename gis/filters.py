"""Per-vehicle GPS fix filter: drops invalid, duplicate, future, inaccurate and jumping fixes."""

from __future__ import annotations

import bisect
import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from gis.geometry import haversine_m, is_valid_lon_lat

# Nobody services meters in the Gulf of Guinea: (0, 0) is a receiver's "no fix yet".
_NULL_ISLAND_DEG = 1e-5


class FixLike(Protocol):
    """The part of a position fix the filter reads (backend's `PositionFix` fits)."""

    @property
    def vehicle(self) -> str:
        """Vehicle or device key."""
        ...

    @property
    def lat(self) -> float:
        """WGS-84 latitude, degrees."""
        ...

    @property
    def lon(self) -> float:
        """WGS-84 longitude, degrees."""
        ...

    @property
    def ts(self) -> datetime:
        """Device time of the fix, timezone-aware."""
        ...

    @property
    def acc(self) -> float | None:
        """Horizontal accuracy radius in metres, if reported."""
        ...

    @property
    def seq(self) -> int | None:
        """Device sequence number, if reported."""
        ...


class RejectReason(StrEnum):
    """Why a fix was dropped; stable names for counters and logs."""

    INVALID = "invalid"
    NULL_ISLAND = "null_island"
    DUPLICATE = "duplicate"
    FUTURE = "future"
    POOR_ACCURACY = "poor_accuracy"
    IMPOSSIBLE_SPEED = "impossible_speed"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A dropped fix: the reason and a human detail."""

    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """Thresholds of `FixFilter`.

    Attributes:
        max_future: How far past `now` a device clock may run before its fix is "future".
        max_accuracy_m: Worst accepted accuracy radius; a fix without accuracy passes.
        max_speed_m_s: Fastest believable travel between fixes (70 m/s is about 250 km/h).
        min_interval: Floor on the time between fixes when computing speed, because many
            devices stamp whole seconds.
        history_size: Accepted fixes kept per vehicle, newest by time.
        max_vehicles: Vehicles kept; the least recently seen is forgotten first.
        reanchor_after: Consecutive, mutually consistent "impossible" fixes after which the
            filter decides its own anchor was the bad fix and starts over from them.
    """

    max_future: timedelta = timedelta(minutes=2)
    max_accuracy_m: float = 200.0
    max_speed_m_s: float = 70.0
    min_interval: timedelta = timedelta(seconds=1)
    history_size: int = 32
    max_vehicles: int = 10_000
    reanchor_after: int = 3

    def __post_init__(self) -> None:
        if self.max_speed_m_s <= 0 or self.max_accuracy_m <= 0:
            raise ValueError("speed and accuracy limits must be positive")
        if self.min_interval <= timedelta(0) or self.max_future < timedelta(0):
            raise ValueError("min_interval must be positive and max_future not negative")
        if self.history_size < 1 or self.max_vehicles < 1 or self.reanchor_after < 2:
            raise ValueError("history_size, max_vehicles >= 1 and reanchor_after >= 2")


@dataclass(frozen=True, slots=True)
class _Seen:
    # A copy, so the filter never holds on to the caller's objects.
    ts: datetime
    lat: float
    lon: float
    acc: float | None
    seq: int | None


@dataclass(slots=True)
class _Track:
    accepted: list[_Seen] = field(default_factory=list)  # sorted by ts
    suspects: list[_Seen] = field(default_factory=list)  # newest-side speed rejections
    seqs: set[int] = field(default_factory=set)  # of `accepted` (a set: checked every fix)

    def copy(self) -> _Track:
        return _Track(list(self.accepted), list(self.suspects), set(self.seqs))


class FixFilter:
    """Judge fixes per vehicle; accepted fixes become the reference for later ones.

    Fixes may arrive late (terminals backfill after a dead spot), so a fix is checked for
    speed against its neighbours in time among the accepted fixes, not against the newest.
    Memory is bounded by `FilterConfig.history_size` and `max_vehicles`. Not thread-safe:
    one ingest worker owns one filter.

    Checks run in this order and the first that fails names the rejection: invalid,
    null_island, future, poor_accuracy, duplicate, impossible_speed. Rejected fixes are not
    remembered, so a redelivered rejected fix is judged (and rejected) again.

    The duplicate check only sees the retained history; the database's unique constraint on
    (vehicle, seq/ts) stays the guarantee.
    """

    def __init__(self, config: FilterConfig | None = None) -> None:
        self.config = config or FilterConfig()
        self._tracks: OrderedDict[str, _Track] = OrderedDict()
        self._counts: Counter[tuple[str, RejectReason]] = Counter()
        # Tracks as they were before the open batch touched them (None: vehicle was new).
        self._journal: dict[str, _Track | None] | None = None

    def begin(self) -> None:
        """Start a batch whose acceptances `rollback` can undo (its transaction may fail)."""
        self._journal = {}

    def commit(self) -> None:
        """Keep what the batch accepted."""
        self._journal = None

    def rollback(self) -> None:
        """Forget what the batch accepted: a retried batch must not meet itself as duplicates."""
        for vehicle, track in (self._journal or {}).items():
            if track is None:
                self._tracks.pop(vehicle, None)
            else:
                self._tracks[vehicle] = track
        self._journal = None

    def check(self, fix: FixLike, now: datetime) -> Rejection | None:
        """Judge `fix` at server time `now`; remember it if accepted.

        Args:
            fix: The fix to judge.
            now: The server's aware current time, against which "future" is measured.

        Returns:
            None when the fix is accepted, otherwise the `Rejection` (also counted).
        """
        if now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        rejection = self._judge(fix, now)
        if rejection is not None:
            self._counts[(fix.vehicle, rejection.reason)] += 1
        return rejection

    def anchor(self, fix: FixLike) -> None:
        """Take a fix stored elsewhere (another worker, an earlier run) as accepted, unjudged.

        Later fixes are then checked against it; one already known changes nothing.
        """
        seen = _Seen(fix.ts, fix.lat, fix.lon, fix.acc, fix.seq)
        track = self._track(fix.vehicle)
        history = track.accepted
        if history and history[-1].ts == seen.ts:  # the usual case: it is our own newest fix
            return
        i = bisect.bisect_left(history, seen.ts, key=lambda s: s.ts)
        if (i < len(history) and history[i].ts == seen.ts) or (
            seen.seq is not None and seen.seq in track.seqs
        ):
            return
        self._accept(track, i, seen)

    def counters(self, *, reset: bool = False) -> dict[tuple[str, RejectReason], int]:
        """Return rejections per (vehicle, reason); `reset` hands them over and starts at 0."""
        counts = dict(self._counts)
        if reset:
            self._counts.clear()
        return counts

    def forget(self, vehicle: str) -> None:
        """Drop what is remembered about `vehicle`, e.g. after its terminal was replaced."""
        self._tracks.pop(vehicle, None)

    @property
    def tracked_vehicles(self) -> int:
        """How many vehicles the filter currently remembers."""
        return len(self._tracks)

    def _judge(self, fix: FixLike, now: datetime) -> Rejection | None:
        cfg = self.config
        if (
            not is_valid_lon_lat(fix.lon, fix.lat)
            or fix.ts.utcoffset() is None
            or (fix.acc is not None and not (math.isfinite(fix.acc) and fix.acc >= 0))
        ):
            return Rejection(RejectReason.INVALID, "position, time or accuracy out of range")
        if abs(fix.lat) < _NULL_ISLAND_DEG and abs(fix.lon) < _NULL_ISLAND_DEG:
            return Rejection(RejectReason.NULL_ISLAND, "position 0, 0")
        if fix.ts > now + cfg.max_future:
            return Rejection(RejectReason.FUTURE, f"{fix.ts - now} ahead of the server")
        if fix.acc is not None and fix.acc > cfg.max_accuracy_m:
            return Rejection(RejectReason.POOR_ACCURACY, f"accuracy {fix.acc:.0f} m")
        seen = _Seen(fix.ts, fix.lat, fix.lon, fix.acc, fix.seq)
        track = self._track(fix.vehicle)
        history = track.accepted
        i = bisect.bisect_left(history, seen.ts, key=lambda s: s.ts)
        if (i < len(history) and history[i].ts == seen.ts) or (
            seen.seq is not None and seen.seq in track.seqs
        ):
            return Rejection(RejectReason.DUPLICATE, f"seq {seen.seq}, ts {seen.ts.isoformat()}")
        neighbours = history[max(0, i - 1) : i + 1]
        too_fast = [(s, v) for s in neighbours if (v := self._speed(s, seen)) > cfg.max_speed_m_s]
        if too_fast and not (i == len(history) and self._reanchors(track, seen)):
            other, speed = too_fast[0]
            return Rejection(
                RejectReason.IMPOSSIBLE_SPEED,
                f"{speed:.0f} m/s from the fix at {other.ts.isoformat()}",
            )
        self._accept(track, i, seen)
        return None

    def _track(self, vehicle: str) -> _Track:
        track = self._tracks.get(vehicle)
        if self._journal is not None and vehicle not in self._journal:
            self._journal[vehicle] = None if track is None else track.copy()
        if track is None:
            track = self._tracks[vehicle] = _Track()
            if len(self._tracks) > self.config.max_vehicles:
                self._tracks.popitem(last=False)
        else:
            self._tracks.move_to_end(vehicle)
        return track

    def _speed(self, a: _Seen, b: _Seen) -> float:
        # A fix may be anywhere in its accuracy circle: only movement beyond both circles
        # counts, so two honest fixes a second apart never look like a jump.
        slack = (a.acc or 0.0) + (b.acc or 0.0)
        distance = max(0.0, haversine_m(a.lon, a.lat, b.lon, b.lat) - slack)
        interval = max(abs(b.ts - a.ts), self.config.min_interval).total_seconds()
        return distance / interval

    def _reanchors(self, track: _Track, seen: _Seen) -> bool:
        """Collect a newest-side speed rejection; True when the filter should start over.

        Without this, one wild fix accepted first (a cold start) would make every true fix
        after it "impossible" for ever.
        """
        suspects = track.suspects
        if suspects and not (
            suspects[-1].ts < seen.ts
            and self._speed(suspects[-1], seen) <= self.config.max_speed_m_s
        ):
            suspects.clear()
        suspects.append(seen)
        if len(suspects) < self.config.reanchor_after:
            return False
        track.accepted.clear()
        track.seqs.clear()
        return True

    def _accept(self, track: _Track, i: int, seen: _Seen) -> None:
        history = track.accepted
        if i >= len(history):
            # The newest fix agrees with the anchor, so earlier suspects were the wild ones.
            track.suspects.clear()
        history.insert(min(i, len(history)), seen)
        if seen.seq is not None:
            track.seqs.add(seen.seq)
        if len(history) > self.config.history_size:
            # Accepted seqs are unique (a repeated one is a duplicate), so it goes for good.
            track.seqs.discard(history.pop(0).seq)
