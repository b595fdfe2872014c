"""Table-driven and property tests for the pure SLA engine (no database)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.dispatch.timing.sla import (
    SEGMENTS,
    TOTAL,
    Color,
    EventSource,
    InvalidPolicy,
    Responsible,
    SlaPolicy,
    TimingEvent,
    TimingPoint,
    breaches,
    color_for,
    compute_timeline,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
POLICY = SlaPolicy.default()
POINTS = list(TimingPoint)
COLOR_RANK = {c: i for i, c in enumerate(Color)}
SEC = timedelta(seconds=1)
MIN = timedelta(minutes=1)
US = timedelta(microseconds=1)


def ev(
    point: str,
    at: timedelta,
    source: EventSource = EventSource.TERMINAL,
    event_id: str | None = None,
    *,
    backfilled: bool = False,
) -> TimingEvent:
    occurred = T0 + at
    eid = event_id or f"{point}-{source}-{at.total_seconds()}"
    return TimingEvent(eid, TimingPoint(point), occurred, occurred, source, backfilled)


def order(points: str = "ABCDEFGH", **minutes: float) -> list[TimingEvent]:
    """Events for `points`, each segment lasting 1 minute unless given (e.g. DE=3)."""
    at, events = timedelta(0), []
    for i, p in enumerate(POINTS):
        if i:
            at += timedelta(minutes=minutes.get(f"{POINTS[i - 1]}{p}", 1))
        if p in points:
            events.append(ev(p, at))
    return events


def timeline(events: list[TimingEvent], *, same_site: bool = False, **kw: Any) -> Any:
    return compute_timeline(events, POLICY, same_site=same_site, **kw)


# --- seed rules -------------------------------------------------------------------------

SEED = [
    ("AB", False, 2, Responsible.CALL_CENTER),
    ("BC", False, 4, Responsible.NETWORK),
    ("CD", False, 2, Responsible.REPAIR_CENTER),
    ("DE", True, 2, Responsible.NETWORK),
    ("DE", False, 4, Responsible.NETWORK),
    ("EF", False, 2, Responsible.CREW),
    ("FG", False, 3, Responsible.CREW),
    ("GH", False, 28, Responsible.CREW),
]


@pytest.mark.parametrize(("segment", "same_site", "minutes", "responsible"), SEED)
def test_seed_limit_and_responsible(segment, same_site, minutes, responsible):
    limit = timedelta(minutes=minutes)
    assert POLICY.limit_for(segment, same_site) == limit
    assert POLICY.responsible[segment] == responsible
    result = timeline(order(), same_site=same_site).segment(segment)
    assert (result.limit, result.responsible) == (limit, responsible)


@pytest.mark.parametrize(("segment", "same_site", "minutes", "responsible"), SEED)
def test_segment_breaches_only_past_its_limit(segment, same_site, minutes, responsible):
    at_limit = timeline(order(**{segment: minutes}), same_site=same_site).segment(segment)
    assert (at_limit.color, at_limit.breached, at_limit.percent_used) == (Color.ORANGE, False, 100)
    over = timeline(order(**{segment: minutes + 1 / 60}), same_site=same_site)
    assert over.segment(segment).color == Color.RED
    (breach,) = breaches(over)
    assert (breach.segment, breach.breach_key, breach.responsible) == (
        segment,
        segment,
        responsible,
    )
    assert breach.duration - breach.limit == SEC
    assert breach.status == "done"


@pytest.mark.parametrize(("same_site", "breached"), [(True, True), (False, False)])
def test_de_limit_depends_on_shared_site(same_site, breached):
    assert timeline(order(DE=3), same_site=same_site).segment("DE").breached is breached


def test_total_is_45_minutes_to_site_and_names_no_department():
    at_limit = {s: POLICY.limit_for(s, False) / MIN for s in SEGMENTS}
    total = timeline(order(**at_limit)).total
    assert (total.segment, total.duration, total.limit) == (TOTAL, 45 * MIN, 45 * MIN)
    assert (total.color, total.breached, total.responsible) == (Color.ORANGE, False, None)
    late = timeline(order(**{**at_limit, "GH": 29}))
    assert [(b.breach_key, b.responsible) for b in breaches(late)] == [
        ("GH", Responsible.CREW),
        (TOTAL, None),
    ]


def test_total_can_breach_when_no_segment_does():
    data = POLICY.to_dict()
    data["limits_minutes"]["total"] = 6.5
    result = compute_timeline(order(), SlaPolicy.from_dict(data), same_site=False)
    assert [b.segment for b in breaches(result)] == [TOTAL]


LIMIT = timedelta(minutes=2)
COLORS = [
    (LIMIT, timedelta(0), Color.GREEN),
    (LIMIT, LIMIT / 2 - US, Color.GREEN),
    (LIMIT, LIMIT / 2, Color.YELLOW),
    (LIMIT, LIMIT * 3 / 4 - US, Color.YELLOW),
    (LIMIT, LIMIT * 3 / 4, Color.ORANGE),
    (LIMIT, LIMIT, Color.ORANGE),  # exactly at the limit is within "<= 2 min"
    (LIMIT, LIMIT + US, Color.RED),
    # An odd limit where 50 % and 75 % fall between microseconds: exact, no float rounding.
    (3 * US, US, Color.GREEN),
    (3 * US, 2 * US, Color.YELLOW),
    (3 * US, 3 * US, Color.ORANGE),
    (3 * US, 4 * US, Color.RED),
    (4 * US, 2 * US, Color.YELLOW),
    (4 * US, 3 * US, Color.ORANGE),
]


@pytest.mark.parametrize(("limit", "duration", "color"), COLORS)
def test_color_boundaries(limit, duration, color):
    assert color_for(duration, limit) == color


@pytest.mark.parametrize(("limit", "duration", "color"), [c for c in COLORS if c[0] == LIMIT])
def test_timeline_uses_the_same_color_boundaries(limit, duration, color):
    result = timeline([ev("A", timedelta(0)), ev("B", duration)]).segment("AB")
    assert (result.color, result.breached) == (color, color == Color.RED)
    assert result.percent_used == pytest.approx(duration / limit * 100)


def test_color_for_rejects_non_positive_limit():
    with pytest.raises(ValueError, match="positive"):
        color_for(SEC, timedelta(0))


# --- running, missing, duplicates, clocks -------------------------------------------------


@pytest.mark.parametrize(
    ("now_after_d", "duration", "color", "breached", "odd"),
    [
        (None, None, None, False, False),  # no `now`: a running segment is not measured
        (timedelta(minutes=1), timedelta(minutes=1), Color.GREEN, False, False),
        (timedelta(minutes=3), timedelta(minutes=3), Color.ORANGE, False, False),
        (timedelta(minutes=4), timedelta(minutes=4), Color.ORANGE, False, False),
        (timedelta(minutes=4, seconds=1), timedelta(minutes=4, seconds=1), Color.RED, True, False),
        (-SEC, timedelta(0), Color.GREEN, False, True),  # server clock behind the device's
    ],
)
def test_running_segment_measured_against_now(now_after_d, duration, color, breached, odd):
    d_at = timedelta(minutes=3)
    now = None if now_after_d is None else T0 + d_at + now_after_d
    result = timeline(order("ABCD"), now=now)
    de = result.segment("DE")
    assert (de.status, de.duration, de.color, de.breached) == ("running", duration, color, breached)
    assert (de.ended_at, de.clock_inconsistent) == (None, odd)
    assert [b.segment for b in breaches(result)] == (["DE"] if breached else [])
    assert breaches(result, include_running=False) == []
    assert result.total.status == "running"


@pytest.mark.parametrize(
    ("points", "statuses"),
    [
        ("", "ppppppp p"),
        ("A", "rpppppp r"),
        ("ABCD", "dddrppp r"),
        ("ABD", "duurppp r"),  # C never recorded: BC and CD cannot be measured
        ("ABCEFGH", "dduuddd d"),  # D never recorded
        ("BCDEFGH", "udddddd u"),
        ("ABCDEFG", "ddddddr r"),
        ("H", "uuuuuuu u"),
        ("ABCDEFGH", "ddddddd d"),
    ],
)
def test_missing_points(points, statuses):
    result = timeline(order(points), now=T0 + timedelta(hours=1))
    got = "".join(s.status[0] for s in result.segments) + " " + result.total.status[0]
    assert got == statuses
    for s in (*result.segments, result.total):
        if s.status in ("pending", "unknown"):
            assert (s.duration, s.color, s.breached, s.percent_used) == (None, None, False, None)


@pytest.mark.parametrize(
    ("h_events", "winner"),
    [
        ([("terminal", 30, "t"), ("geofence", 10, "g")], "g"),  # earliest wins
        ([("geofence", 10, "g"), ("terminal", 30, "t")], "g"),
        ([("terminal", 10, "t"), ("system", 10, "s")], "s"),  # tie: source rank
        ([("terminal", 10, "t"), ("geofence", 10, "g")], "t"),
        ([("manual", 10, "m"), ("sync", 10, "y")], "y"),
        ([("terminal", 10, "z"), ("terminal", 10, "a")], "a"),  # then event_id
    ],
)
def test_duplicate_points_earliest_wins(h_events, winner):
    base = order("ABCDEFG")
    arrive = timedelta(minutes=20)
    dups = [ev("H", arrive + s * SEC, EventSource(src), eid) for src, s, eid in h_events]
    result = timeline(base + dups)
    assert result.event_for(TimingPoint.H).event_id == winner
    expected = min(s for _src, s, _eid in h_events)
    assert result.segment("GH").duration == arrive + expected * SEC - timedelta(minutes=6)


def test_late_backfilled_duplicate_with_earlier_time_wins():
    events = order()
    backfill = ev("F", timedelta(minutes=4, seconds=30), EventSource.SYNC, "late", backfilled=True)
    result = timeline([*events, backfill])
    assert result.event_for(TimingPoint.F) == backfill
    assert result.segment("EF").duration == timedelta(seconds=30)
    assert result.segment("FG").duration == timedelta(seconds=90)


def test_out_of_order_clocks_never_go_negative_and_still_add_up():
    # E's device clock reads 50 s before D was dispatched.
    events = [
        ev(p, timedelta(minutes=m))
        for p, m in zip("ABCDEFGH", [0, 1, 2, 3, 2.2, 4, 5, 9], strict=True)
    ]
    result = timeline(events)
    durations = {s.segment: s.duration for s in result.segments}
    assert durations["DE"] == timedelta(0)
    assert durations["EF"] == timedelta(minutes=1)  # measured from D's time, not E's
    flagged = [s.segment for s in result.segments if s.clock_inconsistent]
    assert flagged == ["DE", "EF"]
    assert sum(durations.values(), timedelta(0)) == result.total.duration == timedelta(minutes=9)
    assert result.total.clock_inconsistent is False
    assert result.segment("DE").started_at == result.segment("DE").ended_at


def test_total_flagged_when_arrival_clock_is_behind():
    events = order("ABCDEFG") + [ev("H", timedelta(minutes=5))]
    result = timeline(events)
    assert result.segment("GH").duration == timedelta(0)
    assert result.total.clock_inconsistent is True
    assert result.total.duration == timedelta(minutes=6)


def test_naive_datetimes_are_rejected():
    naive = datetime(2025, 3, 1, 8, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        TimingEvent("x", TimingPoint.A, naive, T0, EventSource.MANUAL)
    with pytest.raises(ValueError, match="timezone-aware"):
        timeline(order(), now=naive)


def test_segment_lookup_by_name():
    result = timeline(order())
    assert [result.segment(s).segment for s in (*SEGMENTS, TOTAL)] == [*SEGMENTS, "AH"]
    assert POLICY.limit_for(TOTAL, True) == timedelta(minutes=45)
    with pytest.raises(KeyError):
        POLICY.limit_for("AC", False)


# --- policy as JSON -------------------------------------------------------------------------


def test_policy_round_trips_through_json():
    data = json.loads(json.dumps(POLICY.to_dict()))
    assert data["limits_minutes"]["GH"] == 28 and data["responsible"]["EF"] == "crew"
    assert SlaPolicy.from_dict(data) == POLICY
    data["limits_minutes"]["AB"] = 1.5
    assert SlaPolicy.from_dict(data).limit_for("AB", False) == timedelta(seconds=90)
    assert SlaPolicy.from_dict(data).to_dict()["limits_minutes"]["AB"] == 1.5


def _broken(path: str, value: Any) -> dict[str, Any]:
    data = POLICY.to_dict()
    *parents, key = path.split(".")
    target = data
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[key]
    else:
        target[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_broken("limits_minutes.GH", KeyError), r"missing \['GH'\]"),
        (_broken("limits_minutes.DE", 3), r"unknown \['DE'\]"),
        (_broken("limits_minutes.AB", 0), "AB: must be positive"),
        (_broken("limits_minutes.AB", -2), "AB: must be positive"),
        (_broken("limits_minutes.AB", True), "AB: expected a number"),
        (_broken("limits_minutes.AB", "2"), "AB: expected a number"),
        (_broken("limits_minutes.AB", float("nan")), "AB: expected a number"),
        (_broken("limits_minutes.AB", float("inf")), "AB: expected a number"),
        (_broken("limits_minutes.AB", 1e300), "AB: .* too large"),
        (_broken("limits_minutes.AB", 1e-12), "positive durations: AB"),
        (_broken("responsible.EF", "crew_leader"), "responsible: 'crew_leader'"),
        (_broken("responsible.EF", KeyError), r"responsible: missing \['EF'\]"),
        (_broken("responsible", ["crew"]), "must be objects"),
        (_broken("version", 2), "unsupported policy version 2"),
        (_broken("colour", "red"), r"unknown \['colour'\]"),
        ([], "must be an object"),
    ],
)
def test_invalid_policies_are_rejected_with_a_clear_message(data, message):
    with pytest.raises(InvalidPolicy, match=message):
        SlaPolicy.from_dict(data)


# --- properties -----------------------------------------------------------------------------

SECONDS = st.integers(min_value=0, max_value=3600)  # a small range so ties and skew happen


@st.composite
def events_for(draw: Any, point: st.SearchStrategy[TimingPoint]) -> TimingEvent:
    at, rec = draw(SECONDS), draw(st.integers(0, 5))
    return TimingEvent(
        draw(st.sampled_from("abc")),
        draw(point),
        T0 + at * SEC,
        T0 + rec * SEC,
        draw(st.sampled_from(list(EventSource))),
        draw(st.booleans()),
    )


ANY_EVENT = events_for(st.sampled_from(POINTS))
EVENTS = st.lists(ANY_EVENT, max_size=16)
FULL = st.tuples(*(events_for(st.just(p)) for p in POINTS)).map(list)
NOW = st.none() | SECONDS.map(lambda s: T0 + s * SEC)
SITE = st.booleans()
FAST = settings(max_examples=100, deadline=None)


def exact_color(ratio: Fraction) -> Color:
    """The documented rule in exact arithmetic, to catch any float drift in the engine."""
    if ratio < Fraction(1, 2):
        return Color.GREEN
    if ratio < Fraction(3, 4):
        return Color.YELLOW
    return Color.ORANGE if ratio <= 1 else Color.RED


@FAST
@given(FULL, EVENTS, SITE)
def test_segments_sum_exactly_to_total(full, extra, same_site):
    result = timeline(full + extra, same_site=same_site)
    durations = [s.duration for s in result.segments]
    assert all(d is not None and d >= timedelta(0) for d in durations)
    assert sum(durations, timedelta(0)) == result.total.duration


@FAST
@given(EVENTS, ANY_EVENT, SITE, NOW)
def test_later_point_never_changes_earlier_completed_segments(events, added, same_site, now):
    before = timeline(events, same_site=same_site, now=now)
    after = timeline([*events, added], same_site=same_site, now=now)
    for old, new in zip(before.segments, after.segments, strict=True):
        if old.status == "done" and POINTS.index(old.end_point) < POINTS.index(added.point):
            assert new == old


@FAST
@given(st.data(), EVENTS, SITE, NOW)
def test_arrival_order_does_not_matter(data, events, same_site, now):
    again = data.draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    shuffled = data.draw(st.permutations(events + again))
    expected = timeline(events, same_site=same_site, now=now)
    assert timeline(shuffled, same_site=same_site, now=now) == expected
    for s in (*expected.segments, expected.total):
        if s.duration is not None:  # the engine's hot path agrees with the exact rule
            assert s.duration >= timedelta(0)
            assert s.color == exact_color(Fraction(s.duration // US, s.limit // US))


@FAST
@given(st.data(), st.lists(ANY_EVENT, min_size=1, max_size=16), SITE, NOW)
def test_later_duplicate_changes_nothing(data, events, same_site, now):
    before = timeline(events, same_site=same_site, now=now)
    point = data.draw(st.sampled_from(events)).point
    winner = before.event_for(point)
    later = replace(
        data.draw(ANY_EVENT),
        point=point,
        occurred_at=winner.occurred_at + data.draw(st.integers(1, 10**9)) * US,
    )
    assert timeline([*events, later], same_site=same_site, now=now) == before


@FAST
@given(st.lists(st.tuples(st.integers(0, 10**10), st.integers(1, 10**10)), min_size=2))
def test_colors_are_monotonic_in_percent_used(pairs):
    rated = []
    for d, lim in pairs:
        color = color_for(d * US, lim * US)
        assert color == exact_color(Fraction(d, lim))
        rated.append((d * US / (lim * US) * 100, COLOR_RANK[color]))
    for (p1, r1), (p2, r2) in itertools.combinations(sorted(rated), 2):
        assert p1 == p2 or r1 <= r2


# --- differential: the lazily built rows against a plain reading of the rules ----------------


def _precedence(e: TimingEvent) -> tuple[Any, ...]:
    """Earliest first, then the better source, event id, recorded time, not backfilled."""
    return e.occurred_at, list(EventSource).index(e.source), e.event_id, e.recorded_at, e.backfilled


def reference_timeline(
    events: list[TimingEvent], policy: SlaPolicy, same_site: bool, now: datetime | None
) -> tuple[list[tuple[Any, ...]], list[TimingEvent | None]]:
    """Every row built eagerly and plainly from the documented rules (see compute_timeline)."""
    chosen: list[TimingEvent | None] = []
    for p in POINTS:
        mine = [e for e in events if e.point == p]
        chosen.append(min(mine, key=_precedence) if mine else None)
    recorded = [i for i, e in enumerate(chosen) if e is not None]
    last = max(recorded, default=-1)
    eff: list[datetime | None] = [None] * 8
    for i in recorded:
        eff[i] = max(chosen[j].occurred_at for j in recorded if j <= i)  # type: ignore[union-attr]
    moved = [e is not None and eff[i] != e.occurred_at for i, e in enumerate(chosen)]
    rows = []
    for name in (*SEGMENTS, TOTAL):
        si, ei = POINTS.index(TimingPoint(name[0])), POINTS.index(TimingPoint(name[1]))
        start, end = eff[si], eff[ei]
        duration, odd = None, False
        if start is not None and end is not None:
            status, duration, odd = "done", end - start, moved[si] or moved[ei]
        elif start is not None and last < ei:
            status = "running"
            if now is not None:
                duration, odd = max(now - start, timedelta(0)), moved[si] or now < start
        else:
            status = "pending" if start is None and last < si else "unknown"
        limit = policy.limit_for(name, same_site)
        color = None if duration is None else exact_color(Fraction(duration // US, limit // US))
        party = None if name == TOTAL else policy.responsible[name]
        rows.append(
            (name, status, start, end, duration, limit, color, color == Color.RED, odd, party)
        )
    return rows, chosen


def _row(s: Any) -> tuple[Any, ...]:
    return (s.segment, s.status, s.started_at, s.ended_at, s.duration, s.limit, s.color,
            s.breached, s.clock_inconsistent, s.responsible)  # fmt: skip


@FAST
@given(EVENTS, SITE, NOW, st.sampled_from(["segments", "DE", TOTAL]))
def test_lazy_rows_equal_the_rules_read_plainly(events, same_site, now, read_first):
    result = timeline(events, same_site=same_site, now=now)
    # Rows are built on first read and kept: whichever part is read first, all agree.
    first = result.segments if read_first == "segments" else result.segment(read_first)
    rows, chosen = reference_timeline(events, POLICY, same_site, now)
    assert [_row(s) for s in (*result.segments, result.total)] == rows
    assert [result.event_for(p) for p in POINTS] == chosen
    assert first is (result.segments if read_first == "segments" else result.segment(read_first))
