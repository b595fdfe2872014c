"""sync: verdicts keyed by (principal, mutation_id); device_time on captured records

Revision ID: 0560_sync_principal_mutations
Revises: 1000_archive
Create Date: 2026-11-29 08:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db

revision: str = "0560_sync_principal_mutations"
down_revision: str | Sequence[str] | None = "1000_archive"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CAPTURED = ("inspections", "meter_readings", "gps_fixes", "photos")


def upgrade() -> None:
    # A mutation id is unique per principal only: two devices may pick the same one.
    with op.batch_alter_table("sync_mutations", schema=None) as batch_op:
        batch_op.drop_constraint("pk_sync_mutations", type_="primary")
        batch_op.create_primary_key("pk_sync_mutations", ["device", "mutation_id"])
        # Wide enough for any entity name the protocol accepts (a rejected unknown one too).
        batch_op.alter_column(
            "entity", existing_type=sa.String(length=32), type_=sa.String(length=128)
        )
    for table in CAPTURED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("device_time", backend.db.UTCDateTime(timezone=True), nullable=True)
            )


def downgrade() -> None:
    for table in CAPTURED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("device_time")
    # Keeps the first principal's verdict where two reused one mutation id.
    op.execute(
        "DELETE FROM sync_mutations WHERE EXISTS (SELECT 1 FROM sync_mutations AS older "
        "WHERE older.mutation_id = sync_mutations.mutation_id "
        "AND (older.received_at < sync_mutations.received_at OR "
        "(older.received_at = sync_mutations.received_at AND older.device < sync_mutations.device)))"
    )
    op.execute("UPDATE sync_mutations SET entity = substr(entity, 1, 32)")
    with op.batch_alter_table("sync_mutations", schema=None) as batch_op:
        batch_op.alter_column(
            "entity", existing_type=sa.String(length=128), type_=sa.String(length=32)
        )
        batch_op.drop_constraint("pk_sync_mutations", type_="primary")
        batch_op.create_primary_key("pk_sync_mutations", ["mutation_id"])
