"""Field-level permissions and data scope of customer files."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from backend.dispatch import service as dispatch
from tests.archive.helpers import open_file
from tests.conftest import assert_problem
from tests.dispatch.factories import actor, new_order


def _work_at(session, demo, premise_id: str, crew: str = "Urban Crew 1") -> None:
    """Give `crew` an open order at a premise (the crew then works there)."""
    now = datetime.now(UTC)
    order = new_order(
        session, demo, at=now - timedelta(minutes=5), premise_id=uuid.UUID(premise_id)
    )
    dispatch.dispatch_order(
        session=session, actor=actor(session, "dispatcher"), order_id=order.id,
        crew_id=demo.crews[crew].id, now=now - timedelta(minutes=3),
    )  # fmt: skip
    session.commit()


def test_crew_sees_contacts_but_not_contract(api, demo, session):
    archivist = api("archivist")
    body = open_file(archivist, department_id=demo.departments["ST-URB"].id)
    _work_at(session, demo, body["premises"][0]["id"])
    crew = api("crew1").get(f"/api/v1/customers/{body['id']}").get_json()
    assert crew["contacts"][0]["phone"] == "+86 138 0000 1234"
    for hidden in ("contract_number", "contract_expires_on", "supply_scheme"):
        assert hidden not in crew
        assert hidden in crew["hidden_fields"]
    versions = api("crew1").get(f"/api/v1/customers/{body['id']}/versions").get_json()
    assert "contract_number" not in versions[0]["data"]


def test_phones_masked_for_roles_without_contact_rights(api, demo):
    body = open_file(api("archivist"), department_id=demo.departments["ST-URB"].id)
    seen = api("auditor").get(f"/api/v1/customers/{body['id']}").get_json()
    assert seen["contacts"][0]["phone"] == "*" * 13 + "1234"
    assert seen["contract_number"] == body["contract_number"]


def test_scope_by_owning_department(api, demo):
    body = open_file(api("archivist"), department_id=demo.departments["ST-SUB"].id)
    assert_problem(api("crew1").get(f"/api/v1/customers/{body['id']}"), 403)
    listed = api("crew1").get(f"/api/v1/customers?account_number={body['account_number']}")
    assert listed.get_json() == []
    assert api("dispatcher").get(f"/api/v1/customers/{body['id']}").status_code == 200


def test_crews_see_the_files_where_they_work_on_rest_as_in_sync(api, demo, session):
    """Owning station or not, a crew member sees a file over REST only where its crew works."""
    body = open_file(api("archivist"), department_id=demo.departments["ST-URB"].id)
    url = f"/api/v1/customers/{body['id']}"
    assert_problem(api("crew1").get(url), 403)  # its station's file, but no work there
    assert api("crew1").get(f"/api/v1/customers?q={body['account_number']}").get_json() == []
    _work_at(session, demo, body["premises"][0]["id"])
    assert api("crew1").get(url).status_code == 200
    assert_problem(api("crew6").get(url), 403)  # Urban Crew 2 of the same station


def test_crew_may_not_edit_and_cannot_open_elsewhere(api, demo):
    body = open_file(api("archivist"), department_id=demo.departments["ST-URB"].id)
    crew = api("crew1")
    assert_problem(
        crew.patch(f"/api/v1/customers/{body['id']}", json={"name": "x", "reason": "r"}), 403
    )
    supervisor = api("supervisor")  # RC-N: cannot give a file to a department outside it
    response = supervisor.post(
        "/api/v1/customers",
        json={**_body(), "department_id": demo.departments["CALL"].id},
    )
    assert_problem(response, 422)


def _body():
    from tests.archive.helpers import customer_body

    return customer_body()


def test_call_center_finds_callers_of_its_region_without_contract(api, demo):
    body = open_file(api("archivist"), department_id=demo.departments["ST-SUB"].id)
    found = api("callcenter").get(f"/api/v1/customers?q={body['account_number']}").get_json()
    assert [c["id"] for c in found] == [body["id"]]
    assert found[0]["premises"][0]["address"] == body["premises"][0]["address"]
    assert found[0]["contacts"][0]["phone"] == "+86 138 0000 1234"
    assert "contract_number" not in found[0]
    assert_problem(api("callcenter").patch(f"/api/v1/customers/{body['id']}",
                                           json={"name": "x", "reason": "r"}), 403)  # fmt: skip


def test_search_filters_never_reveal_hidden_fields(api, demo):
    """Narrowing a capacity range or guessing digits would reveal what the role may not see."""
    open_file(api("archivist"), department_id=demo.departments["ST-URB"].id)
    assert_problem(api("crew1").get("/api/v1/customers?capacity_min=100"), 403)
    assert_problem(api("auditor").get("/api/v1/customers?phone=13800001234"), 403)
    assert api("archivist").get("/api/v1/customers?capacity_min=1").status_code == 200
    assert api("crew1").get("/api/v1/customers?phone=13800001234").status_code == 200
