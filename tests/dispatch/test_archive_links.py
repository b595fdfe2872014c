"""An order names a customer file only inside its creator's archive scope.

A linked premise becomes crew work (`backend.archive.worksites`): the crew dispatched to the
order reads the file and its handheld syncs it. So a file the caller cannot read must not be
linkable, and the refusal must not tell an unknown id from a file outside the scope.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from backend.archive import service as archive
from backend.auth.actor import Actor
from backend.org.models import Department
from tests.archive.helpers import customer_body
from tests.conftest import assert_problem
from tests.dispatch.test_api_flow import _now
from tests.inspection.helpers import station_file

SYSTEM = Actor(kind="system", id=0, label="test", department_id=0, department_path="/")


def _foreign_file(session: Session) -> Any:
    """A customer file of another region, in a second company tree nobody in the demo org sees
    (the call center reads its own region's files wherever they are kept)."""
    company = Department(code="F-CO", name="Foreign", kind="company", region_code="NB")
    session.add(company)
    session.flush()
    company.path = f"/{company.id}/"
    station = Department(
        code="F-ST", name="Foreign station", kind="station", parent_id=company.id, region_code="NB"
    )
    session.add(station)
    session.flush()
    station.path = f"{company.path}{station.id}/"
    data = customer_body(department_id=station.id, region_code="NB")
    data["premises"][0]["location"] = {"lat": 30.25, "lon": 120.15}
    customer = archive.open_customer(session=session, actor=SYSTEM, data=_loaded(data))
    session.flush()
    return customer


def _loaded(body: dict[str, Any]) -> dict[str, Any]:
    from backend.archive.schemas import CustomerCreateSchema

    loaded: dict[str, Any] = CustomerCreateSchema().load(body)
    return loaded


def _order(api: Any, **link: str) -> Any:
    body = {
        "order_type": "electric",
        "fault_type": "no power",
        "specialty": "low_voltage",
        "hung_up_at": _now(-60),
        **link,
    }
    return api("callcenter").post("/api/v1/work-orders", json=body)


def test_an_order_links_a_file_of_its_scope_and_takes_its_address(api: Any, demo: Any) -> None:
    file = station_file(api, demo)
    response = _order(api, premise_id=file["premise_id"])
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert order["customer_id"] == file["customer_id"] and order["address"]


def test_a_file_outside_the_scope_is_refused_like_an_unknown_one(
    api: Any, demo: Any, session: Session
) -> None:
    foreign = _foreign_file(session)
    premise = archive.premises_of(session, foreign.id)[0]
    unknown = str(uuid.uuid4())
    for field, outside in (("premise_id", premise.id), ("customer_id", foreign.id)):
        kind = field.removesuffix("_id")
        refused = assert_problem(_order(api, **{field: str(outside)}), 422)
        assert refused["detail"] == f"No {kind} {outside} in your scope."
        assert refused["errors"][0]["field"] == field
        missing = assert_problem(_order(api, **{field: unknown}), 422)
        assert missing["detail"] == f"No {kind} {unknown} in your scope."
