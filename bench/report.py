"""One report from every benchmark: `var/bench/report.md` plus PNG charts.

Usage: python bench/report.py [--dir DIR] [--also DIR ...]

Reads every `<bench>.json` that `bench/_results.py` `record()` left in DIR (default
`var/bench`), and writes `report.md` with each measure (value, same-run baseline, ratio, goal,
met), the machine (cores, load, Python, PostgreSQL, Mosquitto), the git commit, a chart of the
ratios and the charts the benches drew. `--also` names the result folders of other runs: the
report then adds each measure's range over all runs (how the README quotes figures), so one
release can be compared with the last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from bench._results import RESULTS_DIR, WALL_TIMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("FIELDLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Row:
    """One measure as read back from a bench's JSON."""

    bench: str
    name: str
    value: float
    unit: str
    baseline: float | None
    ratio: float | None
    goal: str | None
    met: bool | None


def load(folder: Path) -> tuple[list[Row], list[Path]]:
    """Every measure and chart recorded in `folder`, benches in name order."""
    rows: list[Row] = []
    charts: list[Path] = []
    for path in sorted(folder.glob("*.json")):
        payload = json.loads(path.read_text())
        if "measures" not in payload:
            continue  # not a bench result (e.g. a stray file)
        bench = payload.get("bench", path.stem)
        for m in payload["measures"]:
            rows.append(
                Row(
                    bench,
                    m["name"],
                    float(m["value"]),
                    m.get("unit", ""),
                    m.get("baseline"),
                    m.get("ratio"),
                    m.get("goal"),
                    m.get("met"),
                )  # fmt: skip
            )
        charts += [Path(c) for c in payload.get("charts", [])]
    return rows, charts


def _command_line(args: list[str]) -> str | None:
    binary = shutil.which(args[0]) or (f"/usr/sbin/{args[0]}" if args[0] == "mosquitto" else None)
    if binary is None or not Path(binary).exists():
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [binary, *args[1:]], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def postgres_version() -> str:
    """The server's version (the one the benches ran on), or why it is unknown."""
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            postgis = conn.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
    except Exception as exc:  # noqa: BLE001 - the report still renders without a server
        return f"unavailable ({type(exc).__name__})"
    version = str(row[0]) if row else "?"
    return f"{version}, PostGIS {postgis[0]}" if postgis else version


def machine() -> dict[str, str]:
    """Cores, load, interpreter and service versions: what the figures depend on."""
    load1, load5, _ = os.getloadavg()
    mosquitto = _command_line(["mosquitto", "-h"]) or "not found"
    return {
        "cores": str(os.cpu_count()),
        "load average (1 / 5 min, at report time)": f"{load1:.2f} / {load5:.2f}",
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "Python": platform.python_version(),
        "PostgreSQL": postgres_version(),
        "Mosquitto": mosquitto.removeprefix("mosquitto version ").strip(),
    }


def commit() -> str:
    """The short commit, marked when the tree had uncommitted changes."""
    head = _command_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = _command_line(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked=no"])
    return f"{head} (with uncommitted changes)" if dirty else head


def fmt(value: float | None) -> str:
    """Three significant figures or thousands separators, whichever reads better."""
    if value is None:
        return "–"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _met(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[met]


def ranges(rows: list[Row], others: list[list[Row]]) -> dict[tuple[str, str], tuple[float, float]]:
    """(bench, name) -> (min, max) of the value over this run and the others."""
    seen: dict[tuple[str, str], list[float]] = {}
    for run in [rows, *others]:
        for r in run:
            seen.setdefault((r.bench, r.name), []).append(r.value)
    return {key: (min(v), max(v)) for key, v in seen.items()}


def ratio_chart(rows: list[Row], out: Path) -> Path | None:
    """Horizontal bars of every ratio, green where the goal is met and red where it is not."""
    with_ratio = [r for r in rows if r.ratio is not None]
    if not with_ratio:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {True: "#2e7d32", False: "#c62828", None: "#757575"}
    labels = [f"{r.bench}: {r.name}" for r in with_ratio]
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(with_ratio) + 1.2))
    ax.barh(labels, [r.ratio or 0 for r in with_ratio], color=[colours[r.met] for r in with_ratio])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.6)
    ax.set_xlabel("value / same-run baseline (log)")
    ax.set_title("Ratios against same-run baselines (green: goal met, red: not met)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def wall_times(folder: Path) -> list[str]:
    """The run's size knob and each bench's wall time (from `bench/run_all.py`), if recorded."""
    path = folder / WALL_TIMES
    if not path.exists():
        return []
    run = json.loads(path.read_text())
    benches = run.get("benches", {})
    total = sum(float(b["seconds"]) for b in benches.values())
    scale = f"`FIELDLINE_BENCH_SCALE` = {run.get('scale', 1):g} (1: the issue's sizes)."
    lines = ["", "## Wall time", "", scale, "", "| bench | seconds | finished |", "|---|---:|---|"]
    for name, bench in benches.items():
        lines.append(f"| {name} | {fmt(float(bench['seconds']))} | {_met(bench['ok'])} |")
    lines.append(f"| total | {fmt(total)} | |")
    return lines


def _link(chart: Path, folder: Path) -> str:
    try:
        return str(chart.resolve().relative_to(folder.resolve()))
    except ValueError:
        return str(chart)


def render(folder: Path, others: list[Path] | None = None) -> Path:
    """Write `folder/report.md` (and `folder/ratios.png`); return the report's path."""
    rows, charts = load(folder)
    other_rows = [load(o)[0] for o in others or []]
    spread = ranges(rows, other_rows) if other_rows else {}
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Fieldline benchmark report",
        "",
        f"Commit `{commit()}`, written {now} by `bench/report.py` from `{folder}`.",
        "Every ratio is against a baseline measured in the same run; absolute figures depend on",
        "the machine below.",
        "",
        "| machine | |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in machine().items()]
    header = "| bench | measure | value | unit | baseline | ratio | goal | met |"
    rule = "|---|---|---:|---|---:|---:|---|---|"
    if spread:
        header += f" range over {1 + len(other_rows)} runs |"
        rule += "---|"
    lines += ["", "## Measures", "", header, rule]
    for r in rows:
        line = (
            f"| {r.bench} | {r.name} | {fmt(r.value)} | {r.unit} | {fmt(r.baseline)} "
            f"| {fmt(r.ratio)} | {r.goal or '–'} | {_met(r.met)} |"
        )
        if spread:
            low, high = spread[(r.bench, r.name)]
            line += f" {fmt(low)}–{fmt(high)} |"
        lines.append(line)
    if not rows:
        lines.append("| (no bench results found) | | | | | | | |")
    unmet = [r for r in rows if r.met is False]
    lines += ["", f"Goals: {sum(r.met is True for r in rows)} met, {len(unmet)} not met."]
    lines += wall_times(folder)
    drawn = ratio_chart(rows, folder / "ratios.png")
    images = ([drawn] if drawn else []) + [c for c in charts if c.exists()]
    if images:
        lines += ["", "## Charts", ""]
        lines += [f"![{c.stem}]({_link(c, folder)})" for c in images]
    out = folder / "report.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=RESULTS_DIR, help="results of this run")
    parser.add_argument(
        "--also", type=Path, nargs="*", default=[], help="results of earlier runs (for ranges)"
    )
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    out = render(args.dir, args.also)
    print(out.read_text())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
