"""The house is wired explicitly: importing a module registers no Session listener."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from backend.config import ROOT

PROBE = """
from sqlalchemy import event
from sqlalchemy.orm import Session

import backend.app  # every domain, every model, every route
from backend.archive.handheld import announce_changes
from backend.auth.audit import write_audit_rows
from backend.auth.models import revoke_tokens_on_credential_change
from backend.live.announce import announce_live_changes
from backend.wiring import install_session_listeners
from sync.changes import version_synced_records

hooks = [
    ("before_flush", version_synced_records),
    ("before_flush", revoke_tokens_on_credential_change),
    ("before_flush", announce_changes),
    ("before_flush", announce_live_changes),
    ("after_flush", write_audit_rows),
]
print(*[event.contains(Session, name, hook) for name, hook in hooks])
install_session_listeners()
install_session_listeners()  # idempotent: each hook once
print(*[event.contains(Session, name, hook) for name, hook in hooks])
"""


def test_imports_register_no_listener_and_wiring_registers_each_once() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[:2] == [
        "False False False False False",
        "True True True True True",
    ]


def test_every_time_column_is_the_one_utc_type() -> None:
    from sqlalchemy import DateTime

    from backend.wiring import metadatas
    from sync.columns import UTCDateTime

    columns = [c for m in metadatas for t in m.tables.values() for c in t.columns]
    times = [c for c in columns if isinstance(c.type, DateTime | UTCDateTime)]
    assert len(times) > 50
    assert [str(c) for c in times if not isinstance(c.type, UTCDateTime)] == []


def test_the_utc_type_refuses_naive_times_on_sync_tables_too(session: Session) -> None:
    from datetime import datetime

    from sqlalchemy.exc import StatementError

    from sync.store.tables import DeviceClock

    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    clock = DeviceClock(
        device="device:1:probe",
        batch_id="b",
        sent_at=naive,
        received_at=naive,
        skew_seconds=0.0,
        corrected=False,
    )
    session.add(clock)
    with pytest.raises(StatementError, match="naive datetime refused"):
        session.flush()


def test_sqlite_commits_reach_the_disk_before_they_are_acknowledged(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL may lose the last commits to a power cut: FULL (2) it is."""
    from backend.db import Database

    database = Database(f"sqlite:///{tmp_path / 'durable.db'}")
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    database.engine.dispose()
