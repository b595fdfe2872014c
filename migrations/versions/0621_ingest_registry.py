"""ingest: a registry stamp the vehicles table bumps, and a dead-letter table for replay

The ingest reads `registry_stamps` once per batch and reloads its vehicle directory only when
the stamp moved (triggers on `vehicles` bump it, whoever writes). Messages naming a vehicle it
does not know are parked in `ingest_dead_letters` instead of being acknowledged and lost.

Revision ID: 0621_ingest_registry
Revises: 0520_tokens_and_throttles
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import backend.db

revision: str = "0621_ingest_registry"
down_revision: str | Sequence[str] | None = "0520_tokens_and_throttles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE registry_stamps SET value = value + 1 WHERE name = 'vehicles'"


def upgrade() -> None:
    op.create_table(
        "registry_stamps",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_registry_stamps")),
    )
    op.execute("INSERT INTO registry_stamps (name, value) VALUES ('vehicles', 0)")
    op.create_table(
        "ingest_dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=400), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("key", sa.String(length=140), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("received_at", backend.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", backend.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_dead_letters")),
    )
    op.create_index(
        op.f("ix_ingest_dead_letters_key"), "ingest_dead_letters", ["key"], unique=False
    )
    op.create_index(
        op.f("ix_ingest_dead_letters_received_at"),
        "ingest_dead_letters",
        ["received_at"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION fieldline_bump_vehicle_registry() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$
            """
        )
        op.execute(
            "CREATE TRIGGER vehicles_bump_registry AFTER INSERT OR UPDATE OR DELETE ON vehicles "
            "FOR EACH STATEMENT EXECUTE FUNCTION fieldline_bump_vehicle_registry()"
        )
    else:
        for verb in ("INSERT", "UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER vehicles_bump_registry_{verb.lower()} AFTER {verb} ON vehicles "
                f"BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS vehicles_bump_registry ON vehicles")
        op.execute("DROP FUNCTION IF EXISTS fieldline_bump_vehicle_registry()")
    else:
        for verb in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS vehicles_bump_registry_{verb}")
    op.drop_index(op.f("ix_ingest_dead_letters_received_at"), table_name="ingest_dead_letters")
    op.drop_index(op.f("ix_ingest_dead_letters_key"), table_name="ingest_dead_letters")
    op.drop_table("ingest_dead_letters")
    op.drop_table("registry_stamps")
