"""Pure SLA engine for repair orders: timing points A-H, limits, colors, breaches."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal, NamedTuple


class TimingPoint(StrEnum):
    """The eight timing points of a repair order, in the order they happen."""

    A = "A"  # customer hangs up: the clock starts
    B = "B"  # call center issues the work order
    C = "C"  # order reaches the repair center
    D = "D"  # repair center dispatches it
    E = "E"  # order reaches the crew's terminal
    F = "F"  # crew accepts
    G = "G"  # crew departs
    H = "H"  # crew arrives at the fault site


class EventSource(StrEnum):
    """Where a timing event came from; declaration order is the tie-break rank."""

    SYSTEM = "system"  # server clock, no device skew: the best witness
    TERMINAL = "terminal"
    GEOFENCE = "geofence"
    SYNC = "sync"
    MANUAL = "manual"  # typed in after the fact: the weakest witness


class Responsible(StrEnum):
    """Who answers for a segment; the DB layer maps it to the order's actual department."""

    CALL_CENTER = "call_center"
    NETWORK = "network"
    REPAIR_CENTER = "repair_center"
    CREW = "crew"


class Color(StrEnum):
    """Segment state by share of the limit, compared exactly (no float rounding).

    Green below 50 %, yellow from 50 % to below 75 %, orange from 75 % up to and including
    100 % (the seed says "<= limit"), red above 100 %: the only breached color.
    """

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


Status = Literal["done", "running", "pending", "unknown"]


class InvalidPolicy(ValueError):  # noqa: N818 - a domain name, like errors.InvalidTransition
    """An SLA policy is incomplete or has a missing, non-positive or unreadable value."""


SEGMENTS: tuple[str, ...] = ("AB", "BC", "CD", "DE", "EF", "FG", "GH")
TOTAL = "AH"
_POINTS = tuple(TimingPoint)
_INDEX = {p: i for i, p in enumerate(_POINTS)}
_SOURCE_RANK = {s: i for i, s in enumerate(EventSource)}
_LIMIT_KEYS = ("AB", "BC", "CD", "DE_same_site", "DE_other_site", "EF", "FG", "GH", "total")
_US, _ZERO = timedelta(microseconds=1), timedelta(0)
# Enum attribute lookups cost ~70 ns each on 3.11: the hot path uses these aliases.
_GREEN, _YELLOW, _ORANGE, _RED = Color


@dataclass(frozen=True, slots=True)
class TimingEvent:
    """One recorded timing point; ``occurred_at`` is the (skew-corrected) device time."""

    event_id: str
    point: TimingPoint
    occurred_at: datetime
    recorded_at: datetime
    source: EventSource
    backfilled: bool = False

    def __post_init__(self) -> None:
        if self.occurred_at.utcoffset() is None or self.recorded_at.utcoffset() is None:
            raise ValueError(f"timing event {self.event_id}: times must be timezone-aware")


class _Rule(NamedTuple):
    name: str
    start: int
    end: int
    start_point: TimingPoint
    end_point: TimingPoint
    limit: timedelta
    # Smallest durations reaching 50 % / 75 % of the limit, rounded up to the microsecond,
    # so `d < t50` is exactly `2 * d < limit` with no multiplication in the hot path.
    t50: timedelta
    t75: timedelta
    responsible: Responsible | None


