"""Login throttling: attempts are charged before a secret is checked, atomically per key.

Each attempt charges every key it falls under (the account at this address, and the
address across all accounts) in one upsert that refuses once a key is at its limit, so
N concurrent guesses yield at most `limit` secret checks on PostgreSQL and SQLite alike.
Keys always include the client address: an attacker elsewhere cannot lock a user out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.auth.models import LoginThrottle


@dataclass(frozen=True)
class Limit:
    """A throttle key and how many failed attempts it allows per window."""

    key: str
    max_failures: int


def limits_for(
    kind: str, account: str, address: str, *, per_account: int, per_address: int
) -> list[Limit]:
    """Return the keys an attempt on `account` (a user or device) from `address` charges."""
    address = address[:64]
    return [
        Limit(f"{kind}:{account[:100]}|{address}", per_account),
        Limit(f"address:{address}", per_address),
    ]


def _upsert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _charge(session: Session, limit: Limit, now: datetime, window: timedelta) -> bool:
    """Charge one attempt to a key unless it is at its limit; one statement, so atomic."""
    table = LoginThrottle.__table__
    expired = table.c.window_start <= now - window
    now_value = literal(now, type_=table.c.window_start.type)
    statement = (
        _upsert(session.get_bind().dialect.name)(table)
        .values(key=limit.key, window_start=now, failures=1)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                # A window that has run out starts afresh with this attempt.
                "failures": case((expired, literal(1)), else_=table.c.failures + 1),
                "window_start": case((expired, now_value), else_=table.c.window_start),
            },
            where=expired | (table.c.failures < limit.max_failures),
        )
        .returning(table.c.failures)
    )
    return session.execute(statement).first() is not None


def charge(
    session: Session, limits: list[Limit], *, now: datetime, window: timedelta
) -> datetime | None:
    """Charge an attempt to every key; when one is at its limit, charge none and say until when."""
    savepoint = session.begin_nested()
    for limit in limits:
        if not _charge(session, limit, now, window):
            savepoint.rollback()
            started = session.scalar(
                select(LoginThrottle.window_start).where(LoginThrottle.key == limit.key)
            )
            return (started or now) + window
    savepoint.commit()
    return None


def settle(session: Session, limits: list[Limit], *, succeeded: bool) -> None:
    """After the check: a success clears its account key and gives the address its charge back."""
    if not succeeded:
        return
    table = LoginThrottle.__table__
    account, *others = limits
    session.execute(update(table).where(table.c.key == account.key).values(failures=0))
    for limit in others:
        session.execute(
            update(table)
            .where(table.c.key == limit.key, table.c.failures > 0)
            .values(failures=table.c.failures - 1)
        )


def prune(session: Session, *, now: datetime, window: timedelta) -> None:
    """Forget keys whose window ran out long ago (they would start afresh anyway)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.window_start < now - 2 * window))
