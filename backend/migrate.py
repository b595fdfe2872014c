"""Run Alembic programmatically (`fieldline db upgrade`) for either backend."""

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
