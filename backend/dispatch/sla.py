"""Pure SLA engine for repair orders: timing points A-H, segment limits, colors and breaches.

Rules (the tests pin each one):

* Duplicates: of several events for one point the earliest ``occurred_at`` wins; ties go to
  the better source (``EventSource`` order: system, terminal, geofence, sync, manual), then
  the smaller ``event_id``, then the earlier ``recorded_at``, so any arrival order gives the
  same timeline.
* Clocks: the effective time of a point is the maximum of its own time and every earlier
  recorded point's, so no duration is negative and the seven segments add up exactly to
  A->H. A segment with an endpoint moved that way is flagged ``clock_inconsistent``.
* Status: ``done`` (both ends known), ``running`` (start known and nothing recorded at or
  after the end; measured against ``now`` when given), ``pending`` (nothing recorded at or
  after the start) or ``unknown`` (the order moved past a point that was never recorded;
  no duration, never breached).
* Colors, from exact integer comparisons: green below 50 % of the limit, yellow from 50 %
  to below 75 %, orange from 75 % up to and including 100 % (the seed says "<= limit"),
  red above 100 % which is the only breached color.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple


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
    """Traffic-light state of a segment, in increasing severity."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"


class SegmentStatus(StrEnum):
    """Progress of one segment; see the module docstring."""

    DONE = "done"
    RUNNING = "running"
    PENDING = "pending"
    UNKNOWN = "unknown"


class InvalidPolicy(ValueError):  # noqa: N818 - domain name, like errors.InvalidTransition
    """An SLA policy is incomplete or has a non-positive or unreadable limit."""


SEGMENTS: tuple[str, ...] = ("AB", "BC", "CD", "DE", "EF", "FG", "GH")
TOTAL = "AH"
_POINTS = tuple(TimingPoint)
_INDEX = {p: i for i, p in enumerate(_POINTS)}
_SOURCE_RANK = {s: i for i, s in enumerate(EventSource)}
_LIMIT_KEYS = ("AB", "BC", "CD", "DE_same_site", "DE_other_site", "EF", "FG", "GH", "total")
_MINUTE = timedelta(minutes=1)
_US = timedelta(microseconds=1)
_ZERO = timedelta(0)


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
    limit: timedelta
    # Smallest durations reaching 50 % / 75 % of the limit, rounded up to the microsecond
    # so `d < t50` is exactly `2 * d < limit` without multiplying in the hot path.
    t50: timedelta
    t75: timedelta
    responsible: Responsible | None


