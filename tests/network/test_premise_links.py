"""Premises point at real transformer areas and lines: checked by the archive, kept by a FK."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.archive.records import Premise
from tests.archive.helpers import customer_body
from tests.conftest import assert_problem
from tests.network.helpers import make_area, make_customer, make_line


def test_unknown_area_or_line_is_a_422_and_the_line_follows_the_area(api: Any) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line, other = make_line(dispatcher), make_line(dispatcher)
    area = make_area(dispatcher, line["id"])

    body = customer_body()
    body["premises"][0]["transformer_area_id"] = str(uuid.uuid4())
    problem = assert_problem(archivist.post("/api/v1/customers", json=body), 422)
    assert "premises.transformer_area_id" in str(problem["errors"])

    body = customer_body()
    body["premises"][0]["transformer_area_id"] = area["id"]
    body["premises"][0]["line_id"] = other["id"]
    problem = assert_problem(archivist.post("/api/v1/customers", json=body), 422)
    assert "premises.line_id" in str(problem["errors"])

    # Naming the area alone hangs the premise on the area's line.
    body = customer_body()
    body["premises"][0]["transformer_area_id"] = area["id"]
    created = archivist.post("/api/v1/customers", json=body)
    assert created.status_code == 201, created.get_json()
    premise = created.get_json()["premises"][0]
    assert premise["line_id"] == line["id"]

    url = f"/api/v1/premises/{premise['id']}"
    moved = archivist.patch(url, json={"line_id": str(uuid.uuid4()), "reason": "survey"})
    assert_problem(moved, 422)
    other_area = make_area(dispatcher, other["id"])
    moved = archivist.patch(url, json={"transformer_area_id": other_area["id"], "reason": "x"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["line_id"] == other["id"]


def test_the_database_refuses_a_dangling_reference(api: Any, session: Session) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    customer = make_customer(archivist, make_area(dispatcher, make_line(dispatcher)["id"]))
    premise = session.get(Premise, uuid.UUID(customer["premises"][0]["id"]))
    assert premise is not None

    def insert(**links: Any) -> None:
        session.add(
            Premise(
                customer_id=premise.customer_id, address="x", region_code=premise.region_code,
                department_id=premise.department_id, status="active", version_no=1,
                updated_by="test", **links,
            )
        )  # fmt: skip
        session.flush()

    savepoint = session.begin_nested()
    insert(transformer_area_id=premise.transformer_area_id, line_id=premise.line_id)  # valid
    savepoint.rollback()
    for column in ("transformer_area_id", "line_id"):
        savepoint = session.begin_nested()
        with pytest.raises(IntegrityError):
            insert(**{column: uuid.uuid4()})
        savepoint.rollback()
