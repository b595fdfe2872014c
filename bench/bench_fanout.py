"""Fan-out: many dispatchers on one API process while the fleet reports at 1 Hz.

Usage: python bench/bench_fanout.py [--vehicles 2000] [--subscribers 1 100] [--seconds 20]
                                    [--profile]

Real processes on loopback: a private Mosquitto, `fieldline ingest`, the API under gunicorn
(ONE process, threaded) and four fleet publishers (every vehicle once a second, each at its own
phase). For each subscriber count, that many dispatchers open the live feed with a stream ticket
each; for `--seconds` the bench reads every stream and, on a few of them, times every position
event from its fix's `ts` (when the publisher handed it to the client library) to its arrival:
publish→feed. Database statements per second of the API process are counted by the server
(pg_stat_statements, keyed by the API's own role) when the cluster preloads it, else by the
database's transaction counter (then including the ingest's). The figure that matters is the
ratio of statements/s with N subscribers to statements/s with 1: one listener and one round
per change per process, so it must stay far below N. `--profile` records the API process with
py-spy (when on PATH) during each measured window and prints its heaviest frames.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
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
from bench._loopback import call_json, healthy  # noqa: E402
from bench._results import RESULTS_DIR, Measure, record  # noqa: E402
from bench._scale import scaled, scaled_seconds  # noqa: E402
from bench._tracking_env import (  # noqa: E402
    add_vehicles,
    free_port,
    private_mosquitto,
    scratch_postgis,
    start_fleet,
)
from bench.bench_ingest import _profile_summary, _start_profiler  # noqa: E402

ROOT_TOPIC = "fanout/v1"
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
API_ROLE = "fieldline_fanout_api"
TIMED = 5  # subscribers whose events are parsed and timed (the rest are read and dropped)


def _call(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, reply = call_json(port, method, path, body, token, timeout=60)
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {str(reply)[:200]}")
    return reply


POSITION_TS = re.compile(rb'event: position\ndata: \{[^\n]*?"ts":"([^"]+)"')
END = re.compile(rb"event: end\ndata: ([^\n]*)")


class Subscriber:
    """One dispatcher's feed on a raw socket; when `timed`, each position event is timed."""

    def __init__(self, port: int, ticket: str, timed: bool) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        path = f"/api/v1/tracking/feed?ticket={ticket}&max_seconds=3600"
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("feed: closed before its headers")
            head += chunk
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError(f"feed: {status.decode()}")
        self.sock.setblocking(False)
        self.timed = timed
        self.carry = head.split(b"\r\n\r\n", 1)[1]  # bytes after the last whole event
        self.latencies: list[float] = []
        self.received = 0  # bytes
        self.ended: str | None = None

    def feed(self, data: bytes, measuring: bool) -> None:
        """Count what arrived; on a timed stream, time every whole position event in it."""
        self.received += len(data)
        if not self.timed:
            return
        now = datetime.now(UTC)
        text, _, self.carry = (self.carry + data).rpartition(b"\n\n")
        if not measuring:
            return
        for ts in POSITION_TS.findall(text):  # the fix's ts, without decoding the rest
            sent = datetime.fromisoformat(ts.decode())
            self.latencies.append((now - sent).total_seconds() * 1000)
        found = END.search(text)
        if found:
            self.ended = found.group(1).decode()


class Readers(threading.Thread):
    """Reads every stream from one thread (a thread per stream would measure the GIL)."""

    def __init__(self, subs: list[Subscriber]) -> None:
        super().__init__(daemon=True)
        self.subs = subs
        self.stopping = threading.Event()
        self.measuring = False

    def run(self) -> None:
        with selectors.DefaultSelector() as selector:
            for sub in self.subs:
                selector.register(sub.sock, selectors.EVENT_READ, sub)
            while not self.stopping.is_set():
                for key, _ in selector.select(0.2):
                    sub = key.data
                    try:
                        data = sub.sock.recv(1 << 20)
                    except BlockingIOError:
                        continue
                    if not data:
                        selector.unregister(sub.sock)
                        continue
                    sub.feed(data, self.measuring)

    def close(self) -> None:
        """Stop reading and close every stream."""
        self.stopping.set()
        self.join(10)
        for sub in self.subs:
            sub.sock.close()


