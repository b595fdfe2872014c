"""network: read-only GIS views for direct access (QGIS) on PostGIS and SpatiaLite

Revision ID: 1640_gis_views
Revises: 1631_merge_water_risk
Create Date: 2026-11-29 12:10:00

Each view carries only network data and counts (no customer names or phones), so a GIS
account may read them without going around the archive's field permissions. On SpatiaLite
each view is registered in `views_geometry_columns` (with the geometry table's ROWID), which
is what QGIS and SpatiaLite's own tools read to list spatial views.
"""

# ruff: noqa: S608 - every statement is built from the constants below, never from input
from collections.abc import Sequence

from alembic import op

revision: str = "1640_gis_views"
down_revision: str | Sequence[str] | None = "1631_merge_water_risk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CUT = "('confirmed', 'partially_restored')"
_AREA_CUT = (
    "(SELECT o.number FROM outage_areas oa JOIN outages o ON o.id = oa.outage_id "
    f"WHERE oa.area_id = a.id AND oa.restored_at IS NULL AND o.status IN {_CUT} "
    "ORDER BY o.starts_at LIMIT 1)"
)
_COUNTS = (
    "(SELECT COUNT(DISTINCT p.customer_id) FROM premises p WHERE p.transformer_area_id = a.id) "
    "AS customers, "
    "(SELECT COUNT(DISTINCT p.customer_id) FROM premises p JOIN customer_flags f "
    "ON f.customer_id = p.customer_id WHERE p.transformer_area_id = a.id AND f.important) "
    "AS important_customers, "
    "(SELECT COUNT(DISTINCT p.customer_id) FROM premises p JOIN customer_flags f "
    "ON f.customer_id = p.customer_id WHERE p.transformer_area_id = a.id AND f.high_risk) "
    "AS high_risk_customers"
)
_AREA_COLUMNS = (
    "a.id, a.code, a.name, l.code AS line_code, a.section, a.capacity_kva, a.ownership, "
    f"a.region_code, a.department_id, {_COUNTS}, {_AREA_CUT} AS outage_number"
)

# view -> (select with {rowid} before the columns, geometry table, geometry column)
VIEWS: dict[str, tuple[str, str, str]] = {
    "gis_feeder_lines": (
        "SELECT {rowid} l.id, l.code, l.name, l.voltage, l.region_code, l.department_id, "
        "s.code AS substation_code, "
        "(SELECT COUNT(*) FROM transformer_areas a WHERE a.line_id = l.id) AS areas, "
        "(SELECT o.number FROM outages o WHERE o.line_id = l.id AND o.status IN "
        f"{_CUT} ORDER BY o.starts_at LIMIT 1) AS outage_number, l.route "
        "FROM feeder_lines l LEFT JOIN substations s ON s.id = l.substation_id",
        "feeder_lines",
        "route",
    ),
    "gis_transformer_areas": (
        f"SELECT {{rowid}} {_AREA_COLUMNS}, a.location "
        "FROM transformer_areas a JOIN feeder_lines l ON l.id = a.line_id",
        "transformer_areas",
        "location",
    ),
    "gis_area_boundaries": (
        f"SELECT {{rowid}} {_AREA_COLUMNS}, a.boundary "
        "FROM transformer_areas a JOIN feeder_lines l ON l.id = a.line_id "
        "WHERE a.boundary IS NOT NULL",
        "transformer_areas",
        "boundary",
    ),
    "gis_outage_areas": (
        "SELECT {rowid} o.number AS outage_number, o.kind, o.scope, o.status, o.reason, "
        "o.starts_at, o.planned_end_at, a.code AS area_code, a.name AS area_name, "
        "oa.customer_count, a.location "
        "FROM outage_areas oa JOIN outages o ON o.id = oa.outage_id "
        "JOIN transformer_areas a ON a.id = oa.area_id "
        f"WHERE oa.restored_at IS NULL AND o.status IN {_CUT}",
        "transformer_areas",
        "location",
    ),
    "gis_water_pipes": (
        "SELECT {rowid} w.id, w.code, w.diameter_mm, w.material, w.department_id, "
        "f.code AS from_node, t.code AS to_node, w.route "
        "FROM water_pipes w JOIN water_nodes f ON f.id = w.from_node_id "
        "JOIN water_nodes t ON t.id = w.to_node_id",
        "water_pipes",
        "route",
    ),
    "gis_water_nodes": (
        "SELECT {rowid} n.id, n.code, n.kind, n.name, n.valve_open, n.department_id, n.location "
        "FROM water_nodes n",
        "water_nodes",
        "location",
    ),
}
_ALIAS = {"feeder_lines": "l", "transformer_areas": "a", "water_pipes": "w", "water_nodes": "n"}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for view, (select, table, column) in VIEWS.items():
        rowid = f"{_ALIAS[table]}.ROWID AS rowid," if sqlite else ""
        op.execute(f"CREATE VIEW {view} AS {select.format(rowid=rowid)}")
        if sqlite:
            op.execute(
                "INSERT INTO views_geometry_columns (view_name, view_geometry, view_rowid, "
                f"f_table_name, f_geometry_column, read_only) "
                f"VALUES ('{view}', '{column}', 'rowid', '{table}', '{column}', 1)"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for view in reversed(VIEWS):
        if sqlite:
            op.execute(f"DELETE FROM views_geometry_columns WHERE view_name = '{view}'")
        op.execute(f"DROP VIEW {view}")
