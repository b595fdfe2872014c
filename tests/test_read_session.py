"""A read-only session sees what was committed before it began, whichever connection did it.

On SQLite a read session takes a deferred BEGIN, which reads one WAL snapshot: a pooled
connection must not carry an earlier read session's snapshot into the next one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.models import User
from backend.db import Database


def _dbapi_connection(session: Session) -> Any:
    return session.connection().connection.dbapi_connection


def _rename(database: Database, user_id: int, full_name: str) -> None:
    with database.unit_of_work() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.full_name = full_name


def test_a_read_session_sees_a_commit_made_on_another_connection(committed_db: Database) -> None:
    # Last in, first out: the second read session gets the first one's pooled connection.
    database = Database(committed_db.url, pool_use_lifo=True)
    reader = database.read_session()
    user = reader.scalars(select(User).where(User.username == "callcenter")).one()
    before, pooled = user.full_name, _dbapi_connection(reader)
    try:
        # The reader still holds its connection (and, on SQLite, its snapshot): another one writes.
        _rename(database, user.id, f"{before} (renamed)")
        reader.close()
        again = database.read_session()
        try:
            assert _dbapi_connection(again) is pooled
            seen = again.scalars(select(User.full_name).where(User.id == user.id)).one()
            assert seen == f"{before} (renamed)"
        finally:
            again.close()
    finally:
        reader.close()
        _rename(database, user.id, before)
        database.dispose()
