"""Run Alembic programmatically (`fieldline db upgrade`) for either backend."""

from __future__ import annotations

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
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database to the newest revision of every domain branch."""
    command.upgrade(alembic_config(url), revision)


def autogenerate(url: str, message: str, **kwargs: str) -> None:
    """Write a new revision from the difference between the models and the database."""
    command.revision(alembic_config(url), message=message, autogenerate=True, **kwargs)
