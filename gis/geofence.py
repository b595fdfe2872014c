"""Geofence checkpoints: arrival at the site (H) and departure from the start point (G)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, Protocol

from gis.geometry import LonLat, check_lon_lat, haversine_m, rfc3339

KMH_M_S: Final = 1 / 3.6  # one km/h in m/s


class TrackFix(Protocol):
    """The part of a position fix the detectors read (backend's `PositionFix` fits)."""

    @property
    def ts(self) -> datetime:
        """Device time of the fix, timezone-aware."""
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
    def acc(self) -> float | None:
        """Horizontal accuracy radius in metres, if reported."""
        ...

    @property
    def speed(self) -> float | None:
        """Ground speed in m/s, if reported."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A timing point derived from the track, timed by the fix that proves it."""

    point: Literal["G", "H"]
    occurred_at: datetime
    source: Literal["geofence"] = "geofence"
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArrivalRules:
    """When a vehicle has arrived at a site.

    Attributes:
        radius_m: Site circle; a fix is inside when its whole accuracy circle is.
        dwell: How long the vehicle must stay before it has arrived.
        max_speed_m_s: A fix faster than this (when speed is known) is passing, not staying.
        exit_margin_m: Hysteresis: only a fix surely beyond radius + margin ends a stay.
        max_accuracy_m: Fixes less accurate than this are ignored altogether.
        assumed_accuracy_m: Accuracy assumed for fixes that report none.
    """

    radius_m: float = 100.0
    dwell: timedelta = timedelta(seconds=60)
    max_speed_m_s: float = 5 * KMH_M_S
    exit_margin_m: float = 50.0
    max_accuracy_m: float = 200.0
    assumed_accuracy_m: float = 20.0

    def __post_init__(self) -> None:
        # A zero dwell would let a single fix be an arrival.
        if self.dwell <= timedelta(0) or self.radius_m <= 0 or self.exit_margin_m < 0:
            raise ValueError("dwell and radius must be positive, exit margin not negative")


@dataclass(frozen=True, slots=True)
class DepartureRules:
    """When a vehicle has left its start point.

    Attributes:
        radius_m: Start circle; a fix is outside when its whole accuracy circle is.
        min_speed_m_s: The outside fix must be at least this fast (when speed is known),
            so a stationary multipath jump is not a departure.
        start_lookback: With no explicit start, the latest fix this long before acceptance
            (or else the first after it) is the start.
        max_accuracy_m: Fixes less accurate than this are ignored altogether.
        assumed_accuracy_m: Accuracy assumed for fixes that report none.
    """

    radius_m: float = 150.0
    min_speed_m_s: float = 5 * KMH_M_S
    start_lookback: timedelta = timedelta(minutes=5)
    max_accuracy_m: float = 200.0
    assumed_accuracy_m: float = 20.0

    def __post_init__(self) -> None:
        if self.radius_m <= 0 or self.start_lookback < timedelta(0):
            raise ValueError("radius must be positive and lookback not negative")


def fix_order(fix: TrackFix) -> tuple[datetime, float, float, float, float]:
    """Sort key for fixes: by time, then by content, so equal times sort the same way always."""
    return (fix.ts, fix.lat, fix.lon, _or(fix.acc, -1.0), _or(fix.speed, -1.0))


class _Detector(ABC):
    """Consumes fixes in time order and fires one checkpoint at most."""

    def __init__(self) -> None:
        self.fired: Checkpoint | None = None
        self.late_fixes = 0
        self._last_ts: datetime | None = None

    def feed(self, fix: TrackFix) -> Checkpoint | None:
        """Consume the next fix; return the checkpoint the first time it is proven.

        A fix older than one already consumed is counted in `late_fixes` and skipped: the
        caller should then `replay` the whole track.
        """
        if self.fired is not None:
            return None
        if self._last_ts is not None and fix.ts < self._last_ts:
            self.late_fixes += 1
            return None
        self._last_ts = fix.ts
        self.fired = self._consume(fix)
        return self.fired

    def replay(self, fixes: Iterable[TrackFix]) -> list[Checkpoint]:
        """Start over and consume `fixes` sorted by time (a stored track plus late batches).

        Returns:
            The checkpoints found, each timed by its fix, however late the batch came.
        """
        self._reset()
        self.fired, self.late_fixes, self._last_ts = None, 0, None
        for fix in sorted(fixes, key=fix_order):
            self.feed(fix)
        return [] if self.fired is None else [self.fired]

    def snapshot(self) -> dict[str, Any]:
        """Return the detector's progress as JSON-friendly data (see `restore`)."""
        last = None if self._last_ts is None else rfc3339(self._last_ts)
        return {"last_ts": last, "late_fixes": self.late_fixes, **self._progress()}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `snapshot`: feeding the fixes after it equals feeding them all."""
        self._reset()
        self.fired = None
        self.late_fixes = int(state.get("late_fixes", 0))
        self._last_ts = _time(state.get("last_ts"))
        self._resume(state)

    @abstractmethod
    def _progress(self) -> dict[str, Any]:
        """The subclass's own state as JSON-friendly data."""

    @abstractmethod
    def _resume(self, state: dict[str, Any]) -> None:
        """Take the subclass's own state back from `_progress` data."""

    @abstractmethod
    def _consume(self, fix: TrackFix) -> Checkpoint | None:
        """Judge one fix, in time order; return the checkpoint when it fires."""

    @abstractmethod
    def _reset(self) -> None:
        """Forget everything fed so far."""


class ArrivalDetector(_Detector):
    """Arrival (H) of one vehicle at one order's site, from its fixes in time order.

    A stay starts with the first inside, slow fix; fixes in the ring between the radius
    and the exit margin, or fast ones, neither extend nor end it; a fix surely beyond the
    ring ends it. Once an inside, slow fix comes at least `dwell` after the stay began,
    arrival fires, timed at the stay's first fix: when the vehicle got there, not when
    the dwell was complete.
    """

    def __init__(self, site: LonLat, rules: ArrivalRules | None = None) -> None:
        super().__init__()
        check_lon_lat(*site)
        self.site = site
        self.rules = rules or ArrivalRules()
        self._reset()

    def _reset(self) -> None:
        self._first: TrackFix | None = None
        self._first_distance = 0.0
        self._inside = 0

    def _progress(self) -> dict[str, Any]:
        first = self._first
        return {
            "first": None if first is None else _fix_data(first),
            "first_distance": self._first_distance,
            "inside": self._inside,
        }

    def _resume(self, state: dict[str, Any]) -> None:
        first = state.get("first")
        self._first = None if first is None else _StoredFix.load(first)
        self._first_distance = float(state.get("first_distance", 0.0))
        self._inside = int(state.get("inside", 0))

    def _consume(self, fix: TrackFix) -> Checkpoint | None:
        r = self.rules
        acc = _or(fix.acc, r.assumed_accuracy_m)
        if acc > r.max_accuracy_m:
            return None
        distance = haversine_m(self.site[0], self.site[1], fix.lon, fix.lat)
        if distance - acc > r.radius_m + r.exit_margin_m:
            self._reset()
            return None
        slow = fix.speed is None or fix.speed <= r.max_speed_m_s
        if not (slow and distance + acc <= r.radius_m):
            return None
        self._inside += 1
        if self._first is None:
            self._first, self._first_distance = fix, distance
            return None
        if fix.ts - self._first.ts < r.dwell:
            return None
        return Checkpoint(
            point="H",
            occurred_at=self._first.ts,
            evidence={
                "rule": "dwell",
                "site": list(self.site),
                "radius_m": r.radius_m,
                "dwell_s": r.dwell.total_seconds(),
                "first_fix_at": rfc3339(self._first.ts),
                "confirmed_at": rfc3339(fix.ts),
                "fixes_inside": self._inside,
                "first_distance_m": round(self._first_distance, 1),
            },
        )


class DepartureDetector(_Detector):
    """Departure (G) of a vehicle from where it was when it accepted an order.

    Fires at the first fix after acceptance that is surely outside the start circle and
    moving (or of unknown speed). It is timed at that first outside fix, the earliest
    moment the track proves the vehicle had left; the last inside fix is in the evidence.
    """

    def __init__(
        self,
        accepted_at: datetime,
        start: LonLat | None = None,
        rules: DepartureRules | None = None,
    ) -> None:
        super().__init__()
        if accepted_at.utcoffset() is None:
            raise ValueError("accepted_at must be timezone-aware")
        if start is not None:
            check_lon_lat(*start)
        self.accepted_at = accepted_at
        self.rules = rules or DepartureRules()
        self._given_start = start
        self._reset()

    @property
    def start(self) -> LonLat | None:
        """The start point in use: the given one, or the one taken from the track."""
        return self._start

    def _reset(self) -> None:
        self._start = self._given_start
        self._last_inside: datetime | None = None

    def _progress(self) -> dict[str, Any]:
        last_inside = None if self._last_inside is None else rfc3339(self._last_inside)
        start = None if self._start is None else list(self._start)
        return {"start": start, "last_inside": last_inside}

    def _resume(self, state: dict[str, Any]) -> None:
        start = state.get("start")
        self._start = self._given_start if start is None else (float(start[0]), float(start[1]))
        self._last_inside = _time(state.get("last_inside"))

    def _consume(self, fix: TrackFix) -> Checkpoint | None:
        r = self.rules
        acc = _or(fix.acc, r.assumed_accuracy_m)
        if acc > r.max_accuracy_m:
            return None
        if fix.ts <= self.accepted_at:
            if self._given_start is None and fix.ts >= self.accepted_at - r.start_lookback:
                self._start, self._last_inside = (fix.lon, fix.lat), fix.ts
            return None
        if self._start is None:
            self._start, self._last_inside = (fix.lon, fix.lat), fix.ts
            return None
        distance = haversine_m(self._start[0], self._start[1], fix.lon, fix.lat)
        if distance <= r.radius_m:
            self._last_inside = fix.ts
        moving = fix.speed is None or fix.speed >= r.min_speed_m_s
        if not (moving and distance - acc > r.radius_m):
            return None
        return Checkpoint(
            point="G",
            occurred_at=fix.ts,
            evidence={
                "rule": "left_start",
                "start": list(self._start),
                "radius_m": r.radius_m,
                "distance_m": round(distance, 1),
                "speed_m_s": fix.speed,
                "first_outside_at": rfc3339(fix.ts),
                "last_inside_at": None if self._last_inside is None else rfc3339(self._last_inside),
            },
        )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class _StoredFix:
    """A fix kept in a detector's snapshot."""

    ts: datetime
    lat: float
    lon: float
    acc: float | None
    speed: float | None

    @classmethod
    def load(cls, data: dict[str, Any]) -> _StoredFix:
        ts = _time(data["ts"])
        if ts is None:
            raise ValueError("a stored fix needs its time")
        return cls(ts, float(data["lat"]), float(data["lon"]), data.get("acc"), data.get("speed"))


def _fix_data(fix: TrackFix) -> dict[str, Any]:
    return {
        "ts": rfc3339(fix.ts),
        "lat": fix.lat,
        "lon": fix.lon,
        "acc": fix.acc,
        "speed": fix.speed,
    }


def _time(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))
