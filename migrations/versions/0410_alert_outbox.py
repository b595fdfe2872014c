"""alert outbox: escalation alerts queued for MQTT (and webhook) delivery

Revision ID: 0410_alert_outbox
Revises: 0400_work_order_sync
Create Date: 2026-11-26 08:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.db

revision: str = "0410_alert_outbox"
down_revision: str | Sequence[str] | None = "0400_work_order_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("webhook_sent_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_next_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("webhook_error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_outbox_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_outbox")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_alert_outbox_alert_id")),
    )
    op.create_index("ix_alert_outbox_pending", "alert_outbox", ["published_at", "id"], unique=False)
    op.create_index(
        op.f("ix_alert_outbox_webhook_next_at"), "alert_outbox", ["webhook_next_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_outbox_webhook_next_at"), table_name="alert_outbox")
    op.drop_index("ix_alert_outbox_pending", table_name="alert_outbox")
    op.drop_table("alert_outbox")
