"""The billing import (the archive's import rules) and the ABC report over the API."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from backend.risk.models import BillingRecord
from tests.conftest import assert_problem
from tests.risk.helpers import station_customer


def upload(client, rows, *, name="billing.csv", dry_run=False, encoding="utf-8"):
    """Post a billing table given as a list of rows (the first is the header)."""
    if name.endswith(".xlsx"):
        book = Workbook()
        for row in rows:
            book.active.append(row)
        out = io.BytesIO()
        book.save(out)
        data = out.getvalue()
    else:
        text = "\n".join(",".join(str(c) for c in row) for row in rows) + "\n"
        data = text.encode("gb18030" if encoding == "gbk" else "utf-8")
    return client.post(
        "/api/v1/risk/billing-imports",
        data={"file": (io.BytesIO(data), name), "dry_run": "true" if dry_run else "false"},
        content_type="multipart/form-data",
    )


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(BillingRecord))


def test_unknown_customers_are_refused_by_row_and_nothing_is_written(api, demo, session):
    known = station_customer(api, demo)["account_number"]
    rows = [
        ["户号", "账期", "应收电费", "实收电费", "缴费日期"],
        [known, "2026-01", "1000.00", "1000.00", "2026-01-20"],
        ["NOPE-1", "2026-01", "5.00", "5.00", ""],
        [known, "2026-01", "7.00", "", ""],
        [known, "2026-13", "-1", "", ""],
    ]
    response = upload(api("collector"), rows, encoding="gbk")
    problem = assert_problem(response, 422)
    errors = {(e["row"], e["column"]) for e in problem["row_errors"]}
    assert errors == {(3, "户号"), (4, "账期"), (5, "账期"), (5, "应收电费")}
    unknown = next(e for e in problem["row_errors"] if e["row"] == 3)
    assert "Unknown account NOPE-1" in unknown["reason"]
    assert count(session) == 0


def test_dry_run_checks_only_and_the_import_appends(api, demo, session):
    account = station_customer(api, demo)["account_number"]
    rows = [["account_number", "period", "billed", "paid", "paid_on", "prepaid", "litigation"],
            [account, "2026-01", "1000", "1000", "2026-01-20", "0", "no"],
            [account, "2026-02", "900", "0", "", "0", "是"]]  # fmt: skip
    collector = api("collector")
    dry = upload(collector, rows, dry_run=True)
    assert dry.status_code == 201 and dry.get_json()["status"] == "validated"
    assert count(session) == 0
    done = upload(collector, rows, name="billing.xlsx")
    assert done.status_code == 201, done.get_json()
    job = done.get_json()
    assert (job["status"], job["created_rows"], job["progress"]) == ("committed", 2, 1.0)
    assert collector.get(f"/api/v1/risk/billing-imports/{job['id']}").status_code == 200
    # A correction of February appends a row; the newest counts, the old stays.
    upload(collector, [rows[0], [account, "2026-02", "900", "900", "2026-03-05", "0", "no"]])
    assert count(session) == 3
    months = collector.get(f"/api/v1/customers/{_id(api, account)}/billing").get_json()
    assert [(m["period"], m["paid"], m["litigation"]) for m in months] == [
        ("2026-01", 1000.0, False), ("2026-02", 900.0, False),
    ]  # fmt: skip


def _id(api, account):
    found = api("admin").get(f"/api/v1/customers?account_number={account}").get_json()
    return found[0]["id"]


def test_accounts_outside_the_importers_scope_are_refused(api, demo, session):
    foreign = station_customer(api, demo, station="CALL")["account_number"]
    response = upload(api("collector"), [["户号", "账期", "应收电费"], [foreign, "2026-01", "1"]])
    problem = assert_problem(response, 422)
    assert "outside your data scope" in problem["row_errors"][0]["reason"]


def test_abc_report_shares_and_exports(api, demo):
    accounts = [station_customer(api, demo)["account_number"] for _ in range(4)]
    # Revenue 7000 / 2000 / 960 / 40 of 10,000: A (70 %), A (20 %), A (9.6 %), C (0.4 %).
    amounts = [7000, 2000, 960, 40]
    rows = [["户号", "账期", "应收电费", "实收电费"]]
    rows += [[a, "2026-03", str(x), str(x)] for a, x in zip(accounts, amounts, strict=True)]
    collector = api("collector")
    assert upload(collector, rows).status_code == 201
    report = collector.get("/api/v1/risk/abc?as_of=2026-03&window_months=3").get_json()
    summary = {row["class"]: row for row in report["summary"]}
    assert summary["A"]["customers"] == 3 and summary["A"]["revenue_share_pct"] == 99.6
    assert summary["C"]["customers"] == 1 and summary["C"]["customer_share_pct"] == 25.0
    assert summary["B"]["customers"] == 0
    # Stricter thresholds: 9.6 % is no longer A.
    strict = collector.get("/api/v1/risk/abc?as_of=2026-03&a_share=0.1&c_share=0.01").get_json()
    assert {r["class"]: r["customers"] for r in strict["summary"]} == {"A": 2, "B": 1, "C": 1}
    csv = collector.get("/api/v1/risk/abc?as_of=2026-03&format=csv&table=summary")
    assert csv.mimetype == "text/csv" and "revenue_share_pct" in csv.get_data(as_text=True)
    xlsx = collector.get("/api/v1/risk/abc?as_of=2026-03&format=xlsx")
    book = load_workbook(io.BytesIO(xlsx.data))
    assert {"summary", "customers"} <= set(book.sheetnames)
    assert_problem(collector.get("/api/v1/risk/abc?a_share=0.001&c_share=0.01"), 422)


def test_billing_and_abc_are_credit_data(api, demo):
    customer = station_customer(api, demo)
    for who in ("crew1", "callcenter", "archivist"):
        assert_problem(api(who).get(f"/api/v1/customers/{customer['id']}/billing"), 403)
        assert_problem(api(who).get("/api/v1/risk/abc"), 403)
    assert_problem(upload(api("keyaccount"), [["户号", "账期", "应收电费"]]), 403)


def test_an_abc_class_is_the_same_whoever_asks(api, demo):
    """A class is a share of the enterprise's revenue, not of the caller's slice of it."""
    ours = [station_customer(api, demo)["account_number"] for _ in range(2)]
    theirs = station_customer(api, demo, station="CALL")["account_number"]  # not the collector's
    rows = [["户号", "账期", "应收电费", "实收电费"]]
    rows += [[a, "2026-03", x, x] for a, x in ((ours[0], "900"), (ours[1], "100"))]
    assert upload(api("collector"), rows).status_code == 201
    big = [["户号", "账期", "应收电费", "实收电费"], [theirs, "2026-03", "99000", "99000"]]
    assert upload(api("admin"), big).status_code == 201

    def classes(who):
        report = api(who).get("/api/v1/risk/abc?as_of=2026-03&window_months=3").get_json()
        return {r["account_number"]: r["class"] for r in report["customers"]}

    mine, everyone = classes("collector"), classes("admin")
    assert theirs not in mine
    # 900 of 100,000 is 0.9 %: B, not the A it is of the collector's 1,000.
    assert (
        {a: mine[a] for a in ours} == {a: everyone[a] for a in ours} == {ours[0]: "B", ours[1]: "C"}
    )
