"""archive: retention rules, legal holds, destruction lists

Revision ID: 1520_archive_retention
Revises: 1510_archive_access
Create Date: 2026-11-29 11:20:27.931926
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db
from backend.migrate import drop_append_only, forbid_update_delete

revision: str = "1520_archive_retention"
down_revision: str | Sequence[str] | None = "1510_archive_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_retention_rules",
        sa.Column("voltage_class", sa.String(length=8), nullable=False),
        sa.Column("years", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("voltage_class", name=op.f("pk_archive_retention_rules")),
    )
    op.create_table(
        "archive_destruction_lists",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("storage_location", sa.String(length=120), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("proposed_by", sa.String(length=120), nullable=False),
        sa.Column("proposed_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=120), nullable=True),
        sa.Column("decided_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_archive_destruction_lists_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_destruction_lists")),
    )
    op.create_index(
        op.f("ix_archive_destruction_lists_department_id"),
        "archive_destruction_lists",
        ["department_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_archive_destruction_lists_status"),
        "archive_destruction_lists",
        ["status"],
        unique=False,
    )
    op.create_table(
        "archive_destruction_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("account_number", sa.String(length=32), nullable=False),
        sa.Column("closed_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retain_until", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_archive_destruction_items_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["archive_destruction_lists.id"],
            name=op.f("fk_archive_destruction_items_list_id_archive_destruction_lists"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_destruction_items")),
    )
    op.create_index(
        op.f("ix_archive_destruction_items_customer_id"),
        "archive_destruction_items",
        ["customer_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_archive_destruction_items_list_id"),
        "archive_destruction_items",
        ["list_id"],
        unique=False,
    )
    op.create_table(
        "archive_legal_holds",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("placed_by", sa.String(length=120), nullable=False),
        sa.Column("placed_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_by", sa.String(length=120), nullable=True),
        sa.Column("released_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_archive_legal_holds_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_legal_holds")),
    )
    op.create_index(
        op.f("ix_archive_legal_holds_customer_id"),
        "archive_legal_holds",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "archive_destroyed_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("bytes_removed", sa.Boolean(), nullable=False),
        sa.Column("destroyed_by", sa.String(length=120), nullable=False),
        sa.Column("destroyed_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_archive_destroyed_documents_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["customer_documents.id"],
            name=op.f("fk_archive_destroyed_documents_document_id_customer_documents"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["archive_destruction_lists.id"],
            name=op.f("fk_archive_destroyed_documents_list_id_archive_destruction_lists"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_destroyed_documents")),
        sa.UniqueConstraint("document_id", name=op.f("uq_archive_destroyed_documents_document_id")),
    )
    op.create_index(
        op.f("ix_archive_destroyed_documents_customer_id"),
        "archive_destroyed_documents",
        ["customer_id"],
        unique=False,
    )
    # What was on a list and what was destroyed is history: never changed, never deleted.
    forbid_update_delete(op, "archive_destruction_items")
    forbid_update_delete(op, "archive_destroyed_documents")
    rules = sa.table(
        "archive_retention_rules",
        sa.column("voltage_class", sa.String()),
        sa.column("years", sa.Integer()),
    )
    # Seed 003: closed high-voltage files are kept 5 years, low-voltage files 3.
    op.bulk_insert(
        rules, [{"voltage_class": "high", "years": 5}, {"voltage_class": "low", "years": 3}]
    )


def downgrade() -> None:
    drop_append_only(op, "archive_destroyed_documents")
    drop_append_only(op, "archive_destruction_items")
    op.drop_index(
        op.f("ix_archive_destroyed_documents_customer_id"), table_name="archive_destroyed_documents"
    )
    op.drop_table("archive_destroyed_documents")
    op.drop_index(op.f("ix_archive_legal_holds_customer_id"), table_name="archive_legal_holds")
    op.drop_table("archive_legal_holds")
    op.drop_index(
        op.f("ix_archive_destruction_items_list_id"), table_name="archive_destruction_items"
    )
    op.drop_index(
        op.f("ix_archive_destruction_items_customer_id"), table_name="archive_destruction_items"
    )
    op.drop_table("archive_destruction_items")
    op.drop_index(
        op.f("ix_archive_destruction_lists_status"), table_name="archive_destruction_lists"
    )
    op.drop_index(
        op.f("ix_archive_destruction_lists_department_id"), table_name="archive_destruction_lists"
    )
    op.drop_table("archive_destruction_lists")
    op.drop_table("archive_retention_rules")
