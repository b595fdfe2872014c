"""network: probable-outage suggestions hold the calls grouped under them

Revision ID: 1620_outage_suggestions
Revises: 1400_risk_credit
Create Date: 2026-11-29 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db

revision: str = "1620_outage_suggestions"
down_revision: str | Sequence[str] | None = "1400_risk_credit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outage_suggestions") as batch:
        batch.add_column(sa.Column("note", sa.String(length=400), nullable=True))
    op.create_table(
        "order_suggestion_links",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Uuid(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("linked_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["transformer_areas.id"],
            name=op.f("fk_order_suggestion_links_area_id_transformer_areas"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_orders.id"],
            name=op.f("fk_order_suggestion_links_order_id_work_orders"),
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["outage_suggestions.id"],
            name=op.f("fk_order_suggestion_links_suggestion_id_outage_suggestions"),
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_suggestion_links")),
    )
    op.create_index(
        op.f("ix_order_suggestion_links_suggestion_id"),
        "order_suggestion_links",
        ["suggestion_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_order_suggestion_links_suggestion_id"), table_name="order_suggestion_links"
    )
    op.drop_table("order_suggestion_links")
    with op.batch_alter_table("outage_suggestions") as batch:
        batch.drop_column("note")
