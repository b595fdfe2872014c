"""tokens and logins: token generations, login sessions (token families), login throttles;
TRUNCATE refused on audit_log

Revision ID: 0520_tokens_and_throttles
Revises: 0561_sync_blob_uploads
Create Date: 2026-11-29 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db

revision: str = "0520_tokens_and_throttles"
down_revision: str | Sequence[str] | None = "0561_sync_blob_uploads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("users", "devices"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False)
            )
    op.create_table(
        "token_families",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("current_jti", sa.String(length=64), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_families")),
    )
    op.create_index(
        op.f("ix_token_families_expires_at"), "token_families", ["expires_at"], unique=False
    )
    op.create_index(op.f("ix_token_families_subject"), "token_families", ["subject"], unique=False)
    op.create_table(
        "login_throttles",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttles")),
    )
    op.create_index(
        op.f("ix_login_throttles_window_start"), "login_throttles", ["window_start"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        # UPDATE and DELETE are refused per row since 0001; TRUNCATE bypasses row triggers.
        # (SQLite has no TRUNCATE: its `DELETE FROM` is refused by the row trigger.)
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION fieldline_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.drop_index(op.f("ix_login_throttles_window_start"), table_name="login_throttles")
    op.drop_table("login_throttles")
    op.drop_index(op.f("ix_token_families_subject"), table_name="token_families")
    op.drop_index(op.f("ix_token_families_expires_at"), table_name="token_families")
    op.drop_table("token_families")
    for table in ("devices", "users"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("token_generation")
