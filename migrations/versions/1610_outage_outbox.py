"""network: outage notifications become an outbox (sent after commit, retried)

Revision ID: 1610_outage_outbox
Revises: 1600_premise_network_fk
Create Date: 2026-11-29 11:40:00

Rows written before were sent inside their request: they keep their status.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db

revision: str = "1610_outage_outbox"
down_revision: str | Sequence[str] | None = "1600_premise_network_fk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outage_notifications") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("next_attempt_at", backend.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("sent_at", backend.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(length=400), nullable=True))
        batch.create_index("ix_outage_notifications_status", ["status"], unique=False)
    with op.batch_alter_table("outage_notifications") as batch:
        batch.alter_column("attempts", server_default=None)
    op.execute(
        "UPDATE outage_notifications SET attempts = 1, sent_at = created_at WHERE status = 'sent'"
    )


def downgrade() -> None:
    with op.batch_alter_table("outage_notifications") as batch:
        batch.drop_index("ix_outage_notifications_status")
        batch.drop_column("last_error")
        batch.drop_column("sent_at")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
