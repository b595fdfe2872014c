"""Fan-out: many dispatchers on one API process while the fleet reports at 1 Hz.

Usage: python bench/bench_fanout.py [--vehicles 2000] [--subscribers 1 100] [--seconds 20]

Real processes on loopback: a private Mosquitto, `fieldline ingest`, the API under gunicorn
(ONE process, threaded) and four fleet publishers (every vehicle once a second, each at its own
phase). For each subscriber count, that many dispatchers open the live feed with a stream ticket
each; for `--seconds` the bench reads every stream and, on a few of them, times every position
event from its fix's `ts` (when the publisher handed it to the client library) to its arrival:
publish→feed. Database statements per second of the API process are counted by the server
(pg_stat_statements, keyed by the API's own role) when the cluster preloads it, else by the
database's transaction counter (then including the ingest's). The figure that matters is the
ratio of statements/s with N subscribers to statements/s with 1: one listener and one round
per change per process, so it must stay far below N.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

import psutil  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from backend.demo import DEMO_PASSWORD  # noqa: E402
from bench._results import RESULTS_DIR, Measure, record  # noqa: E402
from bench._tracking_env import (  # noqa: E402
    add_vehicles,
    free_port,
    private_mosquitto,
    scratch_postgis,
    start_fleet,
)

ROOT_TOPIC = "fanout/v1"
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
API_ROLE = "fieldline_fanout_api"
TIMED = 5  # subscribers whose events are parsed and timed (the rest are read and dropped)


def _call(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload) if payload else None
    finally:
        conn.close()


class Subscriber(threading.Thread):
    """One dispatcher's feed: read everything; when `timed`, time each position event."""

    def __init__(self, port: int, ticket: str, timed: bool, stopping: threading.Event) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.conn.request("GET", f"/api/v1/tracking/feed?ticket={ticket}&max_seconds=3600")
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"feed: {self.response.status}")
        self.timed, self.stopping = timed, stopping
        self.latencies: list[float] = []
        self.received = 0  # bytes
        self.ended: str | None = None
        self.measuring = False

    def run(self) -> None:
        try:
            if not self.timed:
                while not self.stopping.is_set():
                    chunk = self.response.read1(65536)
                    if not chunk:
                        break
                    self.received += len(chunk)
                return
            kind = ""
            for raw in self.response:
                if self.stopping.is_set():
                    break
                self.received += len(raw)
                if raw.startswith(b"event: "):
                    kind = raw[7:].strip().decode()
                elif raw.startswith(b"data: ") and self.measuring:
                    if kind == "position":  # the fix's ts, without decoding the rest
                        at = raw.find(b'"ts":')
                        ts = raw[at + 5 :].lstrip()[1:].split(b'"', 1)[0].decode()
                        sent = datetime.fromisoformat(ts)
                        self.latencies.append((datetime.now(UTC) - sent).total_seconds() * 1000)
                    elif kind == "end":
                        self.ended = raw[6:].decode()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Cut the connection under the reader (it sees the end of the stream and returns)."""
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _statements(engine: Any, use_pss: bool) -> int:
    """Statements the API's role ran so far (pg_stat_statements), else the database's xacts."""
    with engine.connect() as conn:
        if use_pss:
            query = (
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s "
                "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = :role "
                "AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            return int(conn.execute(text(query), {"role": API_ROLE}).scalar_one())
        query = (
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int(conn.execute(text(query)).scalar_one())


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def measure(
    port: int, token: str, subscribers: int, seconds: float, engine: Any, use_pss: bool
) -> dict[str, Any]:
    """Open `subscribers` feeds, let them run `seconds`, return latency and statements/s."""
    stopping = threading.Event()
    subs = []
    for i in range(subscribers):
        ticket = _call(port, "POST", "/api/v1/auth/stream-ticket", token=token)["ticket"]
        subs.append(Subscriber(port, ticket, i < TIMED, stopping))
    for sub in subs:
        sub.start()
    time.sleep(3)  # backlogs sent, every stream live
    for sub in subs:
        sub.measuring = True
    before, t0 = _statements(engine, use_pss), time.monotonic()
    time.sleep(seconds)
    after, took = _statements(engine, use_pss), time.monotonic() - t0
    stopping.set()
    for sub in subs:
        sub.close()
    for sub in subs:
        sub.join(10)
        sub.conn.close()
    latencies = [ms for sub in subs for ms in sub.latencies]
    received = sum(sub.received for sub in subs)
    return {
        "subscribers": subscribers,
        "statements_per_s": (after - before) / took,
        "events_timed": len(latencies),
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "mb_per_s": received / took / 1e6,
        "ended": [sub.ended for sub in subs if sub.ended],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    out = RESULTS_DIR
    with scratch_postgis() as database, private_mosquitto() as url:
        vids = [vid for _, vid in add_vehicles(database, args.vehicles, prefix="V")]
        admin = database.engine
        with admin.begin() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": API_ROLE}
            )
            if exists.first() is None:
                conn.execute(text(f"CREATE ROLE {API_ROLE} LOGIN SUPERUSER"))
            preloaded = conn.execute(text("SHOW shared_preload_libraries")).scalar_one()
            use_pss = "pg_stat_statements" in str(preloaded)
            if use_pss:
                conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
        how = "pg_stat_statements (API role)" if use_pss else "xact count (API + ingest)"
        api_url = database.url.replace("://postgres@", f"://{API_ROLE}@", 1)
        env = {
            **os.environ,
            "DATABASE_URL": database.url,
            "MQTT_URL": url,
            "MQTT_TOPIC_ROOT": ROOT_TOPIC,
            "INGEST_CLIENT_ID": "fanout-ingest",
            "SECRET_KEY": "fanout-" + "k" * 40,
            "BLOB_DIR": str(out / "fanout-blobs"),
            "LOG_LEVEL": "WARNING",
        }
        port = free_port()
        logs = out / "fanout-logs"
        logs.mkdir(parents=True, exist_ok=True)
        procs = [
            psutil.Popen(  # noqa: S603 - our own command
                [str(BIN / "fieldline"), "ingest", "--no-orders"],
                env=env,
                stdout=(logs / "ingest.log").open("ab"),
                stderr=-2,
            ),
            psutil.Popen(  # noqa: S603 - our own command; one API process, threads for streams
                [
                    str(BIN / "gunicorn"),
                    "-c",
                    str(REPO / "deploy" / "gunicorn.conf.py"),
                    "-w",
                    "1",
                    "--threads",
                    str(max(args.subscribers) + 16),
                    "-b",
                    f"127.0.0.1:{port}",
                    "backend.wsgi:app",
                ],
                env={**env, "DATABASE_URL": api_url},
                stdout=(logs / "api.log").open("ab"),
                stderr=-2,
            ),
        ]
        pubs: list[Any] = []
        stop_fleet = None
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    _call(port, "GET", "/healthz")
                    break
                except (OSError, RuntimeError):
                    time.sleep(0.3)
            time.sleep(2)  # the ingest subscribes
            pubs, _, stop_fleet = start_fleet(url, ROOT_TOPIC, vids)
            token = _call(
                port,
                "POST",
                "/api/v1/auth/login",
                {"username": "dispatcher", "password": DEMO_PASSWORD},
            )["access_token"]
            time.sleep(5)  # the fleet is reporting, the ingest keeps up
            stats = create_engine(database.url.replace("postgresql://", "postgresql+psycopg://"))
            runs = []
            for n in args.subscribers:
                run = measure(port, token, n, args.seconds, stats, use_pss)
                runs.append(run)
                print(
                    f"{n:4d} subscriber(s), {args.vehicles} vehicles @ 1 Hz: publish->feed "
                    f"p50 {run['p50_ms']:.0f} ms p95 {run['p95_ms']:.0f} ms "
                    f"({run['events_timed']} events timed), {run['statements_per_s']:.1f} "
                    f"statements/s [{how}], {run['mb_per_s']:.1f} MB/s streamed"
                    + (f", ended: {run['ended'][:3]}" if run["ended"] else ""),
                    flush=True,
                )
            stats.dispose()
        finally:
            if stop_fleet is not None:
                stop_fleet.set()
            for pub in pubs:
                pub.join(10)
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except psutil.TimeoutExpired:
                    proc.kill()
    one, many = runs[0], runs[-1]
    print(
        f"statements/s with {many['subscribers']} subscribers / with {one['subscribers']}: "
        f"{many['statements_per_s'] / max(one['statements_per_s'], 1e-9):.2f}x"
    )
    record(
        "fanout",
        [
            Measure(
                f"publish->feed p95, {many['subscribers']} dispatchers, {args.vehicles} "
                f"vehicles @ 1 Hz (vs 1 dispatcher)",
                many["p95_ms"],
                "ms",
                baseline=one["p95_ms"],
                goal="p95 <= 1000 ms",
                met=many["p95_ms"] <= 1000,
            ),
            Measure(
                f"database statements/s with {many['subscribers']} dispatchers (vs 1) [{how}]",
                many["statements_per_s"],
                "statements/s",
                baseline=one["statements_per_s"],
                goal=f"far below {many['subscribers']}x",
                met=many["statements_per_s"]
                < 0.1 * many["subscribers"] * max(one["statements_per_s"], 1e-9),
            ),
        ],
    )


if __name__ == "__main__":
    main()
