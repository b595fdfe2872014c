"""One size knob for every benchmark: `FIELDLINE_BENCH_SCALE` (a fraction, default 1).

The scripts' defaults are the sizes of issue 16 (1 M customers, nearest at 10k/100k/1M, ...);
`scaled()` multiplies a default by the knob, so `make bench-quick` (0.01) exercises every
code path in minutes and `make bench` keeps the issue's sizes. An explicit flag still wins:
the knob only moves the defaults.
"""

from __future__ import annotations

import os


def scale() -> float:
    """The knob's value; a typo fails loudly rather than silently running full size."""
    value = float(os.environ.get("FIELDLINE_BENCH_SCALE", "1"))
    if value <= 0:
        raise ValueError(f"FIELDLINE_BENCH_SCALE must be > 0, got {value}")
    return value


def scaled(default: int, minimum: int = 1) -> int:
    """`default` times the knob, never below `minimum` (a percentile needs a few samples)."""
    return max(minimum, round(default * scale()))


def scaled_seconds(default: float, minimum: float = 2.0) -> float:
    """A run length times the knob, never below `minimum` (a rate needs a few windows)."""
    return max(minimum, default * scale())
