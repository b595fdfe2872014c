"""Network import: GeoJSON, CSV (WKT) and XLSX; every row checked; all or nothing."""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import Workbook

from tests.archive.helpers import customer_body, damaged_xlsx
from tests.conftest import assert_problem


def _upload(api: Any, kind: str, name: str, data: bytes, **form: Any) -> Any:
    return api.post(
        "/api/v1/network/imports",
        data={"kind": kind, "file": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
    )


def _lines_geojson(prefix: str, *, crossing: bool = False) -> bytes:
    route = [[0, 0], [1, 1], [1, 0], [0, 1]] if crossing else [[120.10, 30.25], [120.15, 30.27]]
    features = [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": route},
         "properties": {"code": f"{prefix}-1", "name": "一号线", "voltage": "10kV"}},
        {"type": "Feature",
         "geometry": {"type": "LineString", "coordinates": [[120.2, 30.3], [120.25, 30.31]]},
         "properties": {"code": f"{prefix}-2", "name": "二号线", "voltage": "10kV",
                        "switch_points": [{"code": "K1", "lon": 120.22, "lat": 30.305}]}},
    ]  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_lines_from_geojson_then_areas_from_csv_in_a_declared_srid(api: Any) -> None:
    dispatcher = api("dispatcher")
    dry = _upload(dispatcher, "lines", "lines.geojson", _lines_geojson("IMP"), dry_run="true")
    assert dry.status_code == 201, dry.get_json()
    assert (dry.get_json()["status"], dry.get_json()["created_rows"]) == ("validated", 0)
    assert dispatcher.get("/api/v1/network/lines?page_size=100").get_json() == [] or all(
        not line["code"].startswith("IMP-")
        for line in dispatcher.get("/api/v1/network/lines?page_size=100").get_json()
    )
    done = _upload(dispatcher, "lines", "lines.geojson", _lines_geojson("IMP"))
    assert done.status_code == 201, done.get_json()
    assert done.get_json() | {"errors": []} == done.get_json()
    assert (done.get_json()["created_rows"], done.get_json()["progress"]) == (2, 1.0)
    # Areas in Web Mercator metres (EPSG:3857), one a polygon; GBK-encoded CSV.
    csv = (
        "code,name,line_code,section,capacity_kva,ownership,wkt\n"
        "IMP-TA1,一号台区,IMP-1,,400,public,POINT(13377000 3538000)\n"
        'IMP-TA2,二号台区,IMP-2,K1,630,dedicated,"POLYGON((13377000 3538000, 13377100 3538000, '
        '13377100 3538100, 13377000 3538000))"\n'
    ).encode("gb18030")
    areas = _upload(dispatcher, "areas", "areas.csv", csv, srid="3857")
    assert areas.status_code == 201, areas.get_json()
    listed = {
        a["code"]: a for a in dispatcher.get("/api/v1/network/areas?page_size=100").get_json()
    }
    lon, lat = listed["IMP-TA1"]["location"]["coordinates"]
    assert 120.1 < lon < 120.2 and 30.2 < lat < 30.4
    assert listed["IMP-TA2"]["boundary"]["type"] == "Polygon"
    assert listed["IMP-TA2"]["section"] == "K1"


def test_every_bad_row_is_reported_and_nothing_is_written(api: Any) -> None:
    dispatcher = api("dispatcher")
    bad = _upload(dispatcher, "lines", "lines.geojson", _lines_geojson("BAD", crossing=True))
    body = assert_problem(bad, 422)
    assert [(e["row"], e["column"]) for e in body["row_errors"]] == [(1, "geometry")]
    assert "intersects itself" in body["row_errors"][0]["reason"]
    codes = {
        line["code"] for line in dispatcher.get("/api/v1/network/lines?page_size=100").get_json()
    }
    assert "BAD-2" not in codes  # the good row was not kept either
    csv = (
        b"code,name,line_code,capacity_kva,ownership,wkt\n"
        b"X-1,a,NOPE,400,public,POINT(120.1 30.2)\n"
        b"X-2,b,NOPE,lots,public,POINT(120.1 30.2)\n"
        b"X-3,c,NOPE,400,public,nonsense\n"
    )
    body = assert_problem(_upload(dispatcher, "areas", "a.csv", csv), 422)
    assert {(e["row"], e["column"]) for e in body["row_errors"]} >= {
        (2, "line_code"),
        (3, "line_code"),
        (4, "line_code"),
    }  # noqa: E501
    assert_problem(_upload(dispatcher, "areas", "a.csv", b""), 422)
    assert_problem(_upload(dispatcher, "lines", "x.geojson", b'{"type": "Feature"}'), 422)
    assert_problem(_upload(dispatcher, "pipes", "x.csv", b"code\n"), 422)  # unknown kind
    assert_problem(_upload(api("crew1"), "lines", "l.geojson", _lines_geojson("C")), 403)


