"""Alembic environment: the same revisions run on PostgreSQL/PostGIS and SQLite/SpatiaLite."""

from __future__ import annotations

from typing import Any

from alembic import context
from geoalchemy2 import alembic_helpers

from backend.db import make_engine
from backend.migrate import include_object
from backend.wiring import metadatas


def run_with(connection: Any) -> None:
    """Run the migrations on one connection."""
    context.configure(
        connection=connection,
        target_metadata=metadatas,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        run_with(conn)
    engine.dispose()
