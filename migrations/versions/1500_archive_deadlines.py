"""archive: business steps, deadline rules, chasing reminders

Revision ID: 1500_archive_deadlines
Revises: 1640_gis_views
Create Date: 2026-11-29 11:09:16.323082
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db
from backend.migrate import drop_append_only, forbid_update_delete

revision: str = "1500_archive_deadlines"
down_revision: str | Sequence[str] | None = "1640_gis_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_deadline_rules",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("limit_hours", sa.Integer(), nullable=False),
        sa.Column("warning_hours", sa.Integer(), nullable=False),
        sa.Column("repeat_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_archive_deadline_rules")),
    )
    op.create_table(
        "archive_steps",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("completed_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_archive_steps_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_archive_steps_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_steps")),
    )
    op.create_index(
        op.f("ix_archive_steps_completed_at"), "archive_steps", ["completed_at"], unique=False
    )
    op.create_index(
        op.f("ix_archive_steps_customer_id"), "archive_steps", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_archive_steps_department_id"), "archive_steps", ["department_id"], unique=False
    )
    op.create_index(op.f("ix_archive_steps_stage"), "archive_steps", ["stage"], unique=False)
    op.create_table(
        "archive_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("due_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_archive_reminders_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_archive_reminders_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_reminders")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_archive_reminders_alert_id")),
        sa.UniqueConstraint(
            "kind",
            "subject_id",
            "stage",
            "round",
            name=op.f("uq_archive_reminders_kind_subject_id_stage_round"),
        ),
    )
    op.create_index(
        op.f("ix_archive_reminders_customer_id"), "archive_reminders", ["customer_id"], unique=False
    )
    op.create_index(
        op.f("ix_archive_reminders_subject_id"), "archive_reminders", ["subject_id"], unique=False
    )
    _alerts_order_nullable(True)
    forbid_update_delete(op, "archive_steps")
    rules = sa.table(
        "archive_deadline_rules",
        sa.column("kind", sa.String()),
        sa.column("limit_hours", sa.Integer()),
        sa.column("warning_hours", sa.Integer()),
        sa.column("repeat_hours", sa.Integer()),
    )
    op.bulk_insert(
        rules,
        [
            {"kind": kind, "limit_hours": h, "warning_hours": w, "repeat_hours": r}
            for kind, h, w, r in DEFAULT_RULES
        ],
    )


# The seeds' numbers as of this revision (later changes go through the API, audited).
DEFAULT_RULES = (
    ("digitise", 48, 24, 24),
    ("handover", 168, 48, 24),
    ("new_file", 168, 48, 24),
    ("changed_file", 120, 48, 24),
    ("meter_calibration", 0, 720, 168),
    ("meter_replacement", 0, 720, 168),
    ("contract_expiry", 0, 1440, 168),
)


def _alerts_order_nullable(nullable: bool) -> None:
    """Archive reminders are alerts without an order.

    SQLite rebuilds the table (batch mode); with foreign keys on, dropping the old `alerts`
    would cascade into `alert_outbox`, so its rows are kept aside and put back.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.alter_column("alerts", "order_id", existing_type=sa.Uuid(), nullable=nullable)
        return
    outbox = sa.Table("alert_outbox", sa.MetaData(), autoload_with=bind)
    kept = [dict(row._mapping) for row in bind.execute(sa.select(outbox))]
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("order_id", existing_type=sa.Uuid(), nullable=nullable)
    bind.execute(outbox.delete())
    if kept:
        bind.execute(outbox.insert(), kept)


def downgrade() -> None:
    # Reminders' alerts have no order, so they cannot stay once order_id is required again.
    op.execute(
        "DELETE FROM alert_outbox WHERE alert_id IN (SELECT id FROM alerts WHERE order_id IS NULL)"
    )
    drop_append_only(op, "archive_steps")
    op.drop_index(op.f("ix_archive_reminders_subject_id"), table_name="archive_reminders")
    op.drop_index(op.f("ix_archive_reminders_customer_id"), table_name="archive_reminders")
    op.drop_table("archive_reminders")
    op.execute("DELETE FROM alerts WHERE order_id IS NULL")
    _alerts_order_nullable(False)
    op.drop_index(op.f("ix_archive_steps_stage"), table_name="archive_steps")
    op.drop_index(op.f("ix_archive_steps_department_id"), table_name="archive_steps")
    op.drop_index(op.f("ix_archive_steps_customer_id"), table_name="archive_steps")
    op.drop_index(op.f("ix_archive_steps_completed_at"), table_name="archive_steps")
    op.drop_table("archive_steps")
    op.drop_table("archive_deadline_rules")
