"""Monthly partitions of `positions` on PostgreSQL: create ahead, drop beyond retention."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import Connection, text

TABLE = "positions"
_NAME = re.compile(rf"^{TABLE}_(\d{{4}})(\d{{2}})$")


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def partition_ddl(year: int, month: int) -> str:
    """Return the DDL creating the partition holding one calendar month (UTC)."""
    start, end = _month_start(year, month), _month_start(year, month + 1)
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLE}_{start:%Y%m} PARTITION OF {TABLE} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


DEFAULT_PARTITION_DDL = f"CREATE TABLE IF NOT EXISTS {TABLE}_default PARTITION OF {TABLE} DEFAULT"


def ensure_partitions(conn: Connection, now: datetime, months_ahead: int = 3) -> list[str]:
    """Create the partitions from last month to `months_ahead` months ahead; return all names."""
    for offset in range(-1, months_ahead + 1):
        conn.execute(text(partition_ddl(now.year, now.month + offset)))
    return existing_partitions(conn)


def existing_partitions(conn: Connection) -> list[str]:
    """Return the names of the monthly partitions of `positions`, oldest first."""
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
        ),
        {"table": TABLE},
    )
    return sorted(name for (name,) in rows if _NAME.match(name))


def drop_expired(conn: Connection, now: datetime, retention_months: int) -> list[str]:
    """Drop monthly partitions that end before `now` minus `retention_months`; return them."""
    if retention_months < 1:
        raise ValueError("retention must keep at least one month")
    cutoff = _month_start(now.year, now.month - retention_months)
    dropped = []
    for name in existing_partitions(conn):
        match = _NAME.match(name)
        assert match is not None  # noqa: S101 - filtered by existing_partitions
        end = _month_start(int(match[1]), int(match[2]) + 1)
        if end <= cutoff:
            conn.execute(text(f'DROP TABLE "{name}"'))
            dropped.append(name)
    return dropped
