"""live feed: PostgreSQL notifies the one listener per process when watched tables change

Statement-level triggers send `NOTIFY fieldline_live` (delivered at commit, duplicates in one
transaction folded into one) so the live hub queries once per change, never per subscriber.
SQLite needs nothing: the hub watches `PRAGMA data_version`.

Revision ID: 0620_live_notify
Revises: 0560_sync_principal_mutations
Create Date: 2026-11-29 08:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0620_live_notify"
down_revision: str | Sequence[str] | None = "0560_sync_principal_mutations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# vehicle_states: positions and liveness; alerts: escalations; sync_changes: every change of
# an order or a timing event (the synced records write one row there per change).
WATCHED = ("vehicle_states", "alerts", "sync_changes")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION fieldline_live_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('fieldline_live', TG_TABLE_NAME);
            RETURN NULL;
        END $$
        """
    )
    for table in WATCHED:
        op.execute(
            f"CREATE TRIGGER {table}_live_notify AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION fieldline_live_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_live_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS fieldline_live_notify()")
