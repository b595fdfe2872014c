"""Where every benchmark leaves its figures, so `make bench` can write one report.

Each script calls `record()` once at the end with its measures; `bench/report.py` reads every
`var/bench/<bench>.json` and writes `var/bench/report.md` (with the machine and the commit).
A measure is a ratio against a baseline run in the same process wherever there is one; the
absolute figure is kept beside it for context.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

_DEFAULT_DIR = Path(__file__).resolve().parents[1] / "var" / "bench"
RESULTS_DIR = Path(os.environ.get("FIELDLINE_BENCH_DIR", _DEFAULT_DIR))
WALL_TIMES = "wall_times.json"  # written by `bench/run_all.py`, read by `bench/report.py`


@dataclass(frozen=True)
class Measure:
    """One figure: `value` in `unit`, and (when there is one) the same-run baseline and goal."""

    name: str
    value: float
    unit: str
    baseline: float | None = None  # the same-run baseline, in the same unit
    goal: str | None = None  # the goal as text, e.g. ">= 0.5 of raw" or "p95 <= 5 ms"
    met: bool | None = None  # whether `value` meets `goal` (None when there is no goal)

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None


def record(bench: str, measures: list[Measure], charts: list[Path] | None = None) -> Path:
    """Write `var/bench/<bench>.json` (measures plus the PNG charts the script drew)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{bench}.json"
    rows = [asdict(m) | {"ratio": m.ratio} for m in measures]
    payload = {"bench": bench, "measures": rows, "charts": [str(c) for c in charts or []]}
    path.write_text(json.dumps(payload, indent=2))
    return path
