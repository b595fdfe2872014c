"""What one push learns once for its whole batch: prefetched rows, and which ids are missing.

Adapters' `prefetch` hooks load the rows their `authorize` and `after_write` hooks look up
with `prefetch_rows` (one query per table); the hooks then `lookup` without a query.
"""

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, any_, bindparam, select

# session.info key of what the hooks learned during the current push (forgotten at its end).
_PUSH_MEMO = "sync.push_memo"


def push_memo(session: Any) -> dict[str, Any]:
    """Return a dict the hooks may fill during one push (e.g. prefetched answers)."""
    memo: dict[str, Any] = session.info.setdefault(_PUSH_MEMO, {})
    return memo


def forget_push_memo(session: Any) -> None:
    """End a push's memo: a later transaction may create what was missing, or move scopes."""
    session.info.pop(_PUSH_MEMO, None)


def prefetch_rows(session: Any, model: type[Any], ids: Sequence[UUID]) -> list[Any]:
    """Load the rows of `model` with these ids into the session in one query; return them.

    `lookup` then finds them without a query, and knows the missing ones are missing.
    """
    wanted = sorted(set(ids), key=uuid_order)
    if not wanted:
        return []
    rows = list(session.scalars(select(model).where(among(session, model.id, wanted))))
    found = {row.id for row in rows}
    missing: set[tuple[type[Any], UUID]] = push_memo(session).setdefault("missing", set())
    missing.update((model, i) for i in wanted if i not in found)
    return rows


def uuid_order(value: UUID) -> int:
    """Sort key of UUIDs in their own order, without a Python `__lt__` call per comparison."""
    return value.int


def among(session: Any, column: Any, values: Iterable[Any]) -> Any:
    """`column IN (values)`; on PostgreSQL `column = ANY(array)`, one parameter.

    psycopg spends longer splicing a batch's 500 placeholders into the statement than the
    server spends on the lookups (as a pull page's thousand did, `sync.store.feed`).
    """
    listed = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("among", listed, type_=ARRAY(column.type), unique=True))
    # One expanding parameter: `in_(listed)` would coerce the 500 values one by one first.
    return column.in_(bindparam("among", listed, expanding=True, unique=True))


def lookup(session: Any, model: type[Any], ident: UUID) -> Any:
    """`session.get`, answering a row a prefetch of this push found missing without a query."""
    if (model, ident) in session.info.get(_PUSH_MEMO, {}).get("missing", ()):
        return None
    return session.get(model, ident)
