"""work order sync: the crew's note on a work order (pushed from handhelds)

Revision ID: 0400_work_order_sync
Revises: 0300_sync
Create Date: 2026-11-26 07:46:48.026621
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0400_work_order_sync"
down_revision: str | Sequence[str] | None = "0300_sync"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crew_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_column("crew_note")
