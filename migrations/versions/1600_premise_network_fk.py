"""network: foreign keys from premises to their transformer area and line

Revision ID: 1600_premise_network_fk
Revises: 1300_inspection_cases
Create Date: 2026-11-29 11:30:00

The archive's `premises.transformer_area_id` / `line_id` were plain columns until the network
tables existed. Dangling references stop the upgrade with a list (premises are add-only heads:
a migration may not rewrite them). SQLite cannot add a constraint to an existing column and
SpatiaLite cannot rebuild a table with a geometry column, so the constraint is written into
the stored table definition (SQLite's documented `writable_schema` procedure for changes that
leave the stored rows as they are) and checked with `PRAGMA foreign_key_check`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1600_premise_network_fk"
down_revision: str | Sequence[str] | None = "1300_inspection_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LINKS = (
    ("transformer_area_id", "transformer_areas"),
    ("line_id", "feeder_lines"),
)


def _name(column: str, table: str) -> str:
    return f"fk_premises_{column}_{table}"


def _check_dangling() -> None:
    bind = op.get_bind()
    for column, table in LINKS:
        rows = bind.execute(
            sa.text(
                f"SELECT p.id, p.{column} FROM premises p "  # noqa: S608 - constants above
                f"WHERE p.{column} IS NOT NULL "
                f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = p.{column})"
            )
        ).fetchall()
        if rows:
            sample = ", ".join(f"{r[0]} -> {r[1]}" for r in rows[:10])
            raise RuntimeError(
                f"{len(rows)} premises name a {column} that does not exist ({sample}). "
                f"Correct them through the archive (a new version) and upgrade again."
            )


def _sqlite_definition(add: bool) -> None:
    bind = op.get_bind()
    sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'premises'")
    ).scalar_one()
    clauses = [f"CONSTRAINT {_name(c, t)} FOREIGN KEY({c}) REFERENCES {t} (id)" for c, t in LINKS]
    if add:
        body = sql.rstrip().removesuffix(")").rstrip()
        new_sql = body + ", \n\t" + ", \n\t".join(clauses) + "\n)"
    else:
        new_sql = sql
        for clause in clauses:
            new_sql = new_sql.replace(", \n\t" + clause, "")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'premises'"),
        {"sql": new_sql},
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))
    if add:
        broken = bind.execute(sa.text("PRAGMA foreign_key_check(premises)")).fetchall()
        if broken:  # _check_dangling ran first: this only guards the procedure itself
            raise RuntimeError(f"premises fail their foreign keys: {broken[:10]}")


def upgrade() -> None:
    _check_dangling()
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_definition(add=True)
        return
    for column, table in LINKS:
        op.create_foreign_key(_name(column, table), "premises", table, [column], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_definition(add=False)
        return
    for column, table in LINKS:
        op.drop_constraint(_name(column, table), "premises", type_="foreignkey")
