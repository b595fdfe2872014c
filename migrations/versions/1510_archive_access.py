"""archive: access requests, read log, paper loans

Revision ID: 1510_archive_access
Revises: 1500_archive_deadlines
Create Date: 2026-11-29 11:16:52.330339
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db
from backend.migrate import drop_append_only, forbid_update_delete

revision: str = "1510_archive_access"
down_revision: str | Sequence[str] | None = "1500_archive_deadlines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_access_requests",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("requester_name", sa.String(length=120), nullable=False),
        sa.Column("requester_department_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("valid_from", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("department_approver", sa.String(length=120), nullable=True),
        sa.Column("department_approved_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("archive_approver", sa.String(length=120), nullable=True),
        sa.Column("archive_approved_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refused_by", sa.String(length=120), nullable=True),
        sa.Column("refused_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("refusal_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_archive_access_requests_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_department_id"],
            ["departments.id"],
            name=op.f("fk_archive_access_requests_requester_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["users.id"],
            name=op.f("fk_archive_access_requests_requester_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_access_requests")),
    )
    op.create_index(
        op.f("ix_archive_access_requests_customer_id"),
        "archive_access_requests",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_archive_access_requests_requester_id"),
        "archive_access_requests",
        ["requester_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_archive_access_requests_status"),
        "archive_access_requests",
        ["status"],
        unique=False,
    )
    op.create_table(
        "archive_loans",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("borrower_name", sa.String(length=120), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("approved_by", sa.String(length=120), nullable=True),
        sa.Column("approved_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handed_out_by", sa.String(length=120), nullable=True),
        sa.Column("handed_out_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_by", sa.String(length=120), nullable=True),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["users.id"], name=op.f("fk_archive_loans_borrower_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_archive_loans_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_archive_loans_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_loans")),
    )
    op.create_index(
        op.f("ix_archive_loans_borrower_id"), "archive_loans", ["borrower_id"], unique=False
    )
    op.create_index(
        op.f("ix_archive_loans_customer_id"), "archive_loans", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_archive_loans_department_id"), "archive_loans", ["department_id"], unique=False
    )
    op.create_index(op.f("ix_archive_loans_status"), "archive_loans", ["status"], unique=False)
    op.create_index(
        "uq_archive_loans_one_out",
        "archive_loans",
        ["customer_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('approved', 'out')"),
        sqlite_where=sa.text("status IN ('approved', 'out')"),
    )
    op.create_table(
        "archive_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("reader", sa.String(length=120), nullable=False),
        sa.Column("reader_department_id", sa.Integer(), nullable=True),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=True),
        sa.Column("why", sa.String(length=500), nullable=False),
        sa.Column("read_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_archive_reads_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["archive_access_requests.id"],
            name=op.f("fk_archive_reads_grant_id_archive_access_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["reader_department_id"],
            ["departments.id"],
            name=op.f("fk_archive_reads_reader_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_reads")),
    )
    op.create_index(
        op.f("ix_archive_reads_customer_id"), "archive_reads", ["customer_id"], unique=False
    )
    op.create_index(op.f("ix_archive_reads_read_at"), "archive_reads", ["read_at"], unique=False)
    op.create_index(op.f("ix_archive_reads_reader"), "archive_reads", ["reader"], unique=False)
    forbid_update_delete(op, "archive_reads")
    rules = sa.table(
        "archive_deadline_rules",
        sa.column("kind", sa.String()),
        sa.column("limit_hours", sa.Integer()),
        sa.column("warning_hours", sa.Integer()),
        sa.column("repeat_hours", sa.Integer()),
    )
    # Paper loans are chased from two days before their due day ends, daily.
    op.bulk_insert(
        rules, [{"kind": "loan_return", "limit_hours": 0, "warning_hours": 48, "repeat_hours": 24}]
    )


def downgrade() -> None:
    op.execute("DELETE FROM archive_deadline_rules WHERE kind = 'loan_return'")
    drop_append_only(op, "archive_reads")
    op.drop_index(op.f("ix_archive_reads_reader"), table_name="archive_reads")
    op.drop_index(op.f("ix_archive_reads_read_at"), table_name="archive_reads")
    op.drop_index(op.f("ix_archive_reads_customer_id"), table_name="archive_reads")
    op.drop_table("archive_reads")
    op.drop_index(
        "uq_archive_loans_one_out",
        table_name="archive_loans",
        postgresql_where=sa.text("status IN ('approved', 'out')"),
        sqlite_where=sa.text("status IN ('approved', 'out')"),
    )
    op.drop_index(op.f("ix_archive_loans_status"), table_name="archive_loans")
    op.drop_index(op.f("ix_archive_loans_department_id"), table_name="archive_loans")
    op.drop_index(op.f("ix_archive_loans_customer_id"), table_name="archive_loans")
    op.drop_index(op.f("ix_archive_loans_borrower_id"), table_name="archive_loans")
    op.drop_table("archive_loans")
    op.drop_index(op.f("ix_archive_access_requests_status"), table_name="archive_access_requests")
    op.drop_index(
        op.f("ix_archive_access_requests_requester_id"), table_name="archive_access_requests"
    )
    op.drop_index(
        op.f("ix_archive_access_requests_customer_id"), table_name="archive_access_requests"
    )
    op.drop_table("archive_access_requests")
