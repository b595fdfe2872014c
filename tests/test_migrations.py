"""The Alembic revisions and the models describe the same schema on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.migrate import include_object
from backend.models import metadatas


def test_models_match_migrations(backend):
    with backend.database.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_object": include_object,
                "compare_type": True,
                "target_metadata": metadatas,
            },
        )
        diff = compare_metadata(context, metadatas)
    assert diff == [], diff
