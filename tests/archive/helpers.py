"""Builders of customer files for the archive tests."""

from __future__ import annotations

import itertools
import re
from typing import Any

_numbers = itertools.count(1)


def customer_body(**overrides: Any) -> dict[str, Any]:
    """A valid new-customer request (one premise with a point)."""
    n = next(_numbers)
    body: dict[str, Any] = {
        "account_number": f"HZ-T{n:06d}",
        "name": "杭州西湖茶叶有限公司",
        "customer_type": "non_residential",
        "voltage_level": "10kV",
        "contract_capacity_kw": 630.0,
        "region_code": "HZ",
        "contacts": [{"name": "王芳", "phone": "+86 138 0000 1234", "role": "electrician"}],
        "contract_number": f"C-{n:05d}",
        "contract_expires_on": "2028-06-30",
        "supply_scheme": "single 10 kV supply from line 西湖线",
        "premises": [
            {
                "address": "浙江省杭州市西湖区龙井路1号",
                "location": {"lat": 30.2329, "lon": 120.1234},
                "line_name": "西湖线",
            }
        ],
        "reason": "new connection",
    }
    body.update(overrides)
    return body


def meter_body(**overrides: Any) -> dict[str, Any]:
    """A valid new-meter request."""
    n = next(_numbers)
    body: dict[str, Any] = {
        "number": f"M{n:08d}",
        "meter_type": "three_phase",
        "multiplier": 40.0,
        "reading_method": "remote",
        "installed_on": "2024-02-29",
        "seals": [f"S-{n:08d}"],  # a seal is on one in-service meter at a time
    }
    body.update(overrides)
    return body


def open_file(api: Any, **overrides: Any) -> dict[str, Any]:
    """Open a customer file as the archivist and return its view."""
    response = api.post("/api/v1/customers", json=customer_body(**overrides))
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def meter_on_new_file(api: Any, demo: Any, station: str, seals: list[str]) -> dict[str, Any]:
    """An in-service meter with `seals`, on a new file of `station` (the archivist installs it)."""
    archivist = api("archivist")
    body = customer_body(department_id=demo.departments[station].id)
    customer = archivist.post("/api/v1/customers", json=body).get_json()
    url = f"/api/v1/premises/{customer['premises'][0]['id']}/meters"
    response = archivist.post(url, json=meter_body(seals=seals))
    assert response.status_code == 201, response.get_json()
    meter: dict[str, Any] = response.get_json()
    return meter


def patched_xlsx(header: list[str], old: bytes, new: bytes, *, pattern: bool = False) -> bytes:
    """An XLSX workbook (the header, then a row of 12345 and blanks) with `old` replaced by
    `new` in its sheet's XML: damage openpyxl raises on only when it reaches that row."""
    import io
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    book.active.append(header)
    book.active.append([12345] + [""] * (len(header) - 1))
    good = io.BytesIO()
    book.save(good)
    out = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(good.getvalue()))
    with source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                if pattern:  # `old` is a regular expression
                    data, found = re.subn(old, new, data)
                    assert found, old
                else:
                    assert old in data
                    data = data.replace(old, new)
            target.writestr(item, data)
    return out.getvalue()


def damaged_xlsx(header: list[str]) -> bytes:
    """An XLSX workbook whose second row holds a number cell that is not one."""
    return patched_xlsx(header, b"<v>12345</v>", b"<v>abc</v>")


def sprawling_xlsx(header: list[str]) -> bytes:
    """An XLSX workbook of a few hundred bytes with one cell at row 10^12 and no dimension."""
    far = b'<row r="1000000000000"><c r="A1000000000000" t="n"><v>1</v></c></row></sheetData>'
    return patched_xlsx(header, b"</sheetData>", far)
