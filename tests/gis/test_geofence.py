"""Tests for gis.geofence: arrival (H) by dwell with hysteresis, departure (G), replay."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis.geofence import (
    ArrivalDetector,
    ArrivalRules,
    Checkpoint,
    DepartureDetector,
    DepartureRules,
    fix_order,
)
from gis.geometry import EARTH_RADIUS_M, haversine_m

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SITE = (116.391, 39.907)
M_PER_DEG = 2 * math.pi * EARTH_RADIUS_M / 360


@dataclass(frozen=True)
class Fix:
    ts: datetime
    lat: float
    lon: float
    acc: float | None = 5.0
    speed: float | None = 0.0


def at(seconds: float, north_m: float = 0.0, east_m: float = 0.0, **kw: Any) -> Fix:
    """A fix `seconds` after T0, offset in metres from SITE."""
    lat = SITE[1] + north_m / M_PER_DEG
    lon = SITE[0] + east_m / (M_PER_DEG * math.cos(math.radians(SITE[1])))
    return Fix(T0 + timedelta(seconds=seconds), lat, lon, **kw)


def arrival(fixes: list[Fix], rules: ArrivalRules | None = None) -> datetime | None:
    detector = ArrivalDetector(SITE, rules)
    fired = [cp for fix in fixes if (cp := detector.feed(fix)) is not None]
    assert len(fired) <= 1
    return fired[0].occurred_at if fired else None


def secs(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


APPROACH = [at(0, 2000, speed=12), at(60, 800, speed=12), at(120, 300, speed=8)]


@pytest.mark.parametrize(
    ("fixes", "expected"),
    [
        pytest.param([*APPROACH, at(150, 40), at(180, 30), at(210, 35)], secs(150), id="parks"),
        pytest.param([at(0, 10)], None, id="single fix"),
        pytest.param([at(0, 10), at(30, 10), at(59, 10)], None, id="dwell not reached"),
        pytest.param([at(0, 10), at(60, 10)], secs(0), id="dwell reached exactly"),
        pytest.param([at(0, 10), at(10, 500), at(20, 2000)], None, id="one noisy fix inside"),
        pytest.param(
            [at(0, 10, speed=15), at(30, 0, speed=15), at(60, -10, speed=15)],
            None,
            id="drives through",
        ),
        pytest.param([at(0, 10, speed=None), at(90, 5, speed=None)], secs(0), id="no speed"),
        pytest.param([at(0, 60, acc=50), at(90, 60, acc=50)], None, id="circle not inside"),
        pytest.param([at(0, 60, acc=30), at(90, 60, acc=30)], secs(0), id="circle inside"),
        pytest.param(
            [at(0, 85, acc=None), at(90, 85, acc=None)], None, id="no accuracy assumes 20 m"
        ),
        pytest.param([at(0, 75, acc=None), at(90, 75, acc=None)], secs(0), id="assumed fits"),
        pytest.param(
            [at(0, 10), at(20, 120), at(40, 10), at(60, 140), at(70, 5)],
            secs(0),
            id="edge jitter inside the ring keeps the stay",
        ),
        pytest.param(
            [at(0, 10), at(20, 200), at(40, 10), at(70, 10), at(100, 10)],
            secs(40),
            id="beyond the ring ends the stay",
        ),
        pytest.param(
            [at(0, 10), at(20, 200, acc=60), at(40, 10), at(70, 10)],
            secs(0),
            id="beyond the ring only within accuracy keeps the stay",
        ),
        pytest.param(
            [at(0, 10), at(30, 10, speed=3), at(61, 10, speed=3), at(90, 10)],
            secs(0),
            id="moving fixes neither extend nor end",
        ),
        pytest.param(
            [at(0, 10), at(30, 5000, acc=500), at(70, 10)], secs(0), id="awful accuracy ignored"
        ),
    ],
)
def test_arrival_table(fixes: list[Fix], expected: datetime | None) -> None:
    assert arrival(fixes) == expected


def test_arrival_evidence_and_fires_once() -> None:
    detector = ArrivalDetector(SITE)
    assert detector.feed(at(0, 30)) is None
    assert detector.feed(at(30, 20)) is None
    checkpoint = detector.feed(at(75, 10))
    assert checkpoint == Checkpoint(
        point="H",
        occurred_at=secs(0),
        evidence={
            "rule": "dwell",
            "site": list(SITE),
            "radius_m": 100.0,
            "dwell_s": 60.0,
            "first_fix_at": "2024-05-01T08:00:00Z",
            "confirmed_at": "2024-05-01T08:01:15Z",
            "fixes_inside": 3,
            "first_distance_m": 30.0,
        },
    )
    assert detector.fired == checkpoint
    assert detector.feed(at(200, 10)) is None


def test_late_fixes_are_skipped_live_and_replay_times_them() -> None:
    detector = ArrivalDetector(SITE)
    # The terminal was offline at the site; its live feed resumes after it left...
    assert detector.feed(at(600, 3000, speed=15)) is None
    # ...then the backfilled batch comes in, older than what was consumed.
    batch = [at(100, 20), at(130, 20), at(170, 15), at(400, 2000, speed=15)]
    assert [detector.feed(f) for f in batch] == [None] * 4
    assert detector.late_fixes == 4
    [checkpoint] = detector.replay([at(600, 3000, speed=15), *batch])
    assert checkpoint.occurred_at == secs(100)
    assert detector.late_fixes == 0


def test_rules_validation() -> None:
    with pytest.raises(ValueError, match="dwell"):
        ArrivalRules(dwell=timedelta(0))
    with pytest.raises(ValueError, match="WGS-84"):
        ArrivalDetector((200.0, 0.0))
    with pytest.raises(ValueError, match="radius"):
        DepartureRules(radius_m=0)
    with pytest.raises(ValueError, match="aware"):
        DepartureDetector(datetime(2024, 5, 1))


def departure(
    fixes: list[Fix], accepted_s: float = 0.0, start: tuple[float, float] | None = None
) -> Checkpoint | None:
    detector = DepartureDetector(secs(accepted_s), start)
    fired = [cp for fix in fixes if (cp := detector.feed(fix)) is not None]
    assert len(fired) <= 1
    return fired[0] if fired else None


@pytest.mark.parametrize(
    ("fixes", "accepted_s", "start", "expected"),
    [
        pytest.param(
            [at(-30), at(30, 20), at(90, 100, speed=8), at(120, 400, speed=10)],
            0,
            None,
            secs(120),
            id="leaves",
        ),
        pytest.param(
            [at(-30), at(60, 300, speed=0), at(90, 350, speed=9)],
            0,
            None,
            secs(90),
            id="stationary jump is not a departure",
        ),
        pytest.param(
            [at(-30), at(60, 300, speed=None)], 0, None, secs(60), id="unknown speed counts"
        ),
        pytest.param(
            [at(-30), at(60, 180, acc=40, speed=9), at(70, 200, acc=10, speed=9)],
            0,
            None,
            secs(70),
            id="outside only beyond its accuracy",
        ),
        pytest.param(
            [at(-600, 5000), at(-60, 1000, speed=9), at(-10, 0), at(30, 30), at(60, 400, speed=9)],
            0,
            None,
            secs(60),
            id="start is the latest fix before acceptance",
        ),
        pytest.param(
            [at(-600, 5000), at(30, 5000), at(60, 5100), at(90, 5300, speed=9)],
            0,
            None,
            secs(90),
            id="no recent fix: first fix after acceptance is the start",
        ),
        pytest.param(
            [at(-20, 400, speed=9), at(10, 600, speed=9)],
            0,
            SITE,
            secs(10),
            id="given start, fixes before acceptance ignored",
        ),
        pytest.param([at(-30), at(60, 100, speed=9)], 0, None, None, id="still within radius"),
    ],
)
def test_departure_table(
    fixes: list[Fix],
    accepted_s: float,
    start: tuple[float, float] | None,
    expected: datetime | None,
) -> None:
    checkpoint = departure(fixes, accepted_s, start)
    assert (checkpoint.occurred_at if checkpoint else None) == expected


def test_departure_evidence() -> None:
    checkpoint = departure([at(-30), at(30, 20, speed=1), at(90, 400, speed=10)])
    assert checkpoint is not None
    assert checkpoint.point == "G"
    assert checkpoint.source == "geofence"
    assert checkpoint.evidence["first_outside_at"] == "2024-05-01T08:01:30Z"
    assert checkpoint.evidence["last_inside_at"] == "2024-05-01T08:00:30Z"
    assert checkpoint.evidence["distance_m"] == pytest.approx(400, abs=0.2)


# --- properties -------------------------------------------------------------------------

fixes_near_site = st.builds(
    at,
    st.floats(0, 900),
    st.floats(-400, 400),
    st.floats(-400, 400),
    acc=st.none() | st.floats(0, 300),
    speed=st.none() | st.floats(0, 20),
)


@given(fixes_near_site)
def test_arrival_never_fires_from_a_single_fix(fix: Fix) -> None:
    assert ArrivalDetector(SITE).feed(fix) is None


@given(st.lists(fixes_near_site, max_size=40))
def test_arrival_time_is_a_fix_before_the_dwell_completion(fixes: list[Fix]) -> None:
    result = ArrivalDetector(SITE).replay(fixes)
    if result:
        [checkpoint] = result
        confirmed = datetime.fromisoformat(checkpoint.evidence["confirmed_at"])
        assert checkpoint.occurred_at in {f.ts for f in fixes}
        assert checkpoint.occurred_at <= confirmed - timedelta(seconds=60)
        first = [f for f in fixes if f.ts == checkpoint.occurred_at]
        assert any(haversine_m(*SITE, f.lon, f.lat) <= 100 for f in first)


@given(st.lists(fixes_near_site, max_size=40), st.randoms(use_true_random=False))
def test_replay_is_order_independent_and_matches_a_live_feed(
    fixes: list[Fix], rnd: random.Random
) -> None:
    live = ArrivalDetector(SITE)
    fired = [cp for f in sorted(fixes, key=fix_order) if (cp := live.feed(f))]
    shuffled = list(fixes)
    rnd.shuffle(shuffled)
    replayed = ArrivalDetector(SITE).replay(shuffled)
    assert replayed == ArrivalDetector(SITE).replay(fixes)
    assert [cp.occurred_at for cp in replayed] == [cp.occurred_at for cp in fired]

    accepted = secs(100)
    departures = DepartureDetector(accepted).replay(shuffled)
    assert departures == DepartureDetector(accepted).replay(fixes)
    assert all(cp.occurred_at > accepted for cp in departures)


@given(
    st.lists(
        st.tuples(
            st.floats(1, 30),
            st.booleans(),
            st.floats(0, 2 * math.pi),
            st.floats(0, 1),
            st.floats(0, 15),
        ),
        min_size=2,
        max_size=40,
    )
)
def test_edge_jitter_within_hysteresis_fires_once_at_the_first_inside_fix(
    steps: list[tuple[float, bool, float, float, float]],
) -> None:
    """A parked vehicle whose fixes wander between the circle and the exit ring."""
    fixes, t = [at(0, 50, speed=0.5, acc=10)], 0.0
    for dt, inside, angle, frac, acc in steps:
        t += dt
        # Inside: the whole accuracy circle within 100 m; ring: beyond 100 m, but not
        # surely beyond 150 m.
        r = frac * (100 - acc) if inside else 100 + frac * (50 - 0.01)
        fixes.append(at(t, r * math.cos(angle), r * math.sin(angle), acc=acc, speed=0.5))
    detector = ArrivalDetector(SITE)
    fired = [cp for f in fixes if (cp := detector.feed(f)) is not None]
    last_inside = max(
        (f.ts for f in fixes if haversine_m(*SITE, f.lon, f.lat) + (f.acc or 0) <= 100),
    )
    if last_inside - fixes[0].ts >= timedelta(seconds=60):
        assert [cp.occurred_at for cp in fired] == [T0]
    else:
        assert fired == []


@given(
    st.lists(fixes_near_site, max_size=40),
    st.lists(st.integers(0, 40), max_size=5),
    st.floats(0, 900),
)
def test_snapshot_and_restore_between_batches_equals_one_feed(
    fixes: list[Fix], cuts: list[int], accepted_s: float
) -> None:
    """The ingest feeds each batch to a detector rebuilt from its stored snapshot."""
    ordered = sorted(fixes, key=fix_order)
    bounds = [0, *sorted({min(c, len(ordered)) for c in cuts}), len(ordered)]
    for make in (lambda: ArrivalDetector(SITE), lambda: DepartureDetector(secs(accepted_s))):
        whole = make()
        expected = [cp for f in ordered if (cp := whole.feed(f))]
        state: dict[str, Any] = {}
        got: list[Checkpoint] = []
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            detector = make()
            detector.restore(state)
            got += [cp for f in ordered[lo:hi] if (cp := detector.feed(f))]
            if got:
                break  # a fired watch is never fed again
            state = json.loads(json.dumps(detector.snapshot()))  # stored as JSON
        assert got == expected
