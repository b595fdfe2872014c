"""Customer archive at scale on PostGIS: search latency against a primary-key lookup, and
import throughput against a raw COPY.

Usage: python bench/bench_archive.py [--customers N] [--queries N] [--import-rows N]

Generates N customers (default 1 000 000 times `FIELDLINE_BENCH_SCALE`, see `bench/_scale.py`)
with COPY into a scratch PostGIS database (indexes built after the load, `bench/_generate.py`), then
times, in the same run, a plain primary-key lookup (the baseline), the search by account
number, the fuzzy name search (pg_trgm over CJK bigrams) and a listing page (the first 20 of
a department's files by account number) through `find_customers`, printing p50/p95 and
ratios; then imports a CSV through the importer and COPYs the same number of rows raw.
The figures go to `var/bench/archive.json` (`bench/_results.py`) for `make bench`'s report.
No thresholds: the figures are for reading, not for asserting.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere

from sqlalchemy import select, text  # noqa: E402

from backend.archive import service  # noqa: E402
from backend.archive.documents import ImportJob  # noqa: E402
from backend.archive.importer import run_import  # noqa: E402
from backend.archive.records import Customer  # noqa: E402
from backend.archive.search import search_terms  # noqa: E402
from backend.archive.tabular import read_csv  # noqa: E402
from backend.auth.actor import actor_for_user  # noqa: E402
from backend.auth.models import User  # noqa: E402
from backend.org.models import Department  # noqa: E402
from bench._generate import bulk_load, progress  # noqa: E402
from bench._results import Measure, record  # noqa: E402
from bench._scale import scaled  # noqa: E402
from bench._tracking_env import scratch_postgis  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞建国志文斌"
ROADS = ["延安路", "解放路", "文三路", "天目山路", "莫干山路", "凤起路", "体育场路", "湖墅南路"]
CUSTOMER_COLUMNS = (
    "id account_number name customer_type voltage_level contract_capacity_kw status "
    "region_code contacts search_text version_no updated_at updated_by department_id version "
    "field_versions deleted"
).split()


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def generate(database: object, count: int, department_id: int, rng: random.Random) -> list:
    """COPY `count` customers (heads and their version 1); returns (id, account, name) samples."""
    now = datetime.now(UTC).isoformat()
    samples = []
    engine = database.engine  # type: ignore[attr-defined]
    tables = ["customers", "archive_versions"]
    with engine.raw_connection() as raw, bulk_load(raw, tables) as cursor:
        bar = progress(count, "generating customers", "customer")
        # Short transactions: a long one would hold back the cluster-wide snapshot horizon
        # that sync pulls on this server wait for.
        chunk = 20_000
        for start in range(0, count, chunk):
            heads, versions = io.StringIO(), io.StringIO()
            for n in range(start, min(count, start + chunk)):
                cid, account, name = uuid.uuid4(), f"B{n:09d}", _name(rng)
                phone = f"13{rng.randint(0, 10**9 - 1):09d}"
                address = f"杭州市{rng.choice(ROADS)}{rng.randint(1, 999)}号"
                contacts = json.dumps([{"name": name, "phone": phone, "role": None}])
                terms = search_terms(account, name, phone, address)
                heads.write("\t".join([str(cid), account, name, "residential", "220V", "8",
                                       "active", "HZ", contacts, terms, "1", now, "bench",
                                       str(department_id), "0", "{}", "f"]) + "\n")  # fmt: skip
                data = json.dumps({"account_number": account, "name": name})
                versions.write("\t".join(["customer", str(cid), str(cid), "1", data, "bench",
                                          now, "generated", "import"]) + "\n")  # fmt: skip
                if n % (count // 200 or 1) == 0:
                    samples.append((cid, account, name))
            with cursor.copy(f"COPY customers ({', '.join(CUSTOMER_COLUMNS)}) FROM STDIN") as cp:
                cp.write(heads.getvalue())
            with cursor.copy(
                "COPY archive_versions (entity, record_id, customer_id, version_no, data, "
                "changed_by, changed_at, reason, source) FROM STDIN"
            ) as cp:
                cp.write(versions.getvalue())
            raw.commit()
            bar.update(min(count, start + chunk) - start)
        bar.close()
    return samples


def _timed(run, items) -> list[float]:
    times = []
    for item in items:
        start = time.perf_counter()
        run(item)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _p(times: list[float], q: float) -> float:
    return statistics.quantiles(times, n=100)[int(q) - 1] if len(times) > 1 else times[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=scaled(1_000_000, 1000))
    parser.add_argument("--queries", type=int, default=scaled(200, 20))
    parser.add_argument("--import-rows", type=int, default=scaled(2_000, 50))
    args = parser.parse_args()
    rng = random.Random(12)  # noqa: S311 - benchmark data
    print(f"archive bench: {args.customers:,} customers on PostGIS ({platform.machine()})")
    with scratch_postgis() as database:
        with database.unit_of_work() as session:
            urban = session.scalars(select(Department).where(Department.code == "ST-URB")).one()
            department_id = urban.id
        started = time.perf_counter()
        samples = generate(database, args.customers, department_id, rng)
        print(f"generation: {time.perf_counter() - started:.1f} s")
        picks = [rng.choice(samples) for _ in range(args.queries)]
        with database.session_factory() as session:
            admin = session.scalars(select(User).where(User.username == "admin")).one()
            actor = actor_for_user(session, admin)

            def by_pk(pick) -> None:
                session.get(Customer, pick[0], populate_existing=True)

            def by_account(pick) -> None:
                statement = service.find_customers(
                    session=session, actor=actor, filters={"q": pick[1]}, dialect="postgresql"
                )
                assert session.scalars(statement.limit(20)).first().id == pick[0]

            def by_name(pick) -> None:
                query = pick[2] if len(pick[2]) < 3 else pick[2][:2]  # a partial name
                statement = service.find_customers(
                    session=session, actor=actor, filters={"name": query}, dialect="postgresql"
                )
                session.scalars(statement.limit(20)).all()

            def listing(pick) -> None:
                statement = service.find_customers(
                    session=session, actor=actor, filters={"department_id": department_id},
                    dialect="postgresql",
                )  # fmt: skip
                session.scalars(statement.limit(20)).all()

            results = {}
            for label, run in (("primary key", by_pk), ("account number", by_account),
                               ("fuzzy name", by_name), ("list page", listing)):  # fmt: skip
                _timed(run, picks[:10])  # warm the caches
                results[label] = _timed(run, picks)
            base50, base95 = _p(results["primary key"], 50), _p(results["primary key"], 95)
            measures = []
            for label, times in results.items():
                p50, p95 = _p(times, 50), _p(times, 95)
                print(f"{label:>15}: p50 {p50:8.2f} ms  p95 {p95:8.2f} ms  "
                      f"(p50 x{p50 / base50:,.1f} of a primary-key lookup)")  # fmt: skip
                if label != "primary key":
                    slug = label.replace(" ", "_")
                    measures += [
                        Measure(f"{slug} p50 ({args.customers:,} customers)", p50, "ms", base50),
                        Measure(f"{slug} p95 ({args.customers:,} customers)", p95, "ms", base95),
                    ]
        measures.append(_import_bench(database, args.import_rows, rng))
    record("archive", measures)


def _import_bench(database: object, rows: int, rng: random.Random) -> Measure:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["户号", "户名", "用户类型", "电压等级", "合同容量", "地区", "联系电话",
                     "用电地址"])  # fmt: skip
    for n in range(rows):
        writer.writerow([f"I{n:09d}", _name(rng), "居民", "220V", "8", "HZ",
                         f"13{rng.randint(0, 10**9 - 1):09d}", f"杭州市延安路{n}号"])  # fmt: skip
    table, _ = read_csv(out.getvalue().encode("gbk"), None)
    with database.unit_of_work(actor="bench") as session:  # type: ignore[attr-defined]
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        actor = actor_for_user(session, admin)
        job = ImportJob(id=uuid.uuid4(), filename="bench.csv", file_format="csv", dry_run=False,
                        department_id=actor.department_id, created_by="bench", errors=[],
                        processed_rows=0, created_rows=0, updated_rows=0)  # fmt: skip
        started = time.perf_counter()
        run_import(session=session, actor=actor, table=table, job=job)
        imported = time.perf_counter() - started
    assert job.status == "committed", job.errors[:3]
    with database.engine.raw_connection() as raw:  # type: ignore[attr-defined]
        cursor = raw.cursor()
        started = time.perf_counter()
        with cursor.copy("COPY customers (id, account_number, name, customer_type, "
                         "voltage_level, contract_capacity_kw, status, region_code, contacts, "
                         "search_text, version_no, updated_at, updated_by, department_id, "
                         "version, field_versions, deleted) FROM STDIN") as cp:  # fmt: skip
            for n in range(rows):
                cp.write_row(
                    [
                        uuid.uuid4(),
                        f"C{n:09d}",
                        "x",
                        "residential",
                        "220V",
                        8,
                        "active",
                        "HZ",
                        "[]",
                        "",
                        1,
                        datetime.now(UTC),
                        "bench",
                        1,
                        0,
                        "{}",
                        False,
                    ]
                )
        raw.commit()
        copied = time.perf_counter() - started
        cursor.execute(text("SELECT 1").text)
    print(f"import: {rows / imported:,.0f} rows/s through the importer (versions, search "
          f"text, checks); raw COPY {rows / copied:,.0f} rows/s "
          f"(x{(rows / copied) / (rows / imported):,.0f})")  # fmt: skip
    return Measure(f"import ({rows:,} rows)", rows / imported, "rows/s", rows / copied)


if __name__ == "__main__":
    main()
