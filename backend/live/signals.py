"""How the hub learns that something was committed, by any process, without polling tables.

PostgreSQL: `LISTEN fieldline_live`; statement triggers on the watched tables NOTIFY on commit
(migration 0620). SQLite: `PRAGMA data_version` on one connection changes whenever another
connection (in this process or another, such as `fieldline ingest`) commits; reading it
costs no query of any table.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from sqlalchemy import Engine

CHANNEL = "fieldline_live"


class ChangeWaiter(Protocol):
    """Blocks until a commit happened, the hub is woken, or the timeout passes."""

    def wait(self, wake: threading.Event, timeout: float) -> bool:
        """Return True when something was committed since the last call."""

    def close(self) -> None:
        """Release the connection."""

    def position(self) -> str | None:
        """The primary's write position now (PostgreSQL WAL LSN), for a replica to catch up."""


class SqliteWaiter:
    """Polls SQLite's data version on one private connection."""

    def __init__(self, path: str, poll_s: float) -> None:
        import pysqlite3.dbapi2 as sqlite3  # the same library as the app's (shared locks)

        self.conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self.conn.isolation_level = None
        self.poll_s = poll_s
        self.version = self._version()

    def _version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, wake: threading.Event, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            current = self._version()
            if current != self.version:
                self.version = current
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or wake.wait(min(self.poll_s, remaining)):
                return False

    def close(self) -> None:
        self.conn.close()

    def position(self) -> str | None:
        return None


class PostgresWaiter:
    """Holds one autocommit connection listening on the change channel."""

    def __init__(self, conninfo: str, poll_s: float) -> None:
        import psycopg

        self.conn = psycopg.connect(conninfo, autocommit=True)
        self.conn.execute(f"LISTEN {CHANNEL}")
        self.poll_s = poll_s

    def wait(self, wake: threading.Event, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not wake.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Short slices so that a new subscriber (the wake event) is served promptly.
            got = list(self.conn.notifies(timeout=min(self.poll_s, remaining), stop_after=1))
            if got:
                # Drain (the generator above is closed, so its lock is free): one round
                # covers every commit so far.
                list(self.conn.notifies(timeout=0.001))
                return True
        return False

    def close(self) -> None:
        self.conn.close()

    def position(self) -> str | None:
        """The primary's current WAL position, read on the listening connection."""
        row = self.conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        return str(row[0]) if row else None


class TickWaiter:
    """For an in-memory SQLite database no other connection shares: look on every poll."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s

    def wait(self, wake: threading.Event, timeout: float) -> bool:
        return not wake.wait(min(self.poll_s, timeout))

    def close(self) -> None:
        """Nothing to release."""

    def position(self) -> str | None:
        return None


def waiter_for(engine: Engine, poll_s: float) -> ChangeWaiter:
    """Return the waiter suited to the engine's backend."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresWaiter(conninfo, poll_s)
    if not url.database or url.database == ":memory:":
        return TickWaiter(poll_s)
    return SqliteWaiter(url.database, poll_s)
