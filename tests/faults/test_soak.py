"""The soak, bounded for CI: 2,000 vehicles at 1 Hz plus a pushing handheld for 3 minutes.

`make soak` runs the same script for two hours. Judged by counts only: nothing acknowledged
is lost, and the ingest lag (fixes acknowledged by the broker, not yet stored) at the end is
no larger than at the start, give or take two seconds of the fleet's messages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VEHICLES = 2000
MINUTES = float(os.environ.get("FIELDLINE_SOAK_MINUTES", "3"))


@pytest.mark.slow
@pytest.mark.alone  # its verdict is the ingest's lag: a busy neighbour would decide it
@pytest.mark.timeout(int(MINUTES * 60) + 600)
def test_three_minute_soak_loses_nothing_and_keeps_up(tmp_path: Path) -> None:
    summary_file = tmp_path / "summary.json"
    subprocess.run(  # noqa: S603
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            "--minutes",
            str(MINUTES),
            "--vehicles",
            str(VEHICLES),
            "--out",
            str(tmp_path),
            "--summary",
            str(summary_file),
        ],
        check=True,
        env={**os.environ, "FIELDLINE_BENCH_DIR": str(tmp_path)},
        timeout=MINUTES * 60 + 540,
    )
    summary = json.loads(summary_file.read_text())
    # It ran: the broker took at least a whole second of the fleet (a slow box publishes less).
    assert summary["published_acked"] >= VEHICLES, summary
    assert summary["pushes_acked"] > 0, summary
    assert (summary["lost_positions"], summary["lost_mutations"]) == (0, 0), summary
    assert summary["dropped_by_filters"] == {}, summary  # the fleet's tracks are plausible
    assert summary["lag_last_third_max"] <= max(2 * summary["lag_first_third_max"], 2 * VEHICLES), (
        summary
    )
    assert Path(summary["png"]).stat().st_size > 0 and Path(summary["csv"]).exists()
