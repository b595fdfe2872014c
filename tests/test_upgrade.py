"""Upgrades keep data: the previous release seeds its demo data, this tree's migrations upgrade it.

The previous release's own code (checked out from git into a temporary folder) migrates a fresh
database and runs `fieldline seed-demo`, exactly as a utility running that release would have.
Then this tree's migrations upgrade it, and this tree's `seed-demo` runs again on top (what
`make run` does on an existing install). No table may lose a row, and the demo logins must
still work through the HTTP layer.

Bump `PREVIOUS_RELEASE` to the last landed commit whenever a release lands.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from backend import migrate
from backend.app import create_app
from backend.config import ROOT, TestConfig
from backend.db import Database
from backend.demo import DEMO_PASSWORD, seed_all

# The commit that landed last (stop 20: Scale, stream caps, seals; head 2500).
PREVIOUS_RELEASE = "7d7a7fbb98db8a1d307c2f1bdb84c66d94c0bab4"
PREVIOUS_HEAD = "2500_in_service_seals"

# Tables a later revision renamed or dropped on purpose, with where their rows went.
# (0600 dropped vehicle_assignments, before the release above; none since.)
MOVED_TABLES: dict[str, str | None] = {}

PG_ADMIN_URL = os.environ.get("FIELDLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _checkout(commit: str, into: Path) -> Path:
    """Extract the code of `commit` (not a worktree: nothing is left in the repository)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _run_old(tree: Path, url: str, *args: str) -> None:
    """Run the old release's `fieldline` command line against `url`."""
    env = {
        **os.environ,
        "PYTHONPATH": str(tree),
        "DATABASE_URL": url,
        "BLOB_DIR": str(tree / "var" / "blobs"),
        "FIELDLINE_FAST_HASH": "1",
    }
    code = "import sys; from backend.cli import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(params=["postgis", "spatialite"])
def empty_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database nobody has migrated yet, on each backend."""
    if request.param == "spatialite":
        with tempfile.TemporaryDirectory(prefix="fieldline-upgrade-") as folder:
            yield f"sqlite:///{folder}/upgrade.db"
        return
    name = f"fieldline_upgrade_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _row_counts(database: Database) -> dict[str, int]:
    names = [
        name
        for name in inspect(database.engine).get_table_names()
        if name != "alembic_version"
        and not name.startswith(("spatial", "geometry_", "sql_"))
        and not name.startswith(("views_", "virts_", "idx_", "data_licenses", "spatialite"))
        and name not in {"ElementaryGeometries", "KNN", "KNN2", "SpatialIndex"}
    ]
    with database.engine.connect() as conn:
        return {
            # Names come from the database's own catalogue, not from input.
            name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()  # noqa: S608
            for name in names
        }


def _network_reaches_the_feed(database: Database) -> None:
    """1900 gave every existing line, area and outage a version and its feed rows.

    An upsert in the owner's department for each, and one for every crew with open work near
    the record's line (what `backend.network.handheld` would have written had it been there).
    """
    from uuid import UUID

    from sqlalchemy.orm import Session

    from backend.network.handheld import crews_near

    with Session(database.engine) as session:
        feed = {
            (entity, record, department, crew)
            for entity, record, department, crew in session.execute(text(
                "SELECT entity, record_id, scope_department_id, scope_crew_id FROM sync_changes"
                " WHERE op = 'upsert'"
            ))
        }  # fmt: skip
        tables = (("feeder_line", "feeder_lines", "id", "NULL"),
                  ("transformer_area", "transformer_areas", "line_id", "NULL"),
                  ("outage", "outages", "line_id", "status"))  # fmt: skip
        seen = 0
        for entity, table, line, status in tables:
            rows = session.execute(text(
                f"SELECT id, version, department_id, {line}, {status} FROM {table}"  # noqa: S608
            )).all()  # fmt: skip
            crews = crews_near(session, {UUID(str(r[3])) for r in rows})
            for record, version, department, line_id, state in rows:
                record_id = str(UUID(str(record)))
                assert version > 0, (table, record_id)
                assert (entity, record_id, department, None) in feed, (table, record_id)
                if state in (None, "predicted", "confirmed", "partially_restored"):
                    for crew_department, crew in crews.get(UUID(str(line_id)), set()):
                        assert (entity, record_id, crew_department, crew) in feed
                        seen += 1
        assert session.execute(text("SELECT count(*) FROM feeder_lines")).scalar_one() > 0
    print(f"network feed rows for crews near the demo lines: {seen}")


def _in_service_seals_copied(database: Database) -> None:
    """2500 copies every seal of an in-service meter into its keyed table, held by that meter."""
    import json
    from uuid import UUID

    with database.engine.connect() as conn:
        meters = conn.execute(text("SELECT id, seals FROM meters WHERE status = 'in_service'"))
        carried = {
            (seal, str(UUID(str(meter_id))))
            for meter_id, raw in meters
            for seal in (json.loads(raw) if isinstance(raw, str) else raw) or []
        }
        copied = {
            (seal, str(UUID(str(meter_id))))
            for seal, meter_id in conn.execute(
                text("SELECT seal_number, meter_id FROM in_service_seals")
            )
        }
    assert carried, "the demo meters carry seals"
    assert copied <= carried and {s for s, _ in copied} == {s for s, _ in carried}


def _unread_sync_indexes_dropped(database: Database) -> None:
    """2600 drops the sync tables' indexes that no query reads; the keys stay."""
    inspector = inspect(database.engine)
    left = {
        index["name"]
        for table in ("sync_mutations", "sync_changes")
        for index in inspector.get_indexes(table)
    }
    assert not left & {"ix_sync_mutations_device", "ix_sync_mutations_batch_id",
                       "ix_sync_mutations_record_id", "ix_sync_changes_record_id"}  # fmt: skip
    assert "ix_sync_changes_department_feed" in left


def test_upgrade_from_previous_release_keeps_demo_data(empty_database: str, tmp_path: Path):
    old_tree = _checkout(PREVIOUS_RELEASE, tmp_path / "previous")
    _run_old(old_tree, empty_database, "db", "upgrade")
    _run_old(old_tree, empty_database, "seed-demo")

    database = Database(empty_database)
    try:
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == (
                PREVIOUS_HEAD
            )
        before = _row_counts(database)
        assert before["work_orders"] > 0 and before["users"] > 0

        migrate.upgrade(empty_database)
        _network_reaches_the_feed(database)
        _in_service_seals_copied(database)
        _unread_sync_indexes_dropped(database)
        seed_all(database)  # `make run` on an existing install: upgrade, then seed again

        after = _row_counts(database)
        for table, count in before.items():
            target = MOVED_TABLES.get(table, table)
            if target is None:
                continue
            kept = after.get(target, 0)
            assert kept >= count, f"{table}: {count} rows before the upgrade, {kept} after"

        app = create_app(TestConfig(DATABASE_URL=empty_database), database=database)
        client = app.test_client()
        login = client.post(
            "/api/v1/auth/login", json={"username": "dispatcher", "password": DEMO_PASSWORD}
        )
        assert login.status_code == 200, login.get_json()
        token = login.get_json()["access_token"]
        orders = client.get("/api/v1/work-orders", headers={"Authorization": f"Bearer {token}"})
        assert orders.status_code == 200, orders.get_json()
        assert orders.get_json(), "the upgraded demo orders are visible"
    finally:
        database.engine.dispose()
