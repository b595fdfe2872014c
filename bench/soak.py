"""Soak: a fleet reporting once a second plus handhelds pushing, for N minutes, on loopback.

Usage: python bench/soak.py [--minutes 120] [--vehicles 2000] [--every 5] [--summary FILE]

Real processes: a private Mosquitto, `fieldline ingest`, the API under gunicorn, four publisher
processes (every vehicle once a second at its own phase, QoS 1) and a handheld pushing meter
readings over HTTP. However it ends (its end, an error, Ctrl-C or SIGTERM), it ends every child
it started and drops its scratch database and broker.
Every `--every` seconds it samples the RSS of each process, the ingest lag (fixes the broker
acknowledged minus fixes the ingest took: stored, or dropped by one of its filters),
publish→stored latency of the fixes stored since the last sample (p50/p95 of
`recorded_at - ts`) and the database size; it writes var/bench/soak.csv and
var/bench/soak.png, then drains and counts what was lost: acknowledged, neither stored nor
dropped by a rule.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import psutil  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bench._loopback import call_json, healthy  # noqa: E402
from bench._results import RESULTS_DIR, Measure, record  # noqa: E402
from bench._tracking_env import (  # noqa: E402
    add_vehicles,
    free_port,
    private_mosquitto,
    scratch_postgis,
    start_fleet,
)

ROOT_TOPIC = "soak/v1"
# Ingest counters that are no outcome of an acknowledged fix of their own.
NOT_OUTCOMES = frozenset({"duplicate", "unknown_vehicle"})
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


class Pusher(threading.Thread):
    """A handheld pushing one meter reading at a time, retrying a batch until answered."""

    def __init__(self, port: int, stopping: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.stopping = port, stopping
        self.acked: list[str] = []

    def run(self) -> None:
        from backend.demo import DEMO_DEVICE_SECRET
        from sync.protocol import format_time

        token = None
        while not self.stopping.is_set():
            try:
                if token is None:
                    body = {"identifier": "H-1001", "secret": DEMO_DEVICE_SECRET}
                    status, reply = call_json(self.port, "POST", "/api/v1/auth/device-login", body)
                    token = reply["access_token"] if status == 200 else None
                    time.sleep(0 if token else 1)
                    continue
                record_id = str(uuid.uuid4())
                now = format_time(datetime.now(UTC))
                mutation = {
                    "mutation_id": str(uuid.uuid4()),
                    "entity": "meter_reading",
                    "id": record_id,
                    "op": "append",
                    "base_version": None,
                    "fields": {
                        "meter_id": str(uuid.uuid4()),
                        "value": 1.0,
                        "reading_kind": "kwh",
                        "read_at": now,
                    },
                    "occurred_at": now,
                }
                batch = {
                    "device_id": "H-1001",
                    "batch_id": str(uuid.uuid4()),
                    "sent_at": now,
                    "mutations": [mutation],
                }
                status, reply = call_json(self.port, "POST", "/api/v1/sync/push", batch, token)
                if status == 200 and reply["verdicts"][0]["verdict"] in ("applied", "duplicate"):
                    self.acked.append(record_id)
                elif status == 401:
                    token = None
            except OSError:
                pass
            time.sleep(0.2)


def _rss(process: psutil.Process | None) -> int:
    if process is None:
        return 0
    try:
        family = [process, *process.children(recursive=True)]
        return sum(p.memory_info().rss for p in family)
    except psutil.Error:
        return 0


class Stopped(Exception):
    """SIGTERM (or SIGHUP) arrived: unwind so every child process is ended and the scratch
    database and broker are removed, as on Ctrl-C."""


def _raise_stopped(signum: int, _frame: Any) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the clean-up short
    raise Stopped(signal.Signals(signum).name)


def _end(proc: psutil.Popen | multiprocessing.process.BaseProcess, wait: float = 20) -> None:
    """Terminate a child (and, for gunicorn, its workers via its master), then kill it."""
    try:
        if isinstance(proc, psutil.Popen):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(wait)
                except psutil.TimeoutExpired:
                    for child in proc.children(recursive=True):
                        child.kill()
                    proc.kill()
                    proc.wait(5)
        elif proc.is_alive():
            proc.terminate()
            proc.join(wait)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    except (psutil.Error, OSError, ValueError):
        pass


def run(minutes: float, vehicles: int, every: float, out: Path) -> dict[str, Any]:
    """Run the soak; whatever ends it (its end, an error, SIGINT or SIGTERM), the children
    (ingest, gunicorn, publishers, the handheld) are ended and the broker and scratch database
    removed before it returns or raises."""
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with contextlib.ExitStack() as cleanup:
            return _run(cleanup, minutes, vehicles, every, out)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(
    cleanup: contextlib.ExitStack, minutes: float, vehicles: int, every: float, out: Path
) -> dict[str, Any]:
    # Entered first, left last: the children below are ended before these go away.
    database = cleanup.enter_context(scratch_postgis())
    url = cleanup.enter_context(private_mosquitto())
    vids = [vid for _, vid in add_vehicles(database, vehicles, prefix="S")]
    with database.engine.begin() as conn:
        # The sampler reads the fixes stored since its last sample by `recorded_at`, which no
        # product index covers (positions is keyed by vehicle and time). Without an index every
        # sample scanned the whole table, a cost that grew with the run and showed as latency
        # growth (58-minute run at e8a0acd). Only the soak's scratch database has this index: an
        # append at the right edge per fix, a small cost next to the product's own key. (A BRIN
        # index was not enough: its unsummarised tail is scanned whole, and grew per sample.)
        conn.execute(text("CREATE INDEX soak_positions_recorded_at ON positions (recorded_at)"))
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "MQTT_URL": url,
        "MQTT_TOPIC_ROOT": ROOT_TOPIC,
        "INGEST_CLIENT_ID": "soak-ingest",
        "SECRET_KEY": "soak-" + "k" * 40,
        "BLOB_DIR": str(out / "soak-blobs"),
        "LOG_LEVEL": "WARNING",
    }
    logs = (out / "soak-logs").resolve()
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    commands = {
        "ingest": [str(BIN / "fieldline"), "ingest", "--no-orders"],
        "api": [
            str(BIN / "gunicorn"),
            "-c",
            str(REPO / "deploy" / "gunicorn.conf.py"),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "backend.wsgi:app",
        ],
    }
    procs: dict[str, psutil.Popen] = {}
    for name, command in commands.items():
        procs[name] = psutil.Popen(  # noqa: S603 - our own commands
            command,
            env=env,
            stdout=(logs / f"{name}.log").open("ab"),
            stderr=subprocess_stdout(),
        )
        cleanup.callback(_end, procs[name])
    deadline = time.monotonic() + 60
    while not healthy(port, timeout=2) and time.monotonic() < deadline:
        time.sleep(0.2)
    mosquitto = next(
        (p for p in psutil.process_iter(["name", "cmdline"]) if _is_our_broker(p, url)), None
    )
    time.sleep(3)  # the ingest subscribes (its session then queues everything)
    fleet = start_fleet(url, ROOT_TOPIC, vids)
    pubs, acked, stop_publisher = fleet.procs, fleet.acked, fleet.stopping
    for pub in pubs:
        cleanup.callback(_end, pub, 5)
    cleanup.callback(stop_publisher.set)
    stopping = threading.Event()
    cleanup.callback(stopping.set)
    pusher = Pusher(port, stopping)
    pusher.start()
    rows: list[dict[str, Any]] = []
    start = time.monotonic()
    last = datetime.now(UTC)
    csv_path, png_path = out / "soak.csv", out / "soak.png"
    conn = cleanup.enter_context(database.engine.connect())

    def counted() -> dict[str, int]:
        """The ingest's counters by outcome: `stored`, a filter's reason, `duplicate`..."""
        rows = conn.execute(
            text("SELECT reason, coalesce(sum(count), 0) FROM ingest_counters GROUP BY reason")
        ).all()
        conn.rollback()
        return {reason: int(count) for reason, count in rows}

    def filtered(outcomes: dict[str, int]) -> dict[str, int]:
        """Fixes a filter refused: each was acknowledged once and is accounted for. Not a
        redelivery of a stored fix (`duplicate`) nor a parked one (counted again when
        replayed): those would count one acknowledged fix twice and hide a loss."""
        return {r: n for r, n in outcomes.items() if r not in NOT_OUTCOMES}

    def taken() -> int:  # stored or refused by a filter: accounted for, either way
        outcomes = counted()
        return sum(filtered(outcomes).values())

    while time.monotonic() - start < minutes * 60:
        time.sleep(every)
        now = datetime.now(UTC)
        published, done = acked.value, taken()
        sampling = time.perf_counter()
        p50, p95 = conn.execute(
            text(
                "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), "
                "percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM ("
                "SELECT extract(epoch FROM recorded_at - ts) * 1000 AS ms FROM positions "
                "WHERE recorded_at > :last AND recorded_at <= :now) s"
            ),
            {"last": last, "now": now},
        ).one()
        sample_ms = (time.perf_counter() - sampling) * 1000
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar()
        conn.rollback()
        last = now
        row = {
            "seconds": round(time.monotonic() - start, 1),
            "published": published,
            "taken": done,  # stored, or dropped by a filter
            "lag": published - done,
            "refused": fleet.refused.value,
            "p50_ms": round(p50 or 0, 1),
            "p95_ms": round(p95 or 0, 1),
            "db_mb": round((size or 0) / 1e6, 1),
            "sample_ms": round(sample_ms, 1),
            "pushes": len(pusher.acked),
            "rss_ingest_mb": round(_rss(procs["ingest"]) / 1e6, 1),
            "rss_api_mb": round(_rss(procs["api"]) / 1e6, 1),
            "rss_mosquitto_mb": round(_rss(mosquitto) / 1e6, 1),
            "rss_publisher_mb": round(sum(_rss(psutil.Process(pub.pid)) for pub in pubs) / 1e6, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    stop_publisher.set()
    stopping.set()
    for pub in pubs:
        pub.join(60)
    pusher.join(30)
    # Drain: everything the broker acknowledged is stored, however long that takes.
    drain_deadline = time.monotonic() + 300
    while taken() < acked.value and time.monotonic() < drain_deadline:
        time.sleep(1)
    outcomes, final_acked = counted(), acked.value
    dropped = filtered(outcomes)
    final_stored = dropped.pop("stored", 0)
    ids = list(pusher.acked)
    kept = conn.execute(
        text("SELECT count(*) FROM meter_readings WHERE id::text = ANY(:ids)"),
        {"ids": ids},
    ).scalar_one()
    _write(rows, csv_path, png_path)
    third = max(1, len(rows) // 3)
    summary = {
        "minutes": minutes,
        "vehicles": vehicles,
        "published_acked": final_acked,
        "stored": final_stored,
        "dropped_by_filters": dropped,  # acknowledged, then refused by a rule (not lost)
        "duplicates": outcomes.get("duplicate", 0),  # redeliveries of stored fixes
        "lost_positions": max(0, final_acked - final_stored - sum(dropped.values())),
        "refused_by_full_buffer": fleet.refused.value,
        "pushes_acked": len(ids),
        "lost_mutations": len(ids) - int(kept),
        "lag_first_third_max": max(r["lag"] for r in rows[:third]) if rows else 0,
        "lag_last_third_max": max(r["lag"] for r in rows[-third:]) if rows else 0,
        "rss_ingest_first_mb": rows[0]["rss_ingest_mb"] if rows else 0,
        "rss_ingest_last_mb": rows[-1]["rss_ingest_mb"] if rows else 0,
        "p95_ms_median": sorted(r["p95_ms"] for r in rows)[len(rows) // 2] if rows else 0,
        "csv": str(csv_path),
        "png": str(png_path),
    }
    return summary


def subprocess_stdout() -> int:
    import subprocess

    return subprocess.STDOUT


def _is_our_broker(process: psutil.Process, url: str) -> bool:
    try:
        cmdline = process.info.get("cmdline") or []
        if not cmdline or "mosquitto" not in Path(cmdline[0]).name:
            return False
        conf = Path(cmdline[-1])
        return conf.exists() and f"listener {url.rsplit(':', 1)[1]} " in conf.read_text()
    except (psutil.Error, OSError):
        return False


def _write(rows: list[dict[str, Any]], csv_path: Path, png_path: Path) -> None:
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    if rows:
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [r["seconds"] / 60 for r in rows]
    fig, axes = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
    for key in ("rss_ingest_mb", "rss_api_mb", "rss_mosquitto_mb", "rss_publisher_mb"):
        axes[0].plot(minutes, [r[key] for r in rows], label=key.removeprefix("rss_"))
    axes[0].set_ylabel("RSS (MB)")
    axes[0].legend(loc="upper left", fontsize="small")
    axes[1].plot(minutes, [r["lag"] for r in rows], color="tab:red")
    axes[1].set_ylabel("ingest lag (fixes)")
    axes[2].plot(minutes, [r["p50_ms"] for r in rows], label="p50")
    axes[2].plot(minutes, [r["p95_ms"] for r in rows], label="p95")
    axes[2].set_ylabel("publish→stored (ms)")
    axes[2].legend(loc="upper left", fontsize="small")
    axes[3].plot(minutes, [r["db_mb"] for r in rows], color="tab:green")
    axes[3].set_ylabel("database (MB)")
    axes[3].set_xlabel("minutes")
    fig.suptitle("Fieldline soak")
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--every", type=float, default=5, help="Seconds between samples.")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--summary", type=Path, help="Also write the summary JSON here.")
    args = parser.parse_args()
    try:
        summary = run(args.minutes, args.vehicles, args.every, args.out)
    except (Stopped, KeyboardInterrupt) as stopped:
        print(f"soak stopped ({stopped or 'SIGINT'}); children ended", file=sys.stderr)
        raise SystemExit(130 if isinstance(stopped, KeyboardInterrupt) else 143) from None
    print(json.dumps(summary, indent=2))
    if args.summary:
        args.summary.write_text(json.dumps(summary))
    published = max(1, summary["published_acked"])
    record(
        "soak",
        [
            Measure(
                f"soak {args.minutes:g} min: positions taken (stored or filtered) of those acked",
                summary["stored"] + sum(summary["dropped_by_filters"].values()),
                "fixes",
                baseline=published,
                goal="all",
                met=summary["lost_positions"] == 0,
            ),
            Measure(
                "soak: ingest lag, last third vs first third (max)",
                summary["lag_last_third_max"],
                "fixes",
                baseline=max(1, summary["lag_first_third_max"]),
            ),
            Measure(
                "soak: ingest RSS, last sample vs first",
                summary["rss_ingest_last_mb"],
                "MB",
                baseline=summary["rss_ingest_first_mb"] or None,
            ),
        ],
        charts=[Path(summary["png"])],
    )


if __name__ == "__main__":
    main()
