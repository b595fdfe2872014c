"""Run Alembic programmatically (`fieldline db upgrade`) for either backend."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection

from backend.config import ROOT


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