def test_hostile_files_are_problems_not_errors(api: Any) -> None:
    """Inputs that once reached a 500: each is a 422 naming what is wrong, nothing written."""
    dispatcher = api("dispatcher")
    damaged = _upload(dispatcher, "water-nodes", "n.xlsx", damaged_xlsx(["code", "kind", "wkt"]))
    assert "damaged" in assert_problem(damaged, 422)["detail"]
    deep = '{"type":"Point","coordinates":' + "[" * 5000 + "]" * 5000 + "}"
    empty_member = {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], []]}
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.2, 30.3]},
         "properties": {"code": code, "kind": "valve"}}
        for code in (5, True, 1.5, {"a": 1})
    ] + [
        {"type": "Feature", "geometry": geometry, "properties": {"code": f"G-{i}", "kind": "valve"}}
        for i, geometry in enumerate((deep, empty_member))
    ]  # fmt: skip
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    body = assert_problem(_upload(dispatcher, "water-nodes", "n.geojson", data), 422)
    assert [(e["row"], e["column"]) for e in body["row_errors"]] == [
        (1, "code"), (2, "code"), (3, "code"), (4, "code"), (5, "geometry"), (6, "geometry"),
    ], body["row_errors"]  # fmt: skip
    csv = (
        b"code,name,voltage,switch_points,wkt\nS-1,a,10kV,"
        + b"[" * 5000
        + b",LINESTRING(120.1 30.2, 120.2 30.3)\n"
    )
    body = assert_problem(_upload(dispatcher, "lines", "l.csv", csv), 422)
    assert [e["column"] for e in body["row_errors"]] == ["switch_points"], body["row_errors"]
    station = {"code": "S-DEEP", "name": "x", "location": deep}
    assert_problem(dispatcher.post("/api/v1/network/substations", json=station), 422)
    station = {"code": "S-EMPTY", "name": "x", "location": empty_member}
    assert_problem(dispatcher.post("/api/v1/network/substations", json=station), 422)


def test_water_assets_from_xlsx_and_customers_areas(api: Any) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    book = Workbook()
    sheet = book.active
    sheet.append(["code", "kind", "name", "wkt"])
    sheet.append(["IMP-V1", "valve", "阀门", "POINT(120.1 30.2)"])
    sheet.append(["IMP-J1", "junction", None, "POINT(120.11 30.2)"])
    out = io.BytesIO()
    book.save(out)
    nodes = _upload(dispatcher, "water-nodes", "nodes.xlsx", out.getvalue())
    assert nodes.status_code == 201, nodes.get_json()
    pipes = (
        b"code,from_code,to_code,diameter_mm,material,wkt\n"
        b'IMP-P1,IMP-V1,IMP-J1,300,PE,"LINESTRING(120.1 30.2, 120.11 30.2)"\n'
    )
    made = _upload(dispatcher, "water-pipes", "pipes.csv", pipes)
    assert made.status_code == 201, made.get_json()
    lines = _upload(dispatcher, "lines", "lines.geojson", _lines_geojson("CL"))
    assert lines.status_code == 201
    areas = b"code,name,line_code,capacity_kva,ownership,wkt\nCL-TA,a,CL-1,400,public,POINT(120.1 30.26)\n"  # noqa: E501
    assert _upload(dispatcher, "areas", "a.csv", areas).status_code == 201
    customer = archivist.post("/api/v1/customers", json=customer_body()).get_json()
    links = f"account_number,area_code\n{customer['account_number']},CL-TA\n".encode()
    assert_problem(_upload(dispatcher, "customer-links", "l.csv", links), 422)  # no archive.edit
    linked = _upload(archivist, "customer-links", "l.csv", links)
    assert linked.status_code == 201, linked.get_json()
    premise = archivist.get(f"/api/v1/customers/{customer['id']}").get_json()["premises"][0]
    area = next(a for a in dispatcher.get("/api/v1/network/areas?page_size=100").get_json()
                if a["code"] == "CL-TA")  # fmt: skip
    assert premise["transformer_area_id"] == area["id"]


