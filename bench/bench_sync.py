"""Sync throughput: push apply rate against a raw bulk insert, and pull latency at scale.

Usage: python bench/bench_sync.py [--mutations N] [--records N] [--in-scope N] [--backend B]
                                  [--profile]

Runs on a fresh SpatiaLite file and a scratch PostGIS database (`--backend` picks one). Prints
absolute figures, ratios and every pull page's time, and records them for `bench/report.py`.
The slowest page's baseline is the median page. `--profile` also prints the push requests'
top functions (cProfile, by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from sqlalchemy import insert, select  # noqa: E402

from backend import migrate  # noqa: E402
from backend.app import create_app  # noqa: E402
from backend.config import TestConfig  # noqa: E402
from backend.db import Database  # noqa: E402
from backend.demo import DEMO_DEVICE_SECRET, seed_org  # noqa: E402
from backend.inspection.models import MeterReading  # noqa: E402
from backend.org.models import Crew  # noqa: E402
from backend.serving import settle_heap  # noqa: E402
from bench._results import RESULTS_DIR, Measure, record  # noqa: E402
from bench._scale import scaled  # noqa: E402
from bench._tracking_env import scratch_postgis  # noqa: E402
from sync.changes import Change, next_versions  # noqa: E402
from sync.protocol import format_time  # noqa: E402

BATCH = 500
PUSH_GOAL = 0.35  # of a raw bulk insert of the same rows
PAGE_GOAL_MS = 100


def _reading_fields() -> dict[str, object]:
    return {
        "meter_id": str(uuid.uuid4()),
        "value": 1042.5,
        "reading_kind": "kwh",
        "read_at": format_time(datetime.now(UTC)),
    }


def bench_push(
    app, database: Database, token: str, crew: Crew, count: int,
    profile: cProfile.Profile | None = None,
) -> tuple[float, float]:  # fmt: skip
    """Push `count` appends over HTTP and bulk-insert as many rows raw; return both rates.

    Batch by batch, a push then a raw insert of the same size, so both see the same machine
    load (the benchmark machine is shared); one batch of each first, uncounted, as warm-up.
    `profile` runs during the counted pushes only.
    """
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)

    def pushed() -> dict[str, object]:
        return {
            "mutation_id": str(uuid.uuid4()),
            "entity": "meter_reading",
            "id": str(uuid.uuid4()),
            "op": "append",
            "base_version": None,
            "fields": _reading_fields(),
            "occurred_at": format_time(datetime.now(UTC)),
        }

    def raw() -> dict[str, object]:
        return {
            "id": uuid.uuid4(),
            "department_id": crew.department_id,
            "crew_id": crew.id,
            "created_by": "bench",
            "occurred_at": now,
            "recorded_at": now,
            "clock_corrected": False,
            "version": 0,
            "field_versions": {},
            "deleted": False,
            "meter_id": uuid.uuid4(),
            "value": 1042.5,
            "reading_kind": "kwh",
            "read_at": now,
        }

    push_s = raw_s = 0.0
    for batch in range(-1, count // BATCH):
        body = {
            "device_id": "bench",
            "batch_id": str(uuid.uuid4()),
            "sent_at": format_time(datetime.now(UTC)),
            "mutations": [pushed() for _ in range(BATCH)],
        }
        rows = [raw() for _ in range(BATCH)]
        if profile is not None and batch >= 0:
            profile.enable()
        started = time.perf_counter()
        reply = client.post("/api/v1/sync/push", json=body, headers=headers)
        took = time.perf_counter() - started
        if profile is not None:
            profile.disable()
        assert reply.status_code == 200, reply.get_json()
        started = time.perf_counter()
        with database.unit_of_work() as session:
            session.execute(insert(MeterReading), rows)
        if batch >= 0:  # -1 is the warm-up
            push_s, raw_s = push_s + took, raw_s + time.perf_counter() - started
    count = count // BATCH * BATCH
    print(
        f"push apply:  {count / push_s:9.0f} mutations/s  ({count} in {push_s:.2f} s, HTTP+merge)"
    )
    print(f"raw insert:  {count / raw_s:9.0f} rows/s       ({count} in {raw_s:.2f} s, bulk core)")
    print(f"ratio push/raw: {raw_s / push_s:.3f}")
    return count / push_s, count / raw_s


def seed_feed(database: Database, crews: list[Crew], total: int, in_scope: int) -> None:
    """Insert `total` readings and their change rows; `in_scope` belong to crews[0]."""
    now = datetime.now(UTC)
    with database.unit_of_work() as session:
        versions = next_versions(session, total)
    for start in range(0, total, 5000):
        records, changes = [], []
        for index in range(start, min(total, start + 5000)):
            crew = crews[0] if index % (total // in_scope) == 0 else crews[1 + index % 3]
            record_id = uuid.uuid4()
            version = versions[index]
            records.append({
                "id": record_id, "department_id": crew.department_id, "crew_id": crew.id,
                "created_by": "bench", "occurred_at": now, "recorded_at": now,
                "clock_corrected": False, "version": version, "field_versions": {},
                "deleted": False, "meter_id": uuid.uuid4(), "value": 1.0, "reading_kind": "kwh",
                "read_at": now,
            })  # fmt: skip
            changes.append({
                "id": version, "txid": 0, "entity": "meter_reading",
                "record_id": str(record_id), "op": "upsert",
                "scope_department_id": crew.department_id, "scope_crew_id": crew.id,
                "changed_at": now,
            })  # fmt: skip
        with database.unit_of_work() as session:
            session.execute(insert(MeterReading), records)
            if session.get_bind().dialect.name == "postgresql":
                from sqlalchemy import text

                txid = session.execute(text("SELECT pg_current_xact_id()::text::bigint"))
                tx = int(txid.scalar_one())
                for change in changes:
                    change["txid"] = tx
            session.execute(insert(Change), changes)


def bench_pull(app, token: str, expected: int) -> list[float]:
    """Pull the whole feed in pages of 1,000; print and return every page's time (ms)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    cursor, got, pages = "", 0, []
    started = time.perf_counter()
    while True:
        page_start = time.perf_counter()
        reply = client.get(f"/api/v1/sync/pull?limit=1000&cursor={cursor}", headers=headers)
        pages.append((time.perf_counter() - page_start) * 1000)
        body = reply.get_json()
        got += len(body["changes"])
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    total_s = time.perf_counter() - started
    print(f"pull:        {got} changes in scope (expected >= {expected}) in {len(pages)} pages")
    print("pull pages:  " + " ".join(f"{ms:.0f}" for ms in pages) + " ms")
    print(f"pull total:  {total_s * 1000:8.0f} ms   slowest page {max(pages):.0f} ms")
    if got < expected:  # on PostgreSQL a long transaction elsewhere on the server holds it back
        raise SystemExit(f"pulled {got} < {expected}: the feed's horizon is held back (see README)")
    return pages