def _rule(name: str, responsible: Responsible | None, limit: timedelta) -> _Rule:
    us = limit // _US
    t50, t75 = timedelta(microseconds=-(-us // 2)), timedelta(microseconds=-(-3 * us // 4))
    start, end = TimingPoint(name[0]), TimingPoint(name[1])
    return _Rule(name, _INDEX[start], _INDEX[end], start, end, limit, t50, t75, responsible)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Segment limits and responsible parties for one region and order type.

    DE has two limits, picked by whether the crew shares the repair center's site;
    ``responsible`` maps each of ``SEGMENTS`` to its party. Invalid values raise
    ``InvalidPolicy``.
    """

    ab: timedelta
    bc: timedelta
    cd: timedelta
    de_same_site: timedelta
    de_other_site: timedelta
    ef: timedelta
    fg: timedelta
    gh: timedelta
    total: timedelta
    responsible: Mapping[str, Responsible] = field(hash=False)
    # Seven segments then the total, per same_site (False/True): built once, only read after.
    _rules: tuple[tuple[_Rule, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        limits = self._limits()
        bad = [k for k, v in limits.items() if not isinstance(v, timedelta) or v <= _ZERO]
        if bad:
            raise InvalidPolicy(f"limits must be positive durations: {', '.join(bad)}")
        _check_keys("responsible", self.responsible, SEGMENTS)
        try:
            parties = {s: Responsible(self.responsible[s]) for s in SEGMENTS}
        except ValueError as exc:
            raise InvalidPolicy(f"responsible: {exc}; expected {list(Responsible)}") from None
        object.__setattr__(self, "responsible", MappingProxyType(parties))
        total = _rule(TOTAL, None, self.total)
        site_rules = tuple(
            (*(_rule(s, parties[s], limits[s if s != "DE" else de]) for s in SEGMENTS), total)
            for de in ("DE_other_site", "DE_same_site")
        )
        object.__setattr__(self, "_rules", site_rules)

    def _limits(self) -> dict[str, timedelta]:
        return {k: getattr(self, k.lower()) for k in _LIMIT_KEYS}  # keys lowered = field names

    @classmethod
    def default(cls) -> SlaPolicy:
        """Return the seed policy (seed 001): 2/4/2/2-or-4/2/3/28 minutes, 45 to site."""
        return cls.from_dict(_SEED)

    def limit_for(self, segment: str, same_site: bool) -> timedelta:
        """Return the limit of ``segment``, one of ``SEGMENTS`` or ``TOTAL`` (else KeyError)."""
        for rule in self._rules[same_site]:
            if rule.name == segment:
                return rule.limit
        raise KeyError(f"unknown segment {segment!r}; expected one of {(*SEGMENTS, TOTAL)}")

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: limits in minutes (int when whole) and responsible parties."""
        minutes = {k: v / timedelta(minutes=1) for k, v in self._limits().items()}
        limits = {k: int(m) if m.is_integer() else m for k, m in minutes.items()}
        parties = {k: str(v) for k, v in self.responsible.items()}
        return {"version": 1, "limits_minutes": limits, "responsible": parties}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaPolicy:
        """Build a policy from its JSON form (see ``to_dict``); raise ``InvalidPolicy``."""
        if not isinstance(data, Mapping):
            raise InvalidPolicy("policy must be an object")
        if data.get("version", 1) != 1:
            raise InvalidPolicy(f"unsupported policy version {data.get('version')!r}")
        _check_keys("policy", data, ("limits_minutes", "responsible"), ("version",))
        limits, parties = data["limits_minutes"], data["responsible"]
        if not isinstance(limits, Mapping) or not isinstance(parties, Mapping):
            raise InvalidPolicy("limits_minutes and responsible must be objects")
        _check_keys("limits_minutes", limits, _LIMIT_KEYS)
        ab, bc, cd, de_same, de_other, ef, fg, gh, total = (
            _minutes(k, limits[k]) for k in _LIMIT_KEYS
        )
        return cls(ab, bc, cd, de_same, de_other, ef, fg, gh, total, parties)


_SEED_PARTIES = ("call_center", "network", "repair_center", "network", "crew", "crew", "crew")
_SEED: dict[str, Any] = {
    "limits_minutes": dict(zip(_LIMIT_KEYS, (2, 4, 2, 2, 4, 2, 3, 28, 45), strict=True)),
    "responsible": dict(zip(SEGMENTS, _SEED_PARTIES, strict=True)),
}


def _check_keys(where: str, got: Any, required: Iterable[str], allowed: Iterable[str] = ()) -> None:
    missing, unknown = set(required) - set(got), set(got) - set(required) - set(allowed)
    if missing or unknown:
        raise InvalidPolicy(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}")


def _minutes(key: str, value: Any) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidPolicy(f"limits_minutes.{key}: expected a number of minutes, got {value!r}")
    if value <= 0:
        raise InvalidPolicy(f"limits_minutes.{key}: must be positive, got {value!r}")
    try:
        return timedelta(minutes=value)
    except OverflowError:
        raise InvalidPolicy(f"limits_minutes.{key}: {value!r} is too large") from None


class SegmentResult(NamedTuple):
    """The measure of one segment, or of the A->H total (named ``TOTAL``, no responsible).

    ``started_at`` / ``ended_at`` are effective times (see ``compute_timeline``), so a done
    segment has ``ended_at - started_at == duration``; a running one has no ``ended_at`` and
    runs to ``now``. ``percent_used`` is for display; ``color`` is decided exactly.
    """

    segment: str
    start_point: TimingPoint
    end_point: TimingPoint
    status: Status
    started_at: datetime | None
    ended_at: datetime | None
    duration: timedelta | None
    limit: timedelta
    color: Color | None
    breached: bool
    clock_inconsistent: bool
    responsible: Responsible | None

    @property
    def percent_used(self) -> float | None:
        """``duration`` as a percentage of ``limit`` (None without a duration).

        Computed when read: a timeline is recomputed far more often than it is displayed,
        and the division was a fifth of the engine's time.
        """
        duration = self.duration
        return None if duration is None else duration / self.limit * 100


class Timeline:
    """Computed view of one order: seven segments, the total and the events that count.

    The rows are built when first read, from the effective times ``compute_timeline`` keeps:
    a timeline is recomputed on every event and by every report, and most callers read only
    the total or a segment or two (building all eight rows was half of the engine's time).
    Rows, once built, are kept; equality compares what a reader sees.
    """

    __slots__ = ("chosen", "_rules", "_eff", "_moved", "_last", "_now", "_segments", "_total")

    def __init__(
        self,
        chosen: tuple[TimingEvent | None, ...],
        rules: tuple[_Rule, ...],
        eff: list[datetime | None],
        moved: list[bool],
        last: int,
        now: datetime | None,
    ) -> None:
        self.chosen = chosen  # the winning event per point, A..H
        self._rules, self._eff, self._moved, self._last, self._now = rules, eff, moved, last, now
        self._segments: tuple[SegmentResult, ...] | None = None
        self._total: SegmentResult | None = None

    @property
    def segments(self) -> tuple[SegmentResult, ...]:
        """The seven segments AB..GH, in order."""
        if self._segments is None:
            # Readers of every segment read the total too (breaches, the API): one pass.
            rules = self._rules if self._total is None else self._rules[:-1]
            rows = _measure(rules, self._eff, self._moved, self._last, self._now)
            self._segments = tuple(rows[:7])
            if self._total is None:
                self._total = rows[7]
        return self._segments

    @property
    def total(self) -> SegmentResult:
        """The A->H total (named ``TOTAL``, no responsible party)."""
        if self._total is None:
            rows = _measure(self._rules[-1:], self._eff, self._moved, self._last, self._now)
            self._total = rows[0]
        return self._total

    def segment(self, name: str) -> SegmentResult:
        """Return the segment called ``name`` (``"AB"`` .. ``"GH"`` or ``TOTAL``)."""
        return self.total if name == TOTAL else self.segments[SEGMENTS.index(name)]

    def event_for(self, point: TimingPoint) -> TimingEvent | None:
        """Return the event that counts for ``point``, or None if it was never recorded."""
        return self.chosen[_INDEX[point]]

    def _key(self) -> tuple[Any, ...]:
        return self.segments, self.total, self.chosen

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timeline):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Timeline(segments={self.segments!r}, total={self.total!r}, chosen={self.chosen!r})"


@dataclass(frozen=True, slots=True)
class Breach:
    """A segment over its limit; the caller records it once per order under ``breach_key``."""

    segment: str
    duration: timedelta
    limit: timedelta
    responsible: Responsible | None
    status: Status

    @property
    def breach_key(self) -> str:
        """Return the stable key for a per-order unique constraint: the segment name."""
        return self.segment


def color_for(duration: timedelta, limit: timedelta) -> Color:
    """Return the color of ``duration`` against a positive ``limit`` (see ``Color``)."""
    if limit <= _ZERO:
        raise ValueError("limit must be positive")
    rule = _rule(TOTAL, None, limit)
    return _color(duration, rule.t50, rule.t75, limit)


def _color(d: timedelta, t50: timedelta, t75: timedelta, limit: timedelta) -> Color:
    if d < t50:
        return _GREEN
    if d < t75:
        return _YELLOW
    return _ORANGE if d <= limit else _RED


def compute_timeline(
    events: Iterable[TimingEvent],
    policy: SlaPolicy,
    *,
    same_site: bool,
    now: datetime | None = None,
) -> Timeline:
    """Measure the seven segments and the total of one order from its timing events.

    Rules:
        Duplicates: the earliest ``occurred_at`` wins; exact ties go to the better
        ``EventSource`` (declaration order), then the smaller ``event_id``, then the earlier
        ``recorded_at``, so arrival order never matters.
        Clocks: a point's effective time is the latest of its own and every earlier
        recorded point's, so a clock behind an earlier point's gives zero, not a negative
        duration, the segments add up exactly to the total, and both segments touching a
        moved point are flagged ``clock_inconsistent``.
        Status: ``done`` (both ends known); ``running`` (start known, nothing recorded at or
        after the end; measured to ``now`` when given, never below zero); ``pending``
        (nothing recorded at or after the start); ``unknown`` (the order went past a point
        never recorded: no duration, never breached).

    Args:
        events: all timing events of the order, in any order, duplicates allowed.
        policy: the limits for the order's region and type.
        same_site: whether the crew shares the repair center's site (picks the DE limit).
        now: aware current time, for the live view of a running segment.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    chosen: list[TimingEvent | None] = [None] * 8
    times: list[datetime | None] = [None] * 8  # chosen[i].occurred_at, without the lookups
    index = _INDEX
    for ev in events:
        i = index[ev.point]
        t = ev.occurred_at
        cur = times[i]
        # Tie keys are built only on exact ties: this loop runs for every event.
        if cur is None or t < cur or (t == cur and _tie_key(ev) < _tie_key(chosen[i])):
            chosen[i], times[i] = ev, t
    moved = [False] * 8
    last, high = -1, None
    for i, t in enumerate(times):
        if t is not None:
            if high is not None and t < high:  # a clock behind an earlier point's: clamp
                times[i], moved[i] = high, True
            else:
                high = t
            last = i
    # `times` now holds the effective times; the rows are measured when read.
    return Timeline(tuple(chosen), policy._rules[same_site], times, moved, last, now)


def _tie_key(ev: TimingEvent) -> tuple[int, str, datetime, bool]:
    return _SOURCE_RANK[ev.source], ev.event_id, ev.recorded_at, ev.backfilled


def _measure(
    rules: Iterable[_Rule],
    eff: list[datetime | None],
    moved: list[bool],
    last: int,
    now: datetime | None,
) -> list[SegmentResult]:
    # One loop over unpacked rules, not a call per segment: this is the engine's hot path.
    # tuple.__new__ skips NamedTuple's Python-level __new__: half the cost of a row.
    results: list[SegmentResult] = []
    append, new = results.append, tuple.__new__
    for name, si, ei, sp, ep, limit, t50, t75, party in rules:
        start, end = eff[si], eff[ei]
        if start is not None and end is not None:  # done: most segments, the short path
            duration = end - start
            # `_color`, inlined: a call per segment is a tenth of the engine's time.
            if duration < t50:
                color = _GREEN
            elif duration < t75:
                color = _YELLOW
            else:
                color = _ORANGE if duration <= limit else _RED
            row = (name, sp, ep, "done", start, end, duration, limit, color, color is _RED,
                   moved[si] or moved[ei], party)  # fmt: skip
            append(new(SegmentResult, row))
            continue
        running: timedelta | None = None
        odd = False
        status: Status
        if start is not None and last < ei:
            status = "running"
            if now is not None:
                running, odd = now - start, moved[si]
                if running < _ZERO:  # `now` behind a device clock: hold at zero, flag it
                    running, odd = _ZERO, True
        else:
            status = "pending" if start is None and last < si else "unknown"
        color = None if running is None else _color(running, t50, t75, limit)
        row = (name, sp, ep, status, start, end, running, limit, color, color is _RED, odd,
               party)  # fmt: skip
        append(new(SegmentResult, row))
    return results


def breaches(timeline: Timeline, *, include_running: bool = True) -> list[Breach]:
    """Return the breached segments, then the total if breached.

    A running breach is a fact at ``now``, but an offline device may later backfill an end
    event showing the segment finished in time: ``include_running=False`` keeps only
    finished segments, for callers that write breaches as immutable records.
    """
    return [
        Breach(s.segment, s.duration, s.limit, s.responsible, s.status)
        for s in (*timeline.segments, timeline.total)
        if s.breached and s.duration is not None
        if include_running or s.status == "done"
    ]