def test_cli_import_with_a_progress_bar_all_or_nothing(
    app: Any, db: Any, demo: Any, tmp_path: Any
) -> None:
    from backend.network.cli import network

    source = tmp_path / "lines.geojson"
    source.write_bytes(_lines_geojson("CLI"))
    runner = app.test_cli_runner()
    dry = runner.invoke(
        network, ["import", str(source), "--kind", "lines", "--dry-run", "--user", "dispatcher"]
    )  # noqa: E501
    assert dry.exit_code == 0 and "validated: 2 new, 0 updated" in dry.output, dry.output
    done = runner.invoke(
        network, ["import", str(source), "--kind", "lines", "--user", "dispatcher"]
    )  # noqa: E501
    assert done.exit_code == 0 and "committed: 2 new" in done.output, done.output
    again = runner.invoke(
        network, ["import", str(source), "--kind", "lines", "--user", "dispatcher"]
    )  # noqa: E501
    assert again.exit_code == 0 and "committed: 0 new, 2 updated" in again.output, again.output
    source.write_bytes(_lines_geojson("CLI", crossing=True))
    bad = runner.invoke(network, ["import", str(source), "--kind", "lines", "--user", "dispatcher"])
    assert bad.exit_code == 1 and "row 1, geometry:" in bad.output, bad.output


def test_region_codes_import_case_insensitively_and_only_for_their_managers(api: Any) -> None:
    rows = "code,name,service_contact,service_phone\nhz-imp,西湖,西湖供电所,0571-1\nHZ-IMP2,拱墅,拱墅供电所,0571-2\n"  # noqa: E501
    assert_problem(_upload(api("dispatcher"), "region-codes", "r.csv", rows.encode()), 422)
    done = _upload(api("supervisor"), "region-codes", "r.csv", rows.encode())
    assert done.status_code == 201, done.get_json()
    found = api("callcenter").get("/api/v1/region-codes/Hz-Imp-07").get_json()
    assert (found["code"], found["service_contact"]) == ("HZ-IMP", "西湖供电所")
    again = _upload(api("supervisor"), "region-codes", "r.csv", rows.encode())
    assert [e["column"] for e in assert_problem(again, 422)["row_errors"]] == ["code", "code"]


def _lines(prefix: str, name: str, route: list[list[float]]) -> bytes:
    features = [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": route},
         "properties": {"code": f"{prefix}-{n}", "name": f"{name}{n}", "voltage": "20kV"}}
        for n in (1, 2)
    ]  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_reimporting_existing_codes_updates_them_and_the_dry_run_says_so(api: Any) -> None:
    dispatcher = api("dispatcher")
    first = _upload(dispatcher, "lines", "l.geojson", _lines_geojson("UPD"))
    assert first.get_json()["created_rows"] == 2, first.get_json()
    # One existing code, one new one: the dry run tells creates from updates, keeps nothing.
    mixed = json.loads(_lines("UPD", "改线", [[120.3, 30.3], [120.35, 30.32]]))
    mixed["features"][1]["properties"]["code"] = "UPD-3"
    dry = _upload(dispatcher, "lines", "l.geojson", json.dumps(mixed).encode(), dry_run="true")
    assert dry.status_code == 201, dry.get_json()
    outcome = dry.get_json()
    assert (outcome["status"], outcome["would_create"], outcome["would_update"]) == (
        "validated", 1, 1)  # fmt: skip
    assert (outcome["created_rows"], outcome["updated_rows"]) == (0, 0)
    lines = {x["code"]: x for x in dispatcher.get("/api/v1/network/lines?page_size=100").get_json()}
    assert "UPD-3" not in lines and lines["UPD-1"]["voltage"] == "10kV"
    done = _upload(dispatcher, "lines", "l.geojson", json.dumps(mixed).encode())
    assert done.status_code == 201, done.get_json()
    assert (done.get_json()["created_rows"], done.get_json()["updated_rows"]) == (1, 1)
    lines = {x["code"]: x for x in dispatcher.get("/api/v1/network/lines?page_size=100").get_json()}
    assert lines["UPD-1"]["name"] == "改线1" and lines["UPD-1"]["voltage"] == "20kV"
    assert lines["UPD-1"]["route"]["coordinates"][0] == [120.3, 30.3]
    assert lines["UPD-1"]["id"] == first_id(first, dispatcher, "UPD-1")
    # An area re-imported onto the other line moves there.
    area_csv = "code,name,line_code,capacity_kva,ownership,wkt\nUPD-TA,台区,{line},{kva},public,POINT(120.1 30.2)\n"  # noqa: E501
    made = _upload(dispatcher, "areas", "a.csv", area_csv.format(line="UPD-1", kva=400).encode())
    assert made.get_json()["created_rows"] == 1, made.get_json()
    moved = _upload(dispatcher, "areas", "a.csv", area_csv.format(line="UPD-2", kva=630).encode())
    assert moved.get_json()["updated_rows"] == 1, moved.get_json()
    areas = {a["code"]: a for a in dispatcher.get("/api/v1/network/areas?page_size=100").get_json()}
    assert (areas["UPD-TA"]["line_id"], areas["UPD-TA"]["capacity_kva"]) == (
        lines["UPD-2"]["id"], 630.0)  # fmt: skip


