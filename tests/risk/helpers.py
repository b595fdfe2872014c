"""Builders for the risk tests: customer files in a station, the shipped credit models."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.risk.credit_service import install_defaults
from tests.archive.helpers import customer_body


def install_models(session: Session) -> None:
    """Install the shipped credit models and make them visible to the requests."""
    install_defaults(session, by="test")
    session.commit()  # releases the fixture's savepoint; the test transaction still rolls back


def station_customer(
    api: Any, demo: Any, station: str = "ST-URB", **overrides: Any
) -> dict[str, Any]:
    """Open a customer file in a station of the North repair center (the collector's scope)."""
    body = customer_body(department_id=demo.departments[station].id, **overrides)
    response = api("archivist").post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    customer: dict[str, Any] = response.get_json()
    return customer
