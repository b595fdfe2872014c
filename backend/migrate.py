"""Run Alembic programmatically (`fieldline db upgrade`), and the helpers revisions share.

Append-only tables get triggers that refuse UPDATE and DELETE on either backend (history is
appended, never overwritten).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from geoalchemy2 import alembic_helpers
from sqlalchemy import Connection

from backend.config import ROOT


def include_object(
    obj: Any, name: str | None, obj_type: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare only Fieldline's own tables, not the spatial extensions' catalogues."""
    if obj_type == "table" and reflected and compare_to is None:
        return False
    return bool(alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to))


def alembic_config(url: str, connection: Connection | None = None) -> AlembicConfig:
    """Build the Alembic configuration for a database URL (or an open connection)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    # New revisions come out ruff-formatted, as `make lint` wants them.
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        config.set_section_option("post_write_hooks", "hooks", "ruff")
        config.set_section_option("post_write_hooks", "ruff.type", "exec")
        config.set_section_option("post_write_hooks", "ruff.executable", str(ruff))
        config.set_section_option(
            "post_write_hooks", "ruff.options", "format REVISION_SCRIPT_FILENAME"
        )
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database to the newest revision of every domain branch."""
    command.upgrade(alembic_config(url), revision)


def autogenerate(url: str, message: str, **kwargs: str) -> None:
    """Write a new revision from the difference between the models and the database."""
    command.revision(alembic_config(url), message=message, autogenerate=True, **kwargs)


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


def guard_head(op: Any, table: str, entity: str, columns: list[str]) -> None:
    """Let `table` (a versioned head) change only by moving to a newer appended version.

    An UPDATE is refused unless either no listed column changes (sync bookkeeping such as
    `version` may still move), or `version_no` grows to a version already appended to
    `archive_versions` for this record. DELETE is always refused.
    """
    dialect = op.get_bind().dialect.name
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in columns)
    # Identifiers come from the migration itself, never from input.
    versions = "SELECT 1 FROM archive_versions v WHERE v.entity = "
    appended = (
        f"NEW.version_no > OLD.version_no AND EXISTS ({versions}'{entity}' "
        "AND v.record_id = NEW.id AND v.version_no = NEW.version_no)"
    )
    if dialect == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION {table}_head_guard() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION '% rows are never deleted; close them with a new version',
                  TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
              END IF;
              IF ({changed}) AND NOT ({appended}) THEN
                RAISE EXCEPTION '% rows change only by appending a version', TG_TABLE_NAME
                  USING ERRCODE = 'restrict_violation';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_head_guard BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_head_guard()"
        )
        return
    changed = changed.replace("IS DISTINCT FROM", "IS NOT")
    op.execute(
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN SELECT RAISE(ABORT, "
        f"'{table} rows are never deleted; close them with a new version'); END"
    )
    op.execute(
        f"CREATE TRIGGER {table}_head_guard BEFORE UPDATE ON {table} "
        f"WHEN ({changed}) AND NOT ({appended}) "
        f"BEGIN SELECT RAISE(ABORT, '{table} rows change only by appending a version'); END"
    )


def drop_head_guard(op: Any, table: str) -> None:
    """Drop the triggers created by `guard_head`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_head_guard ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {table}_head_guard()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_head_guard")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