def _stored_lag(engine: Any, stopping: threading.Event, found: list[float]) -> None:
    """Each second, publish->stored of the fixes stored in it (vehicle_states: stamp - ts).

    The ingest's share of publish->feed: what is left is the hub's and the stream's.
    """
    query = text(
        "SELECT extract(epoch FROM updated_at - ts) * 1000 FROM vehicle_states "
        "WHERE updated_at > now() - interval '1 second'"
    )
    while not stopping.wait(1):
        with engine.connect() as conn:
            found += [float(ms) for ms in conn.execute(query).scalars()]


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
    port: int,
    token: str,
    subscribers: int,
    seconds: float,
    engine: Any,
    use_pss: bool,
    api: psutil.Process,
    profile: bool = False,
) -> dict[str, Any]:
    """Open `subscribers` feeds, let them run `seconds`; return latency, statements/s, the API's
    CPU (and with `profile` its py-spy profile) over that window."""
    subs = []
    for i in range(subscribers):
        ticket = _call(port, "POST", "/api/v1/auth/stream-ticket", token=token)["ticket"]
        subs.append(Subscriber(port, ticket, i < TIMED))
    readers = Readers(subs)
    readers.start()
    time.sleep(3)  # backlogs sent, every stream live
    readers.measuring = True
    bench = psutil.Process()
    spy = _start_profiler(api.pid, seconds - 2) if profile else None
    cpu0, bench_cpu0 = sum(api.cpu_times()[:2]), sum(bench.cpu_times()[:2])
    before, t0 = _statements(engine, use_pss), time.monotonic()
    stored: list[float] = []
    stopping = threading.Event()
    sampler = threading.Thread(target=_stored_lag, args=(engine, stopping, stored), daemon=True)
    sampler.start()
    time.sleep(seconds)
    stopping.set()
    sampler.join(10)
    after, took = _statements(engine, use_pss), time.monotonic() - t0
    cpu, bench_cpu = sum(api.cpu_times()[:2]) - cpu0, sum(bench.cpu_times()[:2]) - bench_cpu0
    readers.close()
    latencies = [ms for sub in subs for ms in sub.latencies]
    received = sum(sub.received for sub in subs)
    return {
        "subscribers": subscribers,
        "statements_per_s": (after - before) / took,
        "events_timed": len(latencies),
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "stored_p50_ms": pct(stored, 0.5),
        "stored_p95_ms": pct(stored, 0.95),
        "mb_per_s": received / took / 1e6,
        "api_cpu": cpu / took,
        "api_rss_mb": api.memory_info().rss / 2**20,
        "bench_cpu": bench_cpu / took,
        "ended": [sub.ended for sub in subs if sub.ended],
        "profile": _profile_summary(spy) if spy is not None else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vehicles", type=int, default=scaled(2000, 50))
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--seconds", type=float, default=scaled_seconds(20, 3))
    parser.add_argument("--profile", action="store_true", help="py-spy the API process.")
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
            while not healthy(port) and time.monotonic() < deadline:
                time.sleep(0.3)
            time.sleep(2)  # the ingest subscribes
            fleet = start_fleet(url, ROOT_TOPIC, vids)
            pubs, stop_fleet = fleet.procs, fleet.stopping
            token = _call(
                port,
                "POST",
                "/api/v1/auth/login",
                {"username": "dispatcher", "password": DEMO_PASSWORD},
            )["access_token"]
            time.sleep(5)  # the fleet is reporting, the ingest keeps up
            stats = create_engine(database.url.replace("postgresql://", "postgresql+psycopg://"))
            runs = []
            api = psutil.Process(procs[1].pid).children()[0]  # gunicorn's one worker
            for n in args.subscribers:
                run = measure(port, token, n, args.seconds, stats, use_pss, api, args.profile)
                runs.append(run)
                print(
                    f"{n:4d} subscriber(s), {args.vehicles} vehicles @ 1 Hz: publish->feed "
                    f"p50 {run['p50_ms']:.0f} ms p95 {run['p95_ms']:.0f} ms "
                    f"({run['events_timed']} events timed; of it publish->stored "
                    f"p50 {run['stored_p50_ms']:.0f} ms p95 {run['stored_p95_ms']:.0f} ms), "
                    f"{run['statements_per_s']:.1f} "
                    f"statements/s [{how}], {run['mb_per_s']:.1f} MB/s streamed, "
                    f"API process {run['api_cpu']:.0%} of a core and "
                    f"{run['api_rss_mb']:.0f} MB RSS, "
                    f"bench readers {run['bench_cpu']:.0%} of a core"
                    + (f", ended: {run['ended'][:3]}" if run["ended"] else ""),
                    flush=True,
                )
                if run["profile"]:
                    print(f"     py-spy of the API process, {n} subscriber(s) (inclusive, own):")
                    for frame, inclusive, own in run["profile"]:
                        print(f"      {inclusive:6.1%} {own:6.1%}  {frame}")
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
