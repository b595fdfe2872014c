"""in_service_seals: one row a seal on an in-service meter, keyed by the seal number

The seal rule (a seal is on one in-service meter at a time, `backend.archive.seals`) read every
meter's JSON list per check and could not stop two transactions claiming one seal at once; the
key on this derived copy does both. Backfilled from the meters in service: where older data
already has a seal on two of them, the meter first by number keeps the row (as the rule's
409 named it), and the other's copy of the seal is left out.

Revision ID: 2500_in_service_seals
Revises: 1900_network_sync
Create Date: 2026-11-29 18:50:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2500_in_service_seals"
down_revision: str | Sequence[str] | None = "1900_network_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    """Create the table and copy the seals of the meters in service."""
    seals = op.create_table(
        "in_service_seals",
        sa.Column("seal_number", sa.String(), nullable=False),
        sa.Column("meter_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"], ["meters.id"], name=op.f("fk_in_service_seals_meter_id_meters")
        ),
        sa.PrimaryKeyConstraint("seal_number", name=op.f("pk_in_service_seals")),
    )
    op.create_index(
        op.f("ix_in_service_seals_meter_id"), "in_service_seals", ["meter_id"], unique=False
    )
    meters = sa.table(
        "meters", sa.column("id", sa.Uuid()), sa.column("number", sa.String()),
        sa.column("seals", sa.JSON()), sa.column("status", sa.String()),
    )  # fmt: skip
    bind = op.get_bind()
    claimed: set[str] = set()
    rows: list[dict[str, object]] = []
    query = (
        sa.select(meters.c.id, meters.c.seals)
        .where(meters.c.status == "in_service")
        .order_by(meters.c.number)
    )
    for meter_id, raw in bind.execute(query):
        listed = json.loads(raw) if isinstance(raw, str) else raw
        for seal in listed or []:
            if isinstance(seal, str) and seal not in claimed:
                claimed.add(seal)
                rows.append({"seal_number": seal, "meter_id": meter_id})
        if len(rows) >= BATCH:
            op.bulk_insert(seals, rows)
            rows = []
    if rows:
        op.bulk_insert(seals, rows)


def downgrade() -> None:
    """Drop the copy (the meters keep their seals)."""
    op.drop_index(op.f("ix_in_service_seals_meter_id"), table_name="in_service_seals")
    op.drop_table("in_service_seals")
