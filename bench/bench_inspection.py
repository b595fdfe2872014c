"""Inspection plan generation at scale on PostGIS: the bulk path against a raw COPY of its rows.

Usage: python bench/bench_inspection.py [--customers N] [--inspectors N] [--runs N]

Generates N customers (default 100 000) with one premise and one meter each (COPY), then
times `backend.inspection.plans.generate` for a periodic plan covering all of them (one
query selects the premises with their meter and skip flag; the tasks and their sync feed
rows are inserted in bulk; committed), and, in the same run, a raw COPY of the same rows —
the tasks and their feed rows, fresh ids, rolled back — the floor any generation could reach.
Each run uses a new plan over the same premises, so each creates N tasks. Prints seconds,
tasks per second and the ratio, and leaves them to `bench/report.py` through `record()`.
No thresholds: the figures are for reading, not for asserting.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from sqlalchemy import String, cast, select, text  # noqa: E402

from backend.auth.actor import actor_for_user  # noqa: E402
from backend.auth.models import User  # noqa: E402
from backend.inspection import plans  # noqa: E402
from backend.inspection.plan_models import InspectionTask  # noqa: E402
from backend.org.models import Department  # noqa: E402
from bench._results import Measure, record  # noqa: E402
from bench._scale import scaled  # noqa: E402
from bench._tracking_env import scratch_postgis  # noqa: E402
from sync.changes import Change  # noqa: E402

CUSTOMER_COLUMNS = (
    "id account_number name customer_type voltage_level contract_capacity_kw status "
    "region_code contacts search_text version_no updated_at updated_by department_id version "
    "field_versions deleted"
).split()
PREMISE_COLUMNS = (
    "id customer_id address region_code status version_no updated_at updated_by "
    "department_id version field_versions deleted"
).split()
METER_COLUMNS = (
    "id number premise_id customer_id meter_type multiplier reading_method installed_on seals "
    "faults status version_no updated_at updated_by department_id version field_versions deleted"
).split()
TASK_COLUMNS = [c.name for c in InspectionTask.__table__.columns]
FEED_COLUMNS = [c.name for c in Change.__table__.columns]


def generate(database: Any, count: int, department_id: int) -> None:
    """COPY `count` 10 kV business customers, each with one premise and one meter."""
    now = datetime.now(UTC).isoformat()
    with database.engine.raw_connection() as raw:
        cursor = raw.cursor()
        chunk = 20_000
        for start in range(0, count, chunk):
            heads, premises, meters = io.StringIO(), io.StringIO(), io.StringIO()
            for n in range(start, min(count, start + chunk)):
                cid, pid, mid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
                heads.write("\t".join([str(cid), f"I{n:09d}", f"企业{n}", "non_residential",
                                       "10kV", "400", "active", "HZ", "[]", f"I{n:09d}", "1",
                                       now, "bench", str(department_id), "0", "{}", "f"]) + "\n")  # fmt: skip  # noqa: E501
                premises.write("\t".join([str(pid), str(cid), f"杭州市文三路{n}号", "HZ",
                                          "active", "1", now, "bench", str(department_id), "0",
                                          "{}", "f"]) + "\n")  # fmt: skip
                meters.write("\t".join([str(mid), f"IM{n:09d}", str(pid), str(cid),
                                        "ct_operated", "40", "remote", "2024-01-01",
                                        '["S-1"]', "[]", "in_service", "1", now, "bench",
                                        str(department_id), "0", "{}", "f"]) + "\n")  # fmt: skip
            for table, columns, buffer in (
                ("customers", CUSTOMER_COLUMNS, heads),
                ("premises", PREMISE_COLUMNS, premises),
                ("meters", METER_COLUMNS, meters),
            ):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
                    cp.write(buffer.getvalue())
            raw.commit()
        for table in ("customers", "premises", "meters"):
            cursor.execute(f"ANALYZE {table}")
        raw.commit()
    print(f"  generated {count:,} customers, premises and meters", flush=True)


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def raw_copy(database: Any, plan_id: uuid.UUID) -> float:
    """COPY the plan's task and feed rows again (fresh ids), timed, then roll back."""
    with database.engine.connect() as conn:
        tasks = conn.execute(
            select(InspectionTask.__table__).where(InspectionTask.plan_id == plan_id)
        ).all()
        ids = select(cast(InspectionTask.id, String)).where(InspectionTask.plan_id == plan_id)
        feed = conn.execute(
            select(Change.__table__).where(
                Change.entity == "inspection_task", Change.record_id.in_(ids)
            )
        ).all()
    fresh = {t.id: uuid.uuid4() for t in tasks}
    task_lines = io.StringIO()
    for task in tasks:
        row = task._asdict() | {"id": fresh[task.id], "number": f"R-{fresh[task.id].hex[:20]}"}
        task_lines.write("\t".join(_copy_value(row[c]) for c in TASK_COLUMNS) + "\n")
    feed_lines = io.StringIO()
    for change in feed:
        row = change._asdict() | {"id": change.id + 10**15,
                                  "record_id": str(fresh[uuid.UUID(change.record_id)])}  # fmt: skip
        feed_lines.write("\t".join(_copy_value(row[c]) for c in FEED_COLUMNS) + "\n")
    with database.engine.raw_connection() as raw:
        cursor = raw.cursor()
        started = time.perf_counter()
        with cursor.copy(f"COPY inspection_tasks ({', '.join(TASK_COLUMNS)}) FROM STDIN") as cp:
            cp.write(task_lines.getvalue())
        with cursor.copy(f"COPY sync_changes ({', '.join(FEED_COLUMNS)}) FROM STDIN") as cp:
            cp.write(feed_lines.getvalue())
        elapsed = time.perf_counter() - started
        raw.rollback()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=scaled(100_000, 1000))
    parser.add_argument("--inspectors", type=int, default=4)
    parser.add_argument("--runs", type=int, default=scaled(3, 1))
    args = parser.parse_args()
    print(f"inspection bench: {args.customers:,} premises on PostGIS ({platform.machine()})")
    with scratch_postgis() as database:
        with database.unit_of_work() as session:
            urban = session.scalars(select(Department).where(Department.code == "ST-URB")).one()
            department_id = urban.id
            inspector = session.scalars(select(User).where(User.username == "inspector")).one()
            for n in range(1, args.inspectors):
                session.add(
                    User(username=f"bench-inspector-{n}", full_name=f"Inspector {n}",
                         password_hash="!", role="inspector", department_id=department_id,  # noqa: S106 - cannot log in
                         active=True)
                )  # fmt: skip
            session.flush()
            inspector_ids = list(
                session.scalars(select(User.id).where(User.role == "inspector").order_by(User.id))
            )[: args.inspectors]
            assert inspector.id in inspector_ids  # noqa: S101 - the demo seed
        started = time.perf_counter()
        generate(database, args.customers, department_id)
        print(f"generation of the archive: {time.perf_counter() - started:.1f} s")
        bulk, raw = [], []
        for run in range(args.runs):
            with database.unit_of_work() as session:
                supervisor = session.scalars(
                    select(User).where(User.username == "supervisor")
                ).one()
                actor = actor_for_user(session, supervisor)
                plan = plans.create_plan(session=session, actor=actor, data={
                    "name": f"Bench run {run}", "kind": "periodic", "department_id": department_id,
                    "customer_types": ["non_residential"], "voltage_levels": ["10kV"],
                    "interval_days": 90, "due_days": 14, "equipment_type": "hv_metering",
                    "inspector_ids": inspector_ids,
                })  # fmt: skip
                plan_id = plan.id
            with database.unit_of_work() as session:
                actor = actor_for_user(session, supervisor)
                started = time.perf_counter()
                result = plans.generate(session=session, actor=actor, plan_id=plan_id)
                session.commit()
                bulk.append(time.perf_counter() - started)
            assert result["created"] == args.customers, result["created"]  # noqa: S101
            raw.append(raw_copy(database, plan_id))
            with database.engine.connect() as conn:
                conn.execute(text("ANALYZE inspection_tasks"))
                conn.execute(text("ANALYZE sync_changes"))
                conn.commit()
            print(f"  run {run + 1}: generate {bulk[-1]:.2f} s, raw COPY {raw[-1]:.2f} s "
                  f"(x{bulk[-1] / raw[-1]:.1f})", flush=True)  # fmt: skip
    generate_s, raw_s = statistics.median(bulk), statistics.median(raw)
    rate, raw_rate = args.customers / generate_s, args.customers / raw_s
    print(f"plan generation: median {generate_s:.2f} s for {args.customers:,} tasks "
          f"({rate:,.0f} tasks/s); raw COPY of the same rows {raw_s:.2f} s "
          f"({raw_rate:,.0f} rows/s); generation takes x{generate_s / raw_s:.1f} the raw time")  # fmt: skip  # noqa: E501
    record("inspection", [
        Measure(f"plan generation ({args.customers:,} premises, tasks + feed rows)", generate_s,
                "s", raw_s),
        Measure(f"plan generation throughput ({args.customers:,} premises)", rate, "tasks/s",
                raw_rate),
    ])  # fmt: skip


if __name__ == "__main__":
    main()