def first_id(response: Any, api: Any, code: str) -> str:
    """The id the line had when the first import created it (an update keeps it)."""
    del response
    found = [x for x in api.get("/api/v1/network/lines?page_size=100").get_json()
             if x["code"] == code]  # fmt: skip
    assert len(found) == 1
    return str(found[0]["id"])


def test_bad_geometry_on_a_reimport_changes_nothing(api: Any) -> None:
    dispatcher = api("dispatcher")
    _upload(dispatcher, "lines", "l.geojson", _lines_geojson("GEO"))
    # Row 1 would update a line, row 2 crosses itself: neither is kept.
    crossing = json.loads(_lines("GEO", "坏线", [[120.3, 30.3], [120.35, 30.32]]))
    crossing["features"][1]["geometry"]["coordinates"] = [[0, 0], [1, 1], [1, 0], [0, 1]]
    body = assert_problem(
        _upload(dispatcher, "lines", "l.geojson", json.dumps(crossing).encode()), 422
    )
    assert [(e["row"], e["column"]) for e in body["row_errors"]] == [(2, "geometry")]
    lines = {x["code"]: x for x in dispatcher.get("/api/v1/network/lines?page_size=100").get_json()}
    assert lines["GEO-1"]["name"] == "一号线"  # the good row's update was not kept either
    # Wrong SRID: Web Mercator metres declared as WGS-84; an invalid (bow-tie) polygon.
    csv = (
        b"code,name,line_code,capacity_kva,ownership,wkt\n"
        b"GEO-TA1,a,GEO-1,400,public,POINT(13377000 3538000)\n"
        b'GEO-TA2,b,GEO-1,400,public,"POLYGON((120 30, 120.1 30.1, 120.1 30, 120 30.1, 120 30))"\n'
        b"GEO-TA3,c,GEO-1,400,public,POINT(120.1 30.2)\n"
    )
    body = assert_problem(_upload(dispatcher, "areas", "a.csv", csv), 422)
    assert sorted((e["row"], e["column"]) for e in body["row_errors"]) == [
        (2, "geometry"), (3, "geometry")]  # fmt: skip
    codes = {a["code"] for a in dispatcher.get("/api/v1/network/areas?page_size=100").get_json()}
    assert not codes & {"GEO-TA1", "GEO-TA2", "GEO-TA3"}
    # Declared right, the same metres are reprojected and kept.
    ok = _upload(dispatcher, "areas", "a.csv",
                 b"code,name,line_code,capacity_kva,ownership,wkt\n"
                 b"GEO-TA1,a,GEO-1,400,public,POINT(13377000 3538000)\n", srid="3857")  # fmt: skip
    assert ok.status_code == 201, ok.get_json()
