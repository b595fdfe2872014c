"""Network at scale on PostGIS: the quick query and outage propagation against same-run baselines.

Usage: python bench/bench_network.py [--customers N] [--line-customers N] [--queries N]

Generates N customers (default 1 000 000 times `FIELDLINE_BENCH_SCALE`, `bench/_scale.py`) with
one premise each (indexes built after the load, `bench/_generate.py`), hung on transformer areas of
feeder lines (20 areas a line); one line carries `--line-customers` (default 10 000). Then, in
the same run:

- the quick query ("is my line out, until when, whom to call") by account number and by a
  fuzzy partial name, while that line is out, against a plain primary-key lookup;
- setting an outage on the big line (propagation to its areas with per-area customer counts,
  the notification outbox rows), rolled back after each run, against a brute force that reads
  every premise and counts the line's customers in Python (what an answer without the
  line -> area -> premise tree would cost).

Prints p50/p95 and ratios and leaves them to `bench/report.py` through `record()`. No
thresholds: the figures are for reading, not for asserting.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from sqlalchemy import select, text  # noqa: E402

from backend.archive.records import Customer  # noqa: E402
from backend.archive.search import search_terms  # noqa: E402
from backend.auth.actor import actor_for_user  # noqa: E402
from backend.auth.models import User  # noqa: E402
from backend.network import outages, quick, service  # noqa: E402
from backend.org.models import Department  # noqa: E402
from bench._generate import bulk_load, progress  # noqa: E402
from bench._results import Measure, record  # noqa: E402
from bench._scale import scaled  # noqa: E402
from bench._tracking_env import scratch_postgis  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国志文斌"
AREAS_PER_LINE = 20
CUSTOMER_COLUMNS = (
    "id account_number name customer_type voltage_level contract_capacity_kw status "
    "region_code contacts search_text version_no updated_at updated_by department_id version "
    "field_versions deleted"
).split()
PREMISE_COLUMNS = (
    "id customer_id address region_code transformer_area_id line_id status version_no "
    "updated_at updated_by department_id version field_versions deleted"
).split()


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def build_network(session, actor, lines: int) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:  # type: ignore[no-untyped-def]
    """Create `lines` lines with 20 areas each through the services; return their ids."""
    built = []
    for n in range(lines):
        lon = 120.0 + (n % 50) * 0.01
        lat = 30.0 + (n // 50) * 0.01
        line = service.create_line(session=session, actor=actor, data={
            "code": f"BL{n:05d}", "name": f"{n}号线", "voltage": "10kV", "region_code": "HZ",
            "route": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.009, lat]]},
        })  # fmt: skip
        areas = [
            service.create_area(session=session, actor=actor, data={
                "code": f"BA{n:05d}-{a:02d}", "name": f"{n}-{a}台区", "line_id": line.id,
                "capacity_kva": 400.0, "ownership": "public", "region_code": "HZ",
                "location": {"type": "Point", "coordinates": [lon + a * 0.0004, lat]},
            }).id
            for a in range(AREAS_PER_LINE)
        ]  # fmt: skip
        built.append((line.id, areas))
    return built


def generate(database, count: int, big: int, network, department_id: int,
             rng: random.Random) -> list[tuple[uuid.UUID, str, str]]:  # type: ignore[no-untyped-def]  # fmt: skip
    """COPY customers with one premise each: `big` on the first line, the rest spread."""
    now = datetime.now(UTC).isoformat()
    samples = []
    with (
        database.engine.raw_connection() as raw,
        bulk_load(raw, ["customers", "premises"]) as cursor,
    ):
        bar = progress(count, "generating customers", "customer")
        chunk = 20_000
        for start in range(0, count, chunk):
            heads, premises = io.StringIO(), io.StringIO()
            for n in range(start, min(count, start + chunk)):
                cid, account, name = uuid.uuid4(), f"N{n:09d}", _name(rng)
                phone = f"13{rng.randint(0, 10**9 - 1):09d}"
                address = f"杭州市文三路{n}号"
                contacts = json.dumps([{"name": name, "phone": phone, "role": None}])
                terms = search_terms(account, name, phone, address)
                heads.write("\t".join([str(cid), account, name, "residential", "220V", "8",
                                       "active", "HZ", contacts, terms, "1", now, "bench",
                                       str(department_id), "0", "{}", "f"]) + "\n")  # fmt: skip
                line_id, areas = network[0] if n < big else network[1 + n % (len(network) - 1)]  # noqa: E501
                area = areas[n % AREAS_PER_LINE]
                premises.write("\t".join([str(uuid.uuid4()), str(cid), address, "HZ", str(area),
                                          str(line_id), "active", "1", now, "bench",
                                          str(department_id), "0", "{}", "f"]) + "\n")  # fmt: skip
                if n % (count // 400 or 1) == 0:
                    samples.append((cid, account, name))
            with cursor.copy(f"COPY customers ({', '.join(CUSTOMER_COLUMNS)}) FROM STDIN") as cp:
                cp.write(heads.getvalue())
            with cursor.copy(f"COPY premises ({', '.join(PREMISE_COLUMNS)}) FROM STDIN") as cp:
                cp.write(premises.getvalue())
            raw.commit()
            bar.update(min(count, start + chunk) - start)
        bar.close()
    return samples


def _timed(run, items) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for item in items:
        start = time.perf_counter()
        run(item)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _p(times: list[float], q: int) -> float:
    return statistics.quantiles(times, n=100)[q - 1] if len(times) > 1 else times[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=scaled(1_000_000, 1000))
    parser.add_argument("--line-customers", type=int, default=scaled(10_000, 100))
    parser.add_argument("--queries", type=int, default=scaled(200, 20))
    parser.add_argument("--outages", type=int, default=scaled(10, 3))
    args = parser.parse_args()
    rng = random.Random(14)  # noqa: S311 - benchmark data
    lines = max(2, args.customers // (args.line_customers or 1))
    print(f"network bench: {args.customers:,} customers, {lines} lines x {AREAS_PER_LINE} "
          f"areas, {args.line_customers:,} on the outage line ({platform.machine()})")  # fmt: skip
    with scratch_postgis() as database:
        with database.unit_of_work(actor="bench") as session:
            root = session.scalars(select(Department).where(Department.code == "ROOT")).one()
            admin = session.scalars(select(User).where(User.username == "admin")).one()
            actor = actor_for_user(session, admin)
            network = build_network(session, actor, lines)
        started = time.perf_counter()
        samples = generate(database, args.customers, args.line_customers, network, root.id, rng)
        print(f"generation: {time.perf_counter() - started:.1f} s")
        big_line = network[0][0]
        now = datetime.now(UTC)
        outage_data = {"kind": "unplanned", "scope": "line", "line_id": big_line,
                       "reason": "bench", "starts_at": now - timedelta(minutes=5),
                       "planned_end_at": now + timedelta(hours=2)}  # fmt: skip
        measures = []
        with database.session_factory() as session:
            session.info["actor"] = "bench"
            actor = actor_for_user(session, session.get(User, admin.id))

            def propagate(_: int) -> None:
                savepoint = session.begin_nested()
                outage = outages.create_outage(session=session, actor=actor, data=outage_data)
                assert sum(a.customer_count for a in outages.outage_areas(
                    session=session, outage=outage)) == args.line_customers  # fmt: skip
                savepoint.rollback()

            areas = set(network[0][1])

            def brute_force(_: int) -> None:
                counts = Counter(
                    area for (area,) in session.execute(
                        text("SELECT transformer_area_id FROM premises")
                    ) if area in areas
                )  # fmt: skip
                assert sum(counts.values()) == args.line_customers

            _timed(propagate, range(2))
            _timed(brute_force, range(2))
            prop, brute = (
                _timed(propagate, range(args.outages)),
                _timed(brute_force, range(args.outages)),
            )  # noqa: E501
            for label, times in (("outage propagation", prop), ("brute force", brute)):
                print(f"{label:>22}: p50 {_p(times, 50):9.1f} ms  p95 {_p(times, 95):9.1f} ms")
            measures.append(Measure(f"outage propagation p50 ({args.line_customers:,} customers)",
                                    _p(prop, 50), "ms", baseline=_p(brute, 50)))  # fmt: skip
            # The quick query while the big line is out.
            outages.create_outage(session=session, actor=actor, data=outage_data)
            session.flush()
            picks = [rng.choice(samples) for _ in range(args.queries)]

            def by_pk(pick) -> None:  # type: ignore[no-untyped-def]
                session.get(Customer, pick[0], populate_existing=True)

            def by_account(pick) -> None:  # type: ignore[no-untyped-def]
                answer = quick.quick_query(session=session, actor=actor, dialect="postgresql",
                                           q=pick[1])  # fmt: skip
                assert answer["matches"][0]["customer"].id == pick[0]

            def by_name(pick) -> None:  # type: ignore[no-untyped-def]
                quick.quick_query(session=session, actor=actor, dialect="postgresql",
                                  q=pick[2][:2])  # fmt: skip

            results = {}
            for label, run in (("primary key", by_pk), ("quick query: account", by_account),
                               ("quick query: fuzzy name", by_name)):  # fmt: skip
                _timed(run, picks[:10])
                results[label] = _timed(run, picks)
            base = _p(results["primary key"], 50)
            for label, times in results.items():
                p50, p95 = _p(times, 50), _p(times, 95)
                print(f"{label:>24}: p50 {p50:8.2f} ms  p95 {p95:8.2f} ms  (x{p50 / base:,.1f})")
                if label != "primary key":
                    measures.append(Measure(f"{label} p50 ({args.customers:,})", p50, "ms",
                                            baseline=base))  # fmt: skip
                    measures.append(Measure(f"{label} p95 ({args.customers:,})", p95, "ms",
                                            baseline=_p(results["primary key"], 95)))  # fmt: skip
            session.rollback()
        record("network", measures)


if __name__ == "__main__":
    main()
