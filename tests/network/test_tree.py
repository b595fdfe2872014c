"""Lines, transformer areas, flags and the tree over HTTP, on both backends."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from backend.archive import versions
from backend.archive.records import Customer
from tests.conftest import assert_problem
from tests.network.helpers import area_body, line_body, make_area, make_customer, make_line


def test_line_area_customers_tree_with_counts_and_flags(api: Any, session: Session) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    assert line["route"]["type"] == "LineString"
    a1 = make_area(dispatcher, line["id"], section="K1")
    a2 = make_area(dispatcher, line["id"])
    c1 = make_customer(archivist, a1, name="市第一人民医院")
    make_customer(archivist, a1)
    make_customer(archivist, a2)
    flagged = archivist.put(f"/api/v1/customers/{c1['id']}/flags", json={"important": True})
    assert flagged.status_code == 200, flagged.get_json()
    assert flagged.get_json()["important"] is True

    tree = api("callcenter").get(f"/api/v1/network/lines/{line['id']}/tree")
    assert tree.status_code == 200, tree.get_json()
    body = tree.get_json()
    assert (body["area_count"], body["customers"], body["important"], body["high_risk"]) == (
        2, 3, 1, 0,
    )  # fmt: skip
    nodes = {n["area"]["code"]: n for n in body["areas"]}
    assert nodes[a1["code"]]["customers"] == 2 and nodes[a1["code"]]["important"] == 1
    assert nodes[a2["code"]]["customers"] == 1 and nodes[a2["code"]]["important"] == 0

    url = f"/api/v1/network/areas/{a1['id']}/customers"
    listed = archivist.get(url + "?flagged_only=true")
    assert [c["id"] for c in listed.get_json()] == [c1["id"]]
    assert listed.get_json()[0]["important"] is True
    assert len(archivist.get(url).get_json()) == 2
    # Names only within one's archive scope: the repair center does not keep these files.
    assert dispatcher.get(url).get_json() == []
    # A closed account keeps its premise's area but is supplied no more: neither counted
    # nor listed (a list is never longer than its count).
    other = next(c for c in archivist.get(url).get_json() if c["id"] != c1["id"])
    customer = session.get(Customer, uuid.UUID(other["id"]))
    # A new version, as a close does (through the API it needs its closure documents first).
    versions.append(session, customer, {"status": "closed"}, actor="test", reason="moved",
                    source="ui")  # fmt: skip
    session.flush()
    after = api("callcenter").get(f"/api/v1/network/lines/{line['id']}/tree").get_json()
    assert {n["area"]["code"]: n["customers"] for n in after["areas"]}[a1["code"]] == 1
    assert [c["id"] for c in archivist.get(url).get_json()] == [c1["id"]]


def test_geometry_is_validated_and_reprojected(api: Any) -> None:
    dispatcher = api("dispatcher")
    crossing = {"type": "LineString", "coordinates": [[0, 0], [1, 1], [1, 0], [0, 1]]}
    body = assert_problem(
        dispatcher.post("/api/v1/network/lines", json=line_body(route=crossing)), 422
    )
    assert "intersects itself" in body["detail"]
    # Web Mercator metres declared as 4326: outside WGS-84, with a hint about the SRID.
    mercator = "LINESTRING(13374000 3538000, 13380000 3540000)"
    body = assert_problem(
        dispatcher.post("/api/v1/network/lines", json=line_body(route=mercator)), 422
    )
    assert "SRID" in body["detail"]
    # The same metres declared as EPSG:3857 are reprojected to degrees.
    line = make_line(dispatcher, route=mercator, srid=3857)
    lon, lat = line["route"]["coordinates"][0]
    assert 120.1 < lon < 120.2 and 30.2 < lat < 30.4
    for bad in ("POINT(1 2)", "LINESTRING(1 2)", "nonsense", {"type": "Line"}, 42):
        assert_problem(dispatcher.post("/api/v1/network/lines", json=line_body(route=bad)), 422)
    assert_problem(dispatcher.post("/api/v1/network/lines", json=line_body(srid=1)), 422)
    # An unknown but well-formed EPSG code is a 422 too.
    assert_problem(dispatcher.post("/api/v1/network/lines", json=line_body(srid=998998)), 422)
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    body = assert_problem(
        dispatcher.post(
            "/api/v1/network/areas", json=area_body(line["id"], boundary=bow_tie, location=None)
        ),
        422,
    )
    assert "invalid" in body["detail"].lower()


def test_area_from_polygon_only_and_bad_references(api: Any) -> None:
    dispatcher = api("dispatcher")
    line = make_line(dispatcher)
    square = "POLYGON((120.1 30.2, 120.11 30.2, 120.11 30.21, 120.1 30.21, 120.1 30.2))"
    area = make_area(dispatcher, line["id"], boundary=square, location=None)
    lon, lat = area["location"]["coordinates"]
    assert 120.1 < lon < 120.11 and 30.2 < lat < 30.21
    assert area["boundary"]["type"] == "Polygon"
    assert_problem(
        dispatcher.post("/api/v1/network/areas", json=area_body(line["id"], location=None)), 422
    )
    assert_problem(
        dispatcher.post("/api/v1/network/areas", json=area_body(line["id"], section="K9")), 422
    )
    missing = "00000000-0000-0000-0000-000000000000"
    assert_problem(dispatcher.post("/api/v1/network/areas", json=area_body(missing)), 422)
    assert_problem(dispatcher.post("/api/v1/network/lines", json=line_body(code=line["code"])), 409)


def test_who_may_change_the_network(api: Any) -> None:
    line = make_line(api("dispatcher"))
    assert_problem(api("crew1").post("/api/v1/network/lines", json=line_body()), 403)
    assert_problem(api("callcenter").patch(f"/api/v1/network/lines/{line['id']}", json={}), 403)
    # The call center reads the company's lines although a repair center owns them.
    assert api("callcenter").get(f"/api/v1/network/lines/{line['id']}").status_code == 200
    changed = api("supervisor").patch(
        f"/api/v1/network/lines/{line['id']}", json={"name": "改名线", "voltage": "20kV"}
    )
    assert changed.status_code == 200 and changed.get_json()["voltage"] == "20kV"


def test_geojson_layers_filter_by_bbox_and_page(api: Any) -> None:
    dispatcher = api("dispatcher")
    near = make_line(dispatcher)
    far = make_line(
        dispatcher, route={"type": "LineString", "coordinates": [[100.0, 10.0], [100.1, 10.1]]}
    )
    make_area(dispatcher, near["id"])
    response = dispatcher.get("/api/v1/network/layers/lines?bbox=120.0,30.0,120.3,30.5")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = response.get_json()
    codes = {f["properties"]["code"] for f in body["features"]}
    assert near["code"] in codes and far["code"] not in codes
    assert body["type"] == "FeatureCollection"
    assert body["features"][0]["geometry"]["type"] == "LineString"
    paged = dispatcher.get("/api/v1/network/layers/lines?page_size=1&page=2").get_json()
    assert paged["numberReturned"] == 1 and paged["numberMatched"] >= 2
    areas = dispatcher.get("/api/v1/network/layers/areas?bbox=120.0,30.0,120.3,30.5").get_json()
    assert areas["features"] and areas["features"][0]["geometry"]["type"] == "Point"
    for bad in ("1,2,3", "10,0,5,1", "a,b,c,d", "nan,0,1,1"):
        assert_problem(dispatcher.get(f"/api/v1/network/layers/lines?bbox={bad}"), 422)
    assert dispatcher.get("/api/v1/network/layers/pipes-x").status_code == 404
