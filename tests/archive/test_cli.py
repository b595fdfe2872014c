"""`fieldline archive import|export` with a progress bar; all or nothing like the API."""

from __future__ import annotations

from sqlalchemy import select

from backend.archive.cli import archive
from backend.archive.records import Customer

ROWS = (
    "户号,户名,用户类型,电压等级,合同容量,地区,用电地址\n{a},张三,居民,220V,8,HZ,杭州市延安路1号\n"
)


def test_cli_import_dry_run_then_commit_then_export(app, db, demo, tmp_path):
    source = tmp_path / "customers.csv"
    source.write_bytes(ROWS.format(a="CLI0000001").encode("gbk"))
    runner = app.test_cli_runner()
    dry = runner.invoke(archive, ["import", str(source), "--dry-run", "--user", "archivist"])
    assert dry.exit_code == 0, dry.output
    assert "validated: 0 new" in dry.output
    done = runner.invoke(archive, ["import", str(source), "--user", "archivist"])
    assert done.exit_code == 0 and "committed: 1 new" in done.output, done.output
    with db.session_factory() as session:
        assert session.scalar(select(Customer).where(Customer.account_number == "CLI0000001"))
    target = tmp_path / "out.csv"
    exported = runner.invoke(archive, ["export", str(target), "--q", "CLI0000001"])
    assert exported.exit_code == 0, exported.output
    assert "CLI0000001" in target.read_bytes().decode("utf-8-sig")


def test_cli_import_with_bad_rows_fails_and_writes_nothing(app, db, demo, tmp_path):
    source = tmp_path / "bad.csv"
    source.write_text(ROWS.format(a="CLI0000002").replace("HZ", "MARS"), encoding="utf-8")
    result = app.test_cli_runner().invoke(archive, ["import", str(source), "--user", "archivist"])
    assert result.exit_code == 1
    assert "row 2, 地区: Unknown region 'MARS'." in result.output
    with db.session_factory() as session:
        assert (
            session.scalar(select(Customer).where(Customer.account_number == "CLI0000002")) is None
        )
