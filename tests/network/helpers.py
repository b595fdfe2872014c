"""Builders of network records for the network tests (through the API)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.archive.helpers import customer_body

_numbers = itertools.count(1)


def line_body(**overrides: Any) -> dict[str, Any]:
    """A valid feeder line near the demo depots, with two switch points."""
    n = next(_numbers)
    body: dict[str, Any] = {
        "code": f"L-T{n:05d}",
        "name": f"西湖{n}线",
        "voltage": "10kV",
        "region_code": "HZ",
        "route": {"type": "LineString", "coordinates": [[120.10, 30.25], [120.15, 30.27]]},
        "switch_points": [
            {"code": "K1", "name": "K1 switch", "lon": 120.12, "lat": 30.26},
            {"code": "K2", "name": "K2 switch", "lon": 120.14, "lat": 30.265},
        ],
    }
    body.update(overrides)
    return body


def area_body(line_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid public transformer area on a line."""
    n = next(_numbers)
    body: dict[str, Any] = {
        "code": f"TA-T{n:05d}",
        "name": f"龙井{n}号台区",
        "line_id": line_id,
        "capacity_kva": 400.0,
        "ownership": "public",
        "region_code": "HZ",
        "location": {"type": "Point", "coordinates": [120.12, 30.255]},
    }
    body.update(overrides)
    return body


def make_line(api: Any, **overrides: Any) -> dict[str, Any]:
    """Create a line as the dispatcher's client `api`."""
    response = api.post("/api/v1/network/lines", json=line_body(**overrides))
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def make_area(api: Any, line_id: str, **overrides: Any) -> dict[str, Any]:
    """Create a transformer area on a line."""
    response = api.post("/api/v1/network/areas", json=area_body(line_id, **overrides))
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def make_customer(api: Any, area: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Open a customer file (as the archivist's `api`) whose premise hangs on `area`."""
    body = customer_body(**overrides)
    body["premises"][0]["transformer_area_id"] = area["id"]
    body["premises"][0]["line_id"] = area["line_id"]
    response = api.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result