def _rule(name: str, responsible: Responsible | None, limit: timedelta) -> _Rule:
    us = limit // _US
    t50, t75 = timedelta(microseconds=-(-us // 2)), timedelta(microseconds=-(-3 * us // 4))
    start, end = _INDEX[TimingPoint(name[0])], _INDEX[TimingPoint(name[1])]
    return _Rule(name, start, end, limit, t50, t75, responsible)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Segment limits and responsible parties for one region and order type.

    Attributes:
        ab, bc, cd, ef, fg, gh: segment limits.
        de_same_site: DE limit when the crew shares the repair center's site.
        de_other_site: DE limit otherwise.
        total: A->H limit.
        responsible: party answering for each of ``SEGMENTS``.
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
    # Precomputed per same_site (index False/True) so compute_timeline only compares.
    _rules: tuple[tuple[_Rule, ...], ...] = field(init=False, repr=False, compare=False)
    _total_rule: _Rule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        limits = self._limits()
        bad = [k for k, v in limits.items() if not isinstance(v, timedelta) or v <= _ZERO]
        if bad:
            raise InvalidPolicy(f"limits must be positive durations: {', '.join(bad)}")
        _check_keys("responsible", self.responsible, SEGMENTS)
        try:
            parties = {s: Responsible(self.responsible[s]) for s in SEGMENTS}
        except ValueError as exc:
            raise InvalidPolicy(
                f"responsible: {exc}; expected one of {list(Responsible)}"
            ) from None
        object.__setattr__(self, "responsible", MappingProxyType(parties))
        rules = tuple(
            tuple(_rule(s, parties[s], limits[f"DE_{site}" if s == "DE" else s]) for s in SEGMENTS)
            for site in ("other_site", "same_site")
        )
        object.__setattr__(self, "_rules", rules)
        object.__setattr__(self, "_total_rule", _rule(TOTAL, None, self.total))

    def _limits(self) -> dict[str, timedelta]:
        # _LIMIT_KEYS lower-cased are the field names.
        return {k: getattr(self, k.lower()) for k in _LIMIT_KEYS}

    @classmethod
    def default(cls) -> SlaPolicy:
        """Return the seed policy (seed 001): 2/4/2/2-or-4/2/3/28 minutes, 45 to site."""
        return cls.from_dict(_DEFAULT)

    def limit_for(self, segment: str, same_site: bool) -> timedelta:
        """Return the limit of ``segment`` (one of ``SEGMENTS`` or ``TOTAL``).

        Raises:
            KeyError: unknown segment name.
        """
        if segment == TOTAL:
            return self.total
        if segment not in SEGMENTS:
            raise KeyError(f"unknown segment {segment!r}; expected one of {(*SEGMENTS, TOTAL)}")
        return self._rules[same_site][SEGMENTS.index(segment)].limit

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: limits in minutes (int when whole) and responsible parties."""
        minutes = {k: _as_number(v / _MINUTE) for k, v in self._limits().items()}
        return {
            "version": 1,
            "limits_minutes": minutes,
            "responsible": {k: str(v) for k, v in self.responsible.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaPolicy:
        """Build a policy from its JSON form (see ``to_dict``).

        Raises:
            InvalidPolicy: missing or unknown keys, non-positive, non-numeric or unknown values.
        """
        if not isinstance(data, Mapping):
            raise InvalidPolicy("policy must be an object")
        if data.get("version", 1) != 1:
            raise InvalidPolicy(f"unsupported policy version {data.get('version')!r}")
        _check_keys("policy", data, ("limits_minutes", "responsible"), optional=("version",))
        limits, parties = data["limits_minutes"], data["responsible"]
        if not isinstance(limits, Mapping) or not isinstance(parties, Mapping):
            raise InvalidPolicy("limits_minutes and responsible must be objects")
        _check_keys("limits_minutes", limits, _LIMIT_KEYS)
        ab, bc, cd, de_same, de_other, ef, fg, gh, total = (
            _minutes(k, limits[k]) for k in _LIMIT_KEYS
        )
        return cls(ab, bc, cd, de_same, de_other, ef, fg, gh, total, parties)


_SEED_PARTIES = ("call_center", "network", "repair_center", "network", "crew", "crew", "crew")
_DEFAULT: dict[str, Any] = {
    "limits_minutes": dict(zip(_LIMIT_KEYS, (2, 4, 2, 2, 4, 2, 3, 28, 45), strict=True)),
    "responsible": dict(zip(SEGMENTS, _SEED_PARTIES, strict=True)),
}


def _check_keys(
    where: str, got: Mapping[str, Any], required: Iterable[str], optional: Iterable[str] = ()
) -> None:
    required = set(required)
    missing, unknown = required - set(got), set(got) - required - set(optional)
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


def _as_number(minutes: float) -> int | float:
    return int(minutes) if minutes.is_integer() else minutes


class SegmentResult(NamedTuple):
    """The measure of one segment (or of the A->H total, named ``TOTAL``).

    ``started_at`` / ``ended_at`` are effective times (see the module docstring), so
    ``ended_at - started_at == duration`` for done segments. A running segment has no
    ``ended_at``; its duration runs to ``now``. ``responsible`` is None for the total.
    """

    segment: str
    start_point: TimingPoint
    end_point: TimingPoint
    status: SegmentStatus
    started_at: datetime | None
    ended_at: datetime | None
    duration: timedelta | None
    limit: timedelta
    percent_used: float | None
    color: Color | None
    breached: bool
    clock_inconsistent: bool
    responsible: Responsible | None


class Timeline(NamedTuple):
    """Computed view of one order: its seven segments, the total and the events that count."""

    segments: tuple[SegmentResult, ...]
    total: SegmentResult
    chosen: tuple[TimingEvent | None, ...]  # winning event per point, A..H

    def segment(self, name: str) -> SegmentResult:
        """Return the segment called ``name`` (``"AB"`` .. ``"GH"`` or ``TOTAL``)."""
        return self.total if name == TOTAL else self.segments[SEGMENTS.index(name)]

    def event_for(self, point: TimingPoint) -> TimingEvent | None:
        """Return the event that counts for ``point``, or None if it was never recorded."""
        return self.chosen[_INDEX[point]]


@dataclass(frozen=True, slots=True)
class Breach:
    """A segment over its limit; the caller records it once per order under ``breach_key``."""

    segment: str
    duration: timedelta
    limit: timedelta
    responsible: Responsible | None
    status: SegmentStatus

    @property
    def breach_key(self) -> str:
        """Return the stable key for a per-order unique constraint: the segment name."""
        return self.segment


def color_for(duration: timedelta, limit: timedelta) -> Color:
    """Return the color of ``duration`` against a positive ``limit`` (module docstring)."""
    if limit <= _ZERO:
        raise ValueError("limit must be positive")
    rule = _rule(TOTAL, None, limit)
    return _color(duration, rule)


def _color(d: timedelta, rule: _Rule) -> Color:
    if d < rule.t50:
        return Color.GREEN
    if d < rule.t75:
        return Color.YELLOW
    return Color.ORANGE if d <= rule.limit else Color.RED


def _tie_key(ev: TimingEvent) -> tuple[int, str, datetime, bool]:
    return _SOURCE_RANK[ev.source], ev.event_id, ev.recorded_at, ev.backfilled


def compute_timeline(
    events: Iterable[TimingEvent],
    policy: SlaPolicy,
    *,
    same_site: bool,
    now: datetime | None = None,
) -> Timeline:
    """Measure every segment and the total of one order from its timing events.

    Args:
        events: all timing events of the order, in any order, duplicates allowed.
        policy: the limits for the order's region and type.
        same_site: whether the crew shares the repair center's site (picks the DE limit).
        now: aware current time; when given, the running segment is measured up to it.

    Returns:
        The timeline; see the module docstring for the rules applied.
    """
    if now is not None and now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    chosen: list[TimingEvent | None] = [None] * 8
    for ev in events:
        i = _INDEX[ev.point]
        cur = chosen[i]
        if (
            cur is None
            or ev.occurred_at < cur.occurred_at
            or (ev.occurred_at == cur.occurred_at and _tie_key(ev) < _tie_key(cur))
        ):
            chosen[i] = ev
    eff: list[datetime | None] = [None] * 8
    moved = [False] * 8
    last, high = -1, None
    for i, winner in enumerate(chosen):
        if winner is not None:
            t = winner.occurred_at
            if high is not None and t < high:
                # A device clock behind an earlier point's: clamp instead of going negative.
                t, moved[i] = high, True
            else:
                high = t
            eff[i], last = t, i
    segments = tuple([_measure(r, eff, moved, last, now) for r in policy._rules[same_site]])
    return Timeline(segments, _measure(policy._total_rule, eff, moved, last, now), tuple(chosen))


def _measure(
    rule: _Rule,
    eff: list[datetime | None],
    moved: list[bool],
    last: int,
    now: datetime | None,
) -> SegmentResult:
    start, end = eff[rule.start], eff[rule.end]
    duration: timedelta | None = None
    odd = False
    if start is not None and end is not None:
        status, duration = SegmentStatus.DONE, end - start
        odd = moved[rule.start] or moved[rule.end]
    elif start is not None and last < rule.end:
        status = SegmentStatus.RUNNING
        if now is not None:
            duration, odd = now - start, moved[rule.start]
            if duration < _ZERO:  # `now` behind a device clock: hold at zero, flag it
                duration, odd = _ZERO, True
    elif start is None and last < rule.start:
        status = SegmentStatus.PENDING
    else:
        status = SegmentStatus.UNKNOWN
    if duration is None:
        percent, color, breached = None, None, False
    else:
        percent, color = duration / rule.limit * 100, _color(duration, rule)
        breached = color is Color.RED
    return SegmentResult(
        rule.name,
        _POINTS[rule.start],
        _POINTS[rule.end],
        status,
        start,
        end,
        duration,
        rule.limit,
        percent,
        color,
        breached,
        odd,
        rule.responsible,
    )


def breaches(timeline: Timeline, *, include_running: bool = True) -> list[Breach]:
    """Return the breached segments, then the total if breached.

    A running breach is already a fact at ``now``, but an offline device may later backfill
    an end event that shows the segment finished in time; pass ``include_running=False`` to
    record only finished segments.
    """
    return [
        Breach(s.segment, s.duration, s.limit, s.responsible, s.status)
        for s in (*timeline.segments, timeline.total)
        if s.breached and s.duration is not None
        if include_running or s.status is SegmentStatus.DONE
    ]
