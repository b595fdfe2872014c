"""sync: per-uploader blob upload sessions (a pending upload of another caller never blocks)

Revision ID: 0561_sync_blob_uploads
Revises: 0620_live_notify
Create Date: 2026-11-29 08:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sync.columns

revision: str = "0561_sync_blob_uploads"
down_revision: str | Sequence[str] | None = "0620_live_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_blob_uploads",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploader", sa.String(length=120), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("partial", sa.String(length=100), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("created_at", sync.columns.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sync.columns.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "uploader", name=op.f("pk_sync_blob_uploads")),
    )
    with op.batch_alter_table("sync_blob_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sync_blob_uploads_updated_at"), ["updated_at"], unique=False
        )
    # Unfinished uploads become their uploader's session; their bytes stay at partial/<sha>.
    op.execute(
        "INSERT INTO sync_blob_uploads (sha256, uploader, media_type, size, received, partial, "
        "complete, created_at, updated_at) SELECT sha256, uploaded_by, media_type, size, "
        "received, sha256, false, created_at, updated_at FROM sync_blobs WHERE NOT complete"
    )
    op.execute("DELETE FROM sync_blobs WHERE NOT complete")


def downgrade() -> None:
    # Only sessions kept at the old partial/<sha> name can become unfinished blobs again.
    op.execute(
        "INSERT INTO sync_blobs (sha256, media_type, size, received, complete, has_thumbnail, "
        "uploaded_by, created_at, updated_at) SELECT sha256, media_type, size, received, false, "
        "false, uploader, created_at, updated_at FROM sync_blob_uploads AS u "
        "WHERE NOT complete AND partial = sha256 "
        "AND NOT EXISTS (SELECT 1 FROM sync_blobs AS b WHERE b.sha256 = u.sha256)"
    )
    with op.batch_alter_table("sync_blob_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_blob_uploads_updated_at"))
    op.drop_table("sync_blob_uploads")
