"""sync_write_indexes: the sync tables' keys in lookup order; drop the indexes no query reads

A push looks up its batch's mutation ids (`sync_mutations`, keyed by device and mutation id)
and the ids it does not find among the records (`sync_tombstones`, keyed by entity and record
id) as `id = ANY(array)`. With the device (or entity) first in the key, PostgreSQL's cached
generic plan scanned every verdict of the device and filtered it by the array: each push
was slower than the last (7 ms more per 500 verdicts of the device, measured). Keyed id
first, each id is one index probe.

Every pushed mutation also writes a verdict and a feed row (`sync_changes`), and every index
on them is one more B-tree insert per mutation: the verdicts' `device`, `batch_id` and
`record_id` indexes and the feed's `record_id` index had no reader.

Revision ID: 2600_sync_write_indexes
Revises: 2500_in_service_seals
Create Date: 2026-11-29 21:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2600_sync_write_indexes"
down_revision: str | Sequence[str] | None = "2500_in_service_seals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROPPED = [
    ("sync_mutations", "ix_sync_mutations_device", ["device"]),
    ("sync_mutations", "ix_sync_mutations_batch_id", ["batch_id"]),
    ("sync_mutations", "ix_sync_mutations_record_id", ["record_id"]),
    ("sync_changes", "ix_sync_changes_record_id", ["record_id"]),
]


# The keys, as they were and as they are now.
KEYS = [
    ("sync_mutations", "pk_sync_mutations", ["device", "mutation_id"], ["mutation_id", "device"]),
    ("sync_tombstones", "pk_sync_tombstones", ["entity", "record_id"], ["record_id", "entity"]),
]


def _rekey(table: str, name: str, columns: list[str]) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(name, type_="primary")
        batch_op.create_primary_key(name, columns)


def upgrade() -> None:
    """Drop the four indexes; put the ids first in the two keys."""
    for table, name, _columns in DROPPED:
        op.drop_index(name, table_name=table)
    for table, name, _before, after in KEYS:
        _rekey(table, name, after)


def downgrade() -> None:
    """The keys as they were; the indexes again."""
    for table, name, before, _after in KEYS:
        _rekey(table, name, before)
    for table, name, columns in DROPPED:
        op.create_index(name, table, columns, unique=False)
