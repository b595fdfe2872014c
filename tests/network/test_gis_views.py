"""The read-only GIS views QGIS connects to directly, on PostGIS and SpatiaLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.network.helpers import make_area, make_customer, make_line
from tests.network.test_outages import outage_body

VIEWS = ("gis_feeder_lines", "gis_transformer_areas", "gis_area_boundaries",
         "gis_outage_areas", "gis_water_pipes", "gis_water_nodes")  # fmt: skip


def test_views_show_the_network_its_counts_and_what_is_out(
    api: Any, session: Session, backend: Any
) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    area = make_area(dispatcher, line["id"])
    hospital = make_customer(archivist, area)
    make_customer(archivist, area)
    archivist.put(f"/api/v1/customers/{hospital['id']}/flags", json={"important": True})
    outage = dispatcher.post("/api/v1/outages", json=outage_body(line)).get_json()

    row = session.execute(
        text(
            "SELECT line_code, customers, important_customers, high_risk_customers, "
            "outage_number, ST_GeometryType(location) FROM gis_transformer_areas WHERE code = :c"
        ),
        {"c": area["code"]},
    ).one()
    assert tuple(row[:5]) == (line["code"], 2, 1, 0, outage["number"])
    assert "POINT" in row[5].upper()
    lines = session.execute(
        text("SELECT areas, outage_number FROM gis_feeder_lines WHERE code = :c"),
        {"c": line["code"]},
    ).one()
    assert tuple(lines) == (1, outage["number"])
    cut = session.execute(
        text("SELECT area_code, customer_count FROM gis_outage_areas WHERE outage_number = :n"),
        {"n": outage["number"]},
    ).all()
    assert [tuple(r) for r in cut] == [(area["code"], 2)]
    dispatcher.post(f"/api/v1/outages/{outage['id']}/transition", json={"to": "restored"})
    assert session.execute(
        text("SELECT COUNT(*) FROM gis_outage_areas WHERE outage_number = :n"),
        {"n": outage["number"]},
    ).scalar_one() == 0  # fmt: skip
    # What a GIS client reads to list the spatial layers.
    if backend.name == "spatialite":
        registered = "SELECT view_name FROM views_geometry_columns"
    else:
        registered = "SELECT f_table_name FROM geometry_columns"
    names = set(session.execute(text(registered)).scalars())
    assert set(VIEWS) <= names
