"""Throughput of compute_timeline against a bare loop that only sums consecutive point gaps.

Usage: python bench/bench_sla.py [--orders N] [--repeat R]

Prints absolute figures and the engine/baseline ratio (from CPU time, the loops taking turns);
no thresholds (CI machines vary).
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from backend.dispatch.timing.sla import (  # noqa: E402
    EventSource,
    SlaPolicy,
    TimingEvent,
    TimingPoint,
    breaches,
    compute_timeline,
)
from bench._results import Measure, record  # noqa: E402
from bench._scale import scaled  # noqa: E402

SEED = 20250301
GOAL = 0.3  # of the plain summing loop's throughput
POINTS = list(TimingPoint)
INDEX = {p: i for i, p in enumerate(POINTS)}
SOURCES = list(EventSource)
MEAN_GAP_S = [90, 180, 90, 150, 90, 120, 1200]  # typical AB..GH, some over their limits
Order = tuple[list[TimingEvent], bool, datetime]


def make_orders(n: int, rng: random.Random) -> list[Order]:
    """Orders with ~10 events: 90 % reached H, 1-3 duplicates, 3 % skewed device clocks."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    orders: list[Order] = []
    for o in range(n):
        at = base + timedelta(seconds=rng.randrange(30 * 86400))
        reached = 8 if rng.random() < 0.9 else rng.randrange(1, 8)
        events: list[TimingEvent] = []
        for i in range(reached):
            if i:
                at += timedelta(seconds=rng.expovariate(1 / MEAN_GAP_S[i - 1]))
            t = at - timedelta(seconds=rng.randrange(1, 120)) if rng.random() < 0.03 else at
            src = rng.choice(SOURCES)
            events.append(TimingEvent(f"{o}-{i}", POINTS[i], t, t, src))
        for k in range(rng.choice((1, 2, 3, 3))):  # terminal + geofence, late backfills
            dup = rng.choice(events)
            t = dup.occurred_at + timedelta(seconds=rng.randrange(-30, 90))
            late = t + timedelta(minutes=10)
            events.append(TimingEvent(f"{o}-d{k}", dup.point, t, late, rng.choice(SOURCES), True))
        rng.shuffle(events)
        orders.append((events, rng.random() < 0.5, at + timedelta(minutes=rng.randrange(30))))
    return orders


def run_engine(orders: list[Order]) -> int:
    policy = SlaPolicy.default()
    breached = 0
    for events, same_site, now in orders:
        breached += compute_timeline(events, policy, same_site=same_site, now=now).total.breached
    return breached


def run_engine_every_row(orders: list[Order]) -> int:
    """The engine with every row read, as `write_breaches` and the timeline API read it."""
    policy = SlaPolicy.default()
    found = 0
    for events, same_site, now in orders:
        found += len(breaches(compute_timeline(events, policy, same_site=same_site, now=now)))
    return found


def run_baseline(orders: list[Order]) -> int:
    """Earliest time per point, then the sum of gaps between consecutive recorded points."""
    total = timedelta(0)
    for events, _same_site, _now in orders:
        times: list[datetime | None] = [None] * 8
        for ev in events:
            i = INDEX[ev.point]
            t = times[i]
            if t is None or ev.occurred_at < t:
                times[i] = ev.occurred_at
        prev = None
        for t in times:
            if t is not None:
                if prev is not None:
                    total += t - prev
                prev = t
    return int(total.total_seconds())


def best_of(
    repeat: int, runs: list[Callable[[list[Order]], int]], orders: list[Order]
) -> list[tuple[float, float]]:
    """Best (wall, CPU) seconds of each function, the functions taking turns.

    Taking turns gives both the same share of a busy machine; the ratio is taken from CPU
    time, which other processes on a shared runner disturb far less than wall time.
    """
    best = [(float("inf"), float("inf"))] * len(runs)
    for _ in range(repeat):
        for index, fn in enumerate(runs):
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(orders)
            wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            best[index] = (min(best[index][0], wall), min(best[index][1], cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=scaled(100_000, 1000))
    parser.add_argument("--repeat", type=int, default=5, help="turns of each loop; best is kept")
    args = parser.parse_args()

    start = time.perf_counter()
    orders = make_orders(args.orders, random.Random(SEED))
    n_events = sum(len(events) for events, _, _ in orders)
    print(f"python {platform.python_version()} on {platform.machine()}, seed {SEED}")
    print(
        f"generated {args.orders:,} orders, {n_events:,} events "
        f"({n_events / args.orders:.1f}/order) in {time.perf_counter() - start:.1f} s"
    )
    print(f"orders with A->H breached: {run_engine(orders):,}")

    (engine_wall, engine), (every_wall, every), (baseline_wall, baseline) = best_of(
        args.repeat, [run_engine, run_engine_every_row, run_baseline], orders
    )
    for name, secs, wall in (
        ("engine", engine, engine_wall),
        ("every row", every, every_wall),
        ("baseline", baseline, baseline_wall),
    ):
        rate, per = args.orders / secs, secs / args.orders * 1e6
        print(
            f"{name:>9}: {secs:7.3f} s CPU ({wall:.3f} s wall)  {rate:>11,.0f} orders/s  "
            f"{per:6.2f} us/order"
        )
    print(
        f"ratio engine/baseline: {baseline / engine:.3f} of the throughput "
        f"(engine takes {engine / baseline:.2f}x as long; best CPU time of {args.repeat} turns)"
    )
    # Rows are built when read: a caller reading all eight pays for them (no goal, context).
    print(f"ratio with every row read (breaches): {baseline / every:.3f}")
    ratio = baseline / engine
    record(
        "sla",
        [
            Measure(
                f"timelines ({args.orders:,} orders)",
                args.orders / engine,
                "orders/s",
                baseline=args.orders / baseline,
                goal=f">= {GOAL} of the plain summing loop",
                met=ratio >= GOAL,
            ),
            Measure(
                f"timelines, every row read ({args.orders:,} orders)",
                args.orders / every,
                "orders/s",
                baseline=args.orders / baseline,
            ),
        ],
    )


if __name__ == "__main__":
    main()
