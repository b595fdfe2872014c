"""network on handhelds: lines, transformer areas and outages become synced (pull only)

Adds the sync columns (version, field_versions, deleted) to feeder_lines, transformer_areas
and outages, and gives every existing row a version and its change-feed rows: an upsert in
its owner's department (as a new record would get) and one per crew with open work at a
premise of its line (`backend.network.handheld`: lines near the crew's work, their areas,
their active outages), so handhelds already in the field receive them on their next pull.

Revision ID: 1900_network_sync
Revises: 1700_inspection_plans
Create Date: 2026-11-29 15:10:00.000000
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "1900_network_sync"
down_revision: str | Sequence[str] | None = "1700_inspection_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {"feeder_lines": "feeder_line", "transformer_areas": "transformer_area",
          "outages": "outage"}  # fmt: skip
ACTIVE = ("predicted", "confirmed", "partially_restored")
SYNCED = ("version", "field_versions", "deleted")
CHANGES = sa.table(
    "sync_changes",
    sa.column("id", sa.BigInteger()), sa.column("txid", sa.BigInteger()),
    sa.column("entity", sa.String()), sa.column("record_id", sa.String()),
    sa.column("op", sa.String()), sa.column("scope_department_id", sa.Integer()),
    sa.column("scope_crew_id", sa.Integer()), sa.column("changed_at", sa.DateTime(timezone=True)),
)  # fmt: skip

NEAR_CREWS = """
SELECT w.line_id, w.department_id, w.crew_id FROM (
  SELECT p.line_id AS line_id, o.department_id, o.crew_id
    FROM work_orders o JOIN premises p ON p.id = o.premise_id
   WHERE o.crew_id IS NOT NULL AND o.status <> 'closed' AND p.line_id IS NOT NULL
  UNION
  SELECT a.line_id, o.department_id, o.crew_id
    FROM work_orders o JOIN premises p ON p.id = o.premise_id
    JOIN transformer_areas a ON a.id = p.transformer_area_id
   WHERE o.crew_id IS NOT NULL AND o.status <> 'closed'
  UNION
  SELECT p.line_id, i.department_id, i.crew_id
    FROM inspections i JOIN premises p ON p.id = i.premise_id
   WHERE i.crew_id IS NOT NULL AND i.status <> 'closed' AND NOT i.deleted
     AND p.line_id IS NOT NULL
  UNION
  SELECT a.line_id, i.department_id, i.crew_id
    FROM inspections i JOIN premises p ON p.id = i.premise_id
    JOIN transformer_areas a ON a.id = p.transformer_area_id
   WHERE i.crew_id IS NOT NULL AND i.status <> 'closed' AND NOT i.deleted
) w
"""


def _versions(conn: sa.Connection, count: int) -> list[int]:
    if count == 0:
        return []
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            sa.text("SELECT nextval('sync_version_seq') FROM generate_series(1, :n)"), {"n": count}
        )
        return [int(r[0]) for r in rows]
    last = conn.execute(
        sa.text("UPDATE sync_version_counter SET value = value + :n WHERE id = 1 RETURNING value"),
        {"n": count},
    ).scalar_one()
    return list(range(int(last) - count + 1, int(last) + 1))


def _uuid(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN (with a default for the rows there) on both backends:
    # a batch operation would rebuild the table, which SpatiaLite refuses for geometry tables.
    for table in TABLES:
        op.add_column(table, sa.Column("version", sa.BigInteger(), nullable=False,
                                       server_default="0"))  # fmt: skip
        op.add_column(table, sa.Column("field_versions", sa.JSON(), nullable=False,
                                       server_default="{}"))  # fmt: skip
        op.add_column(table, sa.Column("deleted", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))  # fmt: skip
    conn = op.get_bind()
    crews: dict[uuid.UUID, set[tuple[int, int]]] = {}
    for line_id, department_id, crew_id in conn.execute(sa.text(NEAR_CREWS)):
        crews.setdefault(_uuid(line_id), set()).add((department_id, crew_id))
    txid = 0
    if conn.dialect.name == "postgresql":
        txid = int(conn.execute(sa.text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
    now = datetime.now(UTC)
    if conn.dialect.name != "postgresql":
        now = now.replace(tzinfo=None)  # UTC without an offset, as sync.columns stores it
    for table, entity in TABLES.items():
        line_column = "id" if table == "feeder_lines" else "line_id"
        status = "status" if table == "outages" else "NULL"
        rows = conn.execute(
            sa.text(f"SELECT id, department_id, {line_column}, {status} FROM {table}")  # noqa: S608
        ).all()
        columns = [
            c["name"] for c in sa.inspect(conn).get_columns(table) if c["name"] not in SYNCED[:2]
        ]
        versions = iter(_versions(conn, len(rows)))
        feed: list[dict[str, object]] = []
        for record_id, department_id, line_id, state in rows:
            version = next(versions)
            conn.execute(
                sa.text(f"UPDATE {table} SET version = :v, field_versions = :f WHERE id = :id"),  # noqa: S608
                {"v": version, "f": json.dumps(dict.fromkeys(columns, version)), "id": record_id},
            )
            base = {"txid": txid, "entity": entity, "record_id": str(_uuid(record_id)),
                    "op": "upsert", "changed_at": now}  # fmt: skip
            feed.append(base | {"id": version, "scope_department_id": department_id,
                                "scope_crew_id": None})  # fmt: skip
            if state is not None and state not in ACTIVE:
                continue  # an ended outage is on no handheld
            for department, crew in sorted(crews.get(_uuid(line_id), set())):
                feed.append(base | {"scope_department_id": department, "scope_crew_id": crew})
        extra = iter(_versions(conn, sum(1 for row in feed if "id" not in row)))
        for row in feed:
            if "id" not in row:
                row["id"] = next(extra)
        if feed:
            conn.execute(sa.insert(CHANGES), feed)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "DELETE FROM sync_changes WHERE entity IN ('feeder_line', 'transformer_area', 'outage')"
        )  # fmt: skip
    )
    # Plain ALTER TABLE ... DROP COLUMN on both backends: SpatiaLite cannot rebuild a table
    # with a geometry column (what a batch operation would do), and SQLite drops these natively.
    for table in TABLES:
        for column in reversed(SYNCED):
            op.drop_column(table, column)
