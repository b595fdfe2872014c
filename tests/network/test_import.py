"""Network import: GeoJSON, CSV (WKT) and XLSX; every row checked; all or nothing."""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import Workbook

from tests.archive.helpers import customer_body
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
    assert dry.exit_code == 0 and "validated: 0 new" in dry.output, dry.output
    done = runner.invoke(
        network, ["import", str(source), "--kind", "lines", "--user", "dispatcher"]
    )  # noqa: E501
    assert done.exit_code == 0 and "committed: 2 new" in done.output, done.output
    again = runner.invoke(
        network, ["import", str(source), "--kind", "lines", "--user", "dispatcher"]
    )  # noqa: E501
    assert again.exit_code == 1 and "row 1, code: Line code 'CLI-1' is taken." in again.output


def test_region_codes_import_case_insensitively_and_only_for_their_managers(api: Any) -> None:
    rows = "code,name,service_contact,service_phone\nhz-imp,西湖,西湖供电所,0571-1\nHZ-IMP2,拱墅,拱墅供电所,0571-2\n"  # noqa: E501
    assert_problem(_upload(api("dispatcher"), "region-codes", "r.csv", rows.encode()), 422)
    done = _upload(api("supervisor"), "region-codes", "r.csv", rows.encode())
    assert done.status_code == 201, done.get_json()
    found = api("callcenter").get("/api/v1/region-codes/Hz-Imp-07").get_json()
    assert (found["code"], found["service_contact"]) == ("HZ-IMP", "西湖供电所")
    again = _upload(api("supervisor"), "region-codes", "r.csv", rows.encode())
    assert [e["column"] for e in assert_problem(again, 422)["row_errors"]] == ["code", "code"]
