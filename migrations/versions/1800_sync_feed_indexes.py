"""sync feed: one index per scope kind, so a pull page reads only its own scope's rows

The pull merges one ordered index range per scope (crew, a crew's station-wide rows,
department) instead of walking the whole feed in (txid, id) order and filtering; on
PostgreSQL the indexes include the page's columns (index-only scans). They replace the
single-column scope indexes, which they lead with.

Revision ID: 1800_sync_feed_indexes
Revises: 1420_risk_ladder
Create Date: 2026-11-29 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1800_sync_feed_indexes"
down_revision: str | Sequence[str] | None = "1420_risk_ladder"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INCLUDE = ["entity", "record_id", "op"]
NO_CREW = sa.text("scope_crew_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_changes_crew_feed",
            ["scope_crew_id", "txid", "id"],
            postgresql_include=INCLUDE,
        )
        batch_op.create_index(
            "ix_sync_changes_department_feed",
            ["scope_department_id", "txid", "id"],
            postgresql_include=INCLUDE,
        )
        batch_op.create_index(
            "ix_sync_changes_station_feed",
            ["scope_department_id", "txid", "id"],
            postgresql_include=INCLUDE,
            postgresql_where=NO_CREW,
            sqlite_where=NO_CREW,
        )
        batch_op.drop_index("ix_sync_changes_scope_crew_id")
        batch_op.drop_index("ix_sync_changes_scope_department_id")


def downgrade() -> None:
    with op.batch_alter_table("sync_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_changes_scope_department_id", ["scope_department_id"], unique=False
        )
        batch_op.create_index("ix_sync_changes_scope_crew_id", ["scope_crew_id"], unique=False)
        batch_op.drop_index("ix_sync_changes_station_feed")
        batch_op.drop_index("ix_sync_changes_department_feed")
        batch_op.drop_index("ix_sync_changes_crew_feed")
