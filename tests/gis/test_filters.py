"""Tests for gis.filters.FixFilter: the rejection reasons, late fixes, memory bounds."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis.filters import FilterConfig, FixFilter, RejectReason
from gis.geometry import EARTH_RADIUS_M

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SITE = (116.391, 39.907)
M_PER_DEG = 2 * math.pi * EARTH_RADIUS_M / 360


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    ts: datetime
    acc: float | None = 5.0
    seq: int | None = None
    vehicle: str = "v1"


def at(seconds: float, north_m: float = 0.0, east_m: float = 0.0, **kw: Any) -> Fix:
    """A fix `seconds` before NOW, offset in metres from SITE."""
    lat = SITE[1] + north_m / M_PER_DEG
    lon = SITE[0] + east_m / (M_PER_DEG * math.cos(math.radians(SITE[1])))
    return Fix(lat=lat, lon=lon, ts=NOW - timedelta(hours=1) + timedelta(seconds=seconds), **kw)


def run(fixes: list[Fix], config: FilterConfig | None = None) -> list[str | None]:
    flt = FixFilter(config)
    return [None if (r := flt.check(f, NOW)) is None else r.reason.value for f in fixes]


@pytest.mark.parametrize(
    ("fix", "reason"),
    [
        (at(0), None),
        (replace(at(0), lat=90.5), "invalid"),
        (replace(at(0), lon=math.nan), "invalid"),
        (replace(at(0), lon=-math.inf), "invalid"),
        (replace(at(0), ts=datetime(2024, 5, 1, 7, 0)), "invalid"),
        (replace(at(0), acc=-1.0), "invalid"),
        (replace(at(0), acc=math.nan), "invalid"),
        (replace(at(0), lat=0.0, lon=0.0), "null_island"),
        (replace(at(0), lat=0.000001, lon=-0.000001), "null_island"),
        (replace(at(0), ts=NOW + timedelta(minutes=2)), None),
        (replace(at(0), ts=NOW + timedelta(minutes=2, seconds=1)), "future"),
        (replace(at(0), acc=200.0), None),
        (replace(at(0), acc=200.5), "poor_accuracy"),
        (replace(at(0), acc=None), None),
    ],
)
def test_single_fix_rules(fix: Fix, reason: str | None) -> None:
    assert run([fix]) == [reason]


@pytest.mark.parametrize(
    ("fixes", "expected"),
    [
        pytest.param([at(0, seq=1), at(0, seq=2)], [None, "duplicate"], id="same ts"),
        pytest.param([at(0, seq=1), at(5, 10, seq=1)], [None, "duplicate"], id="same seq"),
        pytest.param([at(0), at(5, 10)], [None, None], id="no seq"),
        pytest.param([at(0), at(5, 1000)], [None, "impossible_speed"], id="1 km in 5 s"),
        pytest.param([at(0), at(5, 340)], [None, None], id="68 m/s"),
        pytest.param(
            [at(0, acc=50), at(1, 150, acc=50)], [None, None], id="jitter within accuracy"
        ),
        pytest.param([at(0), at(0.2, 40)], [None, None], id="sub-second stamps floored"),
        pytest.param(
            [at(0), at(600, 10_000), at(300, 5_000)],
            [None, None, None],
            id="late fix between neighbours, far from the newest",
        ),
        pytest.param(
            [at(0), at(3600, 50), at(10, 10_000)],
            [None, None, "impossible_speed"],
            id="late wild fix judged against its time neighbour, not the newest",
        ),
        pytest.param(
            [at(100), at(110, 100), at(0, 20_000)],
            [None, None, "impossible_speed"],
            id="late fix older than the whole history",
        ),
        pytest.param(
            [at(0), at(10, 50_000), at(20, 50_100)],
            [None, "impossible_speed", "impossible_speed"],
            id="rejected fixes are no reference",
        ),
    ],
)
def test_sequence_rules(fixes: list[Fix], expected: list[str | None]) -> None:
    assert run(fixes) == expected


def test_duplicate_of_a_rejected_fix_is_judged_again() -> None:
    assert run([at(0), at(5, 1000), at(5, 1000)]) == [None, "impossible_speed", "impossible_speed"]


def test_wild_first_fix_is_recovered_by_reanchoring() -> None:
    wild = at(0, 80_000)
    truth = [at(10 * i, 10 * i) for i in range(1, 6)]
    assert run([wild, *truth]) == [None, "impossible_speed", "impossible_speed", None, None, None]


def test_inconsistent_jumps_do_not_reanchor() -> None:
    fixes = [at(0), at(10, 30_000), at(20, -30_000), at(30, 30_000, 30_000), at(40, 100)]
    assert run(fixes) == [None, *["impossible_speed"] * 3, None]


def test_counters_per_vehicle_and_reason() -> None:
    flt = FixFilter()
    for fix in [
        at(0),
        at(0),
        at(1, acc=500),
        replace(at(0), vehicle="v2"),
        replace(at(1), lat=0.0, lon=0.0, vehicle="v2"),
        replace(at(2), lat=0.0, lon=0.0, vehicle="v2"),
    ]:
        flt.check(fix, NOW)
    expected = {
        ("v1", RejectReason.DUPLICATE): 1,
        ("v1", RejectReason.POOR_ACCURACY): 1,
        ("v2", RejectReason.NULL_ISLAND): 2,
    }
    assert flt.counters() == expected
    assert flt.counters(reset=True) == expected
    assert flt.counters() == {}


def test_vehicles_are_independent_and_lru_bounded() -> None:
    flt = FixFilter(FilterConfig(max_vehicles=2))
    for vehicle in ("a", "b"):
        assert flt.check(replace(at(0), vehicle=vehicle), NOW) is None
    assert flt.check(replace(at(10), vehicle="a"), NOW) is None  # "a" is now the most recent
    assert flt.check(replace(at(0), vehicle="c"), NOW) is None  # evicts "b"
    assert flt.tracked_vehicles == 2
    assert flt.check(replace(at(0), vehicle="b"), NOW) is None  # "b" was forgotten
    assert flt.check(replace(at(10), vehicle="c"), NOW) is None
    assert flt.check(replace(at(10), vehicle="c"), NOW) is not None


def test_history_is_bounded_and_forget() -> None:
    flt = FixFilter(FilterConfig(history_size=3))
    for i in range(5):
        assert flt.check(at(10 * i, seq=i), NOW) is None
    # seq 0 and 1 fell out of the history; the database constraint stays the real guard.
    assert flt.check(at(1, seq=0), NOW) is None
    assert flt.check(at(41, seq=4), NOW) is not None
    flt.forget("v1")
    assert flt.tracked_vehicles == 0
    assert flt.check(at(41, seq=4), NOW) is None


def test_naive_now_and_bad_config_raise() -> None:
    with pytest.raises(ValueError, match="aware"):
        FixFilter().check(at(0), datetime(2024, 5, 1))
    with pytest.raises(ValueError):
        FilterConfig(max_speed_m_s=0)
    with pytest.raises(ValueError):
        FilterConfig(reanchor_after=1)


@st.composite
def plausible_tracks(draw: st.DrawFn) -> list[Fix]:
    """A vehicle driving at most 60 m/s with jitter inside its reported accuracy."""
    n = draw(st.integers(2, 25))
    fixes, t, north, east = [], 0.0, 0.0, 0.0
    for seq in range(n):
        dt = draw(st.floats(1, 120))
        speed = draw(st.floats(0, 60))
        heading = draw(st.floats(0, 2 * math.pi))
        t, north, east = (
            t + dt,
            north + speed * dt * math.cos(heading),
            east + speed * dt * math.sin(heading),
        )
        acc = draw(st.floats(3, 50))
        jitter = draw(st.floats(0, acc))
        fixes.append(at(t, north + jitter, east, acc=acc, seq=seq))
    return fixes


@given(plausible_tracks(), st.randoms(use_true_random=False))
def test_plausible_track_is_accepted_in_any_arrival_order(
    track: list[Fix], rnd: random.Random
) -> None:
    rnd.shuffle(track)
    assert run(track, FilterConfig(history_size=64)) == [None] * len(track)


finite_or_not = st.floats(allow_nan=True, allow_infinity=True)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            finite_or_not,
            finite_or_not,
            st.integers(-(10**6), 10**6),
            st.none() | finite_or_not,
            st.none() | st.integers(0, 5),
            st.sampled_from(["a", "b", "c"]),
        ),
        max_size=40,
    )
)
def test_never_raises_and_stays_bounded(
    rows: list[tuple[float, float, int, float | None, int | None, str]],
) -> None:
    flt = FixFilter(FilterConfig(history_size=4, max_vehicles=2))
    accepted: dict[str, list[Fix]] = {}
    for lat, lon, seconds, acc, seq, vehicle in rows:
        fix = Fix(lat, lon, NOW + timedelta(seconds=seconds), acc, seq, vehicle)
        if flt.check(fix, NOW) is None:
            assert (
                math.isfinite(lat) and math.isfinite(lon) and fix.ts <= NOW + timedelta(minutes=2)
            )
            accepted.setdefault(vehicle, []).append(fix)
    assert flt.tracked_vehicles <= 2
    assert sum(flt.counters().values()) + sum(map(len, accepted.values())) == len(rows)


def test_rollback_forgets_a_failed_batch_so_its_retry_is_accepted() -> None:
    from datetime import UTC, datetime, timedelta

    from gis.filters import FixFilter

    class Fix:
        def __init__(self, ts, seq):
            self.vehicle, self.ts, self.seq = "T-1", ts, seq
            self.lat, self.lon, self.acc = 30.25, 120.14, 5.0

    now = datetime(2026, 1, 1, tzinfo=UTC)
    fixes = [Fix(now - timedelta(seconds=10 - i), i) for i in range(3)]
    fix_filter = FixFilter()
    fix_filter.begin()
    assert all(fix_filter.check(f, now) is None for f in fixes)
    fix_filter.rollback()  # the batch's transaction failed
    fix_filter.begin()
    assert all(fix_filter.check(f, now) is None for f in fixes)  # the retry is not "duplicate"
    fix_filter.commit()
    assert fix_filter.check(fixes[0], now).reason == "duplicate"
