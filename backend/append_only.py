"""Database triggers that make a table append-only (history is appended, never overwritten)."""

from __future__ import annotations

from typing import Any


def forbid_update_delete(op: Any, table: str) -> None:
    """Create triggers refusing UPDATE and DELETE on `table`, on PostgreSQL or SQLite."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION fieldline_append_only() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME
                USING ERRCODE = 'restrict_violation';
            END $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fieldline_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
            )


def drop_append_only(op: Any, table: str) -> None:
    """Drop the triggers created by `forbid_update_delete`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
