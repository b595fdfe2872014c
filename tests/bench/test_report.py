"""The benchmark report renders from recorded results (no timing is asserted, only the format)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import _results
from bench._results import Measure, record
from bench.report import load, render


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_results, "RESULTS_DIR", tmp_path)
    return tmp_path


def test_report_lists_every_measure_with_its_ratio_goal_and_the_machine(results: Path) -> None:
    record("sync", [
        Measure("push, SQLite", 5200.0, "mutations/s", baseline=13000.0, goal=">= 0.35 of raw",
                met=True),
        Measure("pull slowest page", 140.0, "ms", goal="<= 100 ms", met=False),
    ])  # fmt: skip
    record("sla", [Measure("timelines", 180_000.0, "orders/s", baseline=600_000.0)])
    (results / "notes.json").write_text('{"not": "a bench"}')  # ignored, not a crash

    report = render(results).read_text()

    push = "| sync | push, SQLite | 5,200 | mutations/s | 13,000 | 0.400 | >= 0.35 of raw | yes |"
    assert push in report
    assert "| sync | pull slowest page | 140 | ms | – | – | <= 100 ms | **no** |" in report
    assert "| sla | timelines | 180,000 | orders/s | 600,000 | 0.300 | – | – |" in report
    assert "Goals: 1 met, 1 not met." in report
    for key in ("| cores |", "| Python |", "| PostgreSQL |", "| Mosquitto |", "Commit `"):
        assert key in report
    assert (results / "ratios.png").read_bytes().startswith(b"\x89PNG")
    assert "![ratios](ratios.png)" in report


def test_bench_charts_are_linked_and_ranges_span_the_runs(tmp_path: Path, results: Path) -> None:
    chart = results / "pull_pages.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n")
    record("sync", [Measure("push", 4000.0, "mutations/s", baseline=10000.0)], charts=[chart])
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "sync.json").write_text(
        '{"bench": "sync", "measures": [{"name": "push", "value": 3000.0, "unit": "mutations/s",'
        ' "baseline": 10000.0, "goal": null, "met": null, "ratio": 0.3}], "charts": []}'
    )

    report = render(results, [earlier]).read_text()

    assert "range over 2 runs" in report
    assert "| 3,000–4,000 |" in report
    assert "![pull_pages](pull_pages.png)" in report
    assert [r.name for r in load(results)[0]] == ["push"]


def test_wall_times_and_scale_of_the_run_are_listed(results: Path) -> None:
    record("sla", [Measure("timelines", 1.0, "orders/s")])
    (results / _results.WALL_TIMES).write_text(
        '{"scale": 0.01, "benches": {"sla": {"seconds": 12.5, "ok": true},'
        ' "nearest": {"seconds": 1500.0, "ok": false}}}'
    )

    report = render(results).read_text()

    assert "`FIELDLINE_BENCH_SCALE` = 0.01" in report
    assert "| sla | 12.50 | yes |" in report
    assert "| nearest | 1,500 | **no** |" in report
    assert "| total | 1,512 | |" in report


def test_a_run_without_wall_times_has_no_wall_time_section(results: Path) -> None:
    record("sla", [Measure("timelines", 1.0, "orders/s")])

    assert "## Wall time" not in render(results).read_text()
