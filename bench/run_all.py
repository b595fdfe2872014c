"""`make bench`: every `bench/bench_*.py`, then `bench/report.py`, with each script's wall time.

Usage: python bench/run_all.py [--only NAME ...]

Each script runs in its own process; one that fails is reported and the others still run, so
one crash does not cost the whole run's figures. The previous run's results move to
`var/bench/previous/` (for `report.py --also`). Wall times go to `wall_times.json` beside the
results, the report lists them, and they are printed last (where the budget went). Exits
non-zero when any script failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from bench._results import RESULTS_DIR, WALL_TIMES  # noqa: E402
from bench._scale import scale  # noqa: E402

BENCH = Path(__file__).resolve().parent


def set_aside_previous(folder: Path) -> None:
    """Move the last run's results to `folder/previous` so this report shows this run only."""
    old = [p for p in folder.glob("*") if p.is_file() and p.suffix in {".json", ".png", ".md"}]
    if not old:
        return
    previous = folder / "previous"
    shutil.rmtree(previous, ignore_errors=True)
    previous.mkdir(parents=True)
    for path in old:
        path.rename(previous / path.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="bench names, e.g. sla nearest (default: all)")
    args = parser.parse_args()
    scripts = sorted(BENCH.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    set_aside_previous(RESULTS_DIR)
    walls: dict[str, dict[str, object]] = {}
    for script in scripts:
        print(f"== {script.relative_to(BENCH.parent)} (scale {scale():g})", flush=True)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(script)], check=False)  # noqa: S603
        walls[script.stem.removeprefix("bench_")] = {
            "seconds": round(time.perf_counter() - started, 1),
            "ok": done.returncode == 0,
        }
        (RESULTS_DIR / WALL_TIMES).write_text(json.dumps({"scale": scale(), "benches": walls}))
    report = subprocess.run([sys.executable, str(BENCH / "report.py")], check=False)  # noqa: S603
    print("\nwall time per bench:")
    for name, wall in walls.items():
        status = "" if wall["ok"] else "  FAILED"
        print(f"  {name:<12} {wall['seconds']:>8.1f} s{status}")
    print(f"  {'total':<12} {sum(float(w['seconds']) for w in walls.values()):>8.1f} s")  # type: ignore[arg-type]
    failed = [name for name, wall in walls.items() if not wall["ok"]]
    if failed or report.returncode:
        sys.exit(f"failed: {', '.join(failed) or 'report'}")


if __name__ == "__main__":
    main()