def run(url: str, args: argparse.Namespace) -> tuple[float, float, list[float]]:
    """Push and pull on one migrated database; return (push/s, raw rows/s, page times)."""
    database = Database(url)
    app = create_app(TestConfig(DATABASE_URL=url), database=database)
    settle_heap()  # as backend.wsgi does after start-up
    with database.unit_of_work() as session:
        crews = list(session.scalars(select(Crew).order_by(Crew.id)))
    login = app.test_client().post(
        "/api/v1/auth/device-login", json={"identifier": "H-1001", "secret": DEMO_DEVICE_SECRET}
    )
    token = login.get_json()["access_token"]
    profile = cProfile.Profile() if args.profile else None
    push, raw = bench_push(app, database, token, crews[0], args.mutations, profile)
    if profile is not None:  # timed with the profiler on: the rates above are not comparable
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    started = time.perf_counter()
    seed_feed(database, crews, args.records, args.in_scope)
    if database.engine.dialect.name == "postgresql":
        # Autovacuum's work (statistics, visibility map for index-only scans), done now so the
        # figures do not depend on when it would have run.
        autocommit = database.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with autocommit as conn:
            conn.exec_driver_sql("VACUUM ANALYZE sync_changes")
    print(f"seeded {args.records} records in {time.perf_counter() - started:.1f} s")
    pages = bench_pull(app, token, args.in_scope)
    database.engine.dispose()
    return push, raw, pages


@contextmanager
def scratch_spatialite() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="bench-sync-")
    url = f"sqlite:///{folder}/bench.db"
    migrate.upgrade(url)
    database = Database(url)
    with database.unit_of_work(actor="seed") as session:
        seed_org(session)
    database.engine.dispose()
    try:
        yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def scratch_postgis_url() -> Iterator[str]:
    with scratch_postgis() as database:
        url = database.engine.url.render_as_string(hide_password=False)
        database.engine.dispose()
        yield url.replace("postgresql+psycopg://", "postgresql://")


def pages_chart(pages: dict[str, list[float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    for label, times in pages.items():
        ax.plot(range(1, len(times) + 1), times, marker="o", markersize=3, label=label)
    ax.axhline(PAGE_GOAL_MS, color="#c62828", linestyle="--", linewidth=0.8, label="goal")
    ax.set_xlabel("page (1,000 changes each)")
    ax.set_ylabel("ms")
    ax.set_title("sync pull: time of every page")
    ax.legend()
    fig.tight_layout()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / "sync_pull_pages.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mutations", type=int, default=scaled(5000, 2 * BATCH))
    parser.add_argument("--records", type=int, default=scaled(100_000, 2000))
    parser.add_argument("--in-scope", type=int, default=scaled(10_000, 500))
    parser.add_argument(
        "--backend", choices=["spatialite", "postgis"], action="append", help="default: both"
    )
    parser.add_argument("--profile", action="store_true", help="profile the pushes (cProfile)")
    args = parser.parse_args()
    if args.mutations < BATCH:  # the push is timed by whole batches
        parser.error(f"--mutations must be at least one batch ({BATCH})")
    scratch = {"spatialite": scratch_spatialite, "postgis": scratch_postgis_url}
    measures, pages = [], {}
    for backend in args.backend or ["spatialite", "postgis"]:
        print(f"== {backend}  python {platform.python_version()}")
        with scratch[backend]() as url:
            push, raw, pages[backend] = run(url, args)
        measures.append(
            Measure(f"push apply, {backend}", push, "mutations/s", baseline=raw,
                    goal=f">= {PUSH_GOAL} of a raw bulk insert", met=push / raw >= PUSH_GOAL)
        )  # fmt: skip
        slowest = max(pages[backend])
        measures.append(
            Measure(f"pull slowest page, {backend}", slowest, "ms",
                    baseline=statistics.median(pages[backend]),
                    goal=f"every page <= {PAGE_GOAL_MS} ms", met=slowest <= PAGE_GOAL_MS)
        )  # fmt: skip
    record("sync", measures, charts=[pages_chart(pages)])


if __name__ == "__main__":
    main()
