"""The Alembic revisions and the models describe the same schema on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend.migrate import include_object
from backend.wiring import metadatas


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


def test_the_revision_chain_has_one_head():
    """Two helpers' revisions on the same parent would leave `upgrade head` ambiguous."""
    from pathlib import Path

    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(Path(__file__).resolve().parents[1] / "migrations"))
    assert len(script.get_heads()) == 1, script.get_heads()
