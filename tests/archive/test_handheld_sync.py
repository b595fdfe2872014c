"""Customers, premises and meters on handhelds: scoped to crews' work; corrections are versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.archive import meters, service
from backend.archive.records import ArchiveVersion, Meter, Premise
from backend.archive.schemas import CustomerCreateSchema, MeterCreateSchema
from backend.demo import seed_org
from backend.dispatch import service as dispatch
from backend.errors import Forbidden, OutOfScope
from sync.protocol import format_time
from tests.archive.helpers import customer_body, meter_body
from tests.dispatch.factories import actor, new_order, reassign_committed
from tests.sync.helpers import batch, mutation


def _file_with_meter(session, demo, station: str) -> tuple[Any, Any, Any]:
    """Open a customer file in `station` with one premise and a meter; return all three."""
    archivist = actor(session, "archivist")
    data = CustomerCreateSchema().load(customer_body(department_id=demo.departments[station].id))
    customer = service.open_customer(session=session, actor=archivist, data=data)
    premise = service.premises_of(session, customer.id)[0]
    meter = meters.add_meter(
        session=session, actor=archivist, premise_id=premise.id,
        data={k: v for k, v in MeterCreateSchema().load(meter_body()).items() if k != "reason"},
    )  # fmt: skip
    return customer, premise, meter


def _file_and_order(committed_db, crew: str = "Urban Crew 1") -> dict[str, str]:
    """A suburban customer with a meter, and an order at its premise dispatched to `crew`."""
    now = datetime.now(UTC)
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        customer, premise, meter = _file_with_meter(session, demo, "ST-SUB")
        order = new_order(session, demo, at=now - timedelta(minutes=5), premise_id=premise.id)
        dispatch.dispatch_order(
            session=session, actor=actor(session, "dispatcher"), order_id=order.id,
            crew_id=demo.crews[crew].id, now=now - timedelta(minutes=3),
        )  # fmt: skip
        assert order.customer_id == customer.id  # filled in from the premise
        return {
            "customer": str(customer.id), "premise": str(premise.id), "meter": str(meter.id),
            "order": str(order.id),
        }  # fmt: skip


def test_crew_pulls_the_file_of_its_work_without_contract(committed_db, make_client):
    device, other = make_client("H-1001"), make_client("H-2001")
    ids = _file_and_order(committed_db)
    device.pull()
    customer = device.get("customer", ids["customer"])
    assert customer is not None and customer["contacts"][0]["phone"].endswith("1234")
    assert "contract_number" not in customer and "supply_scheme" not in customer
    assert device.get("premise", ids["premise"])["location"] == {"lat": 30.2329, "lon": 120.1234}
    assert device.get("meter", ids["meter"])["premise_id"] == ids["premise"]
    assert device.get("work_order", ids["order"])["premise_id"] == ids["premise"]
    # The suburban crew's department keeps the file, but its handheld has no work there.
    other.pull()
    assert other.get("customer", ids["customer"]) is None
    assert other.get("premise", ids["premise"]) is None


def test_work_moving_removes_the_file_from_the_old_crew(committed_db, make_client):
    old, new = make_client("H-1001"), make_client("H-1002")
    ids = _file_and_order(committed_db)
    old.pull()
    assert old.get("premise", ids["premise"]) is not None
    reassign_committed(committed_db, ids["order"], "Urban Crew 2")
    old.pull()
    new.pull()
    for entity in ("customer", "premise", "meter"):
        assert old.get(entity, ids[entity]) is None, entity
        assert new.get(entity, ids[entity]) is not None, entity


def test_pushed_correction_and_reading_become_sync_versions(committed_db, http, make_client):
    device = make_client("H-1001")
    ids = _file_and_order(committed_db)
    device.pull()
    base = device.server_copy("premise")[ids["premise"]][0]
    read_at = datetime.now(UTC) - timedelta(minutes=1)
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=batch(
        mutation("premise", "update", {"address": "龙井路1号 (rear gate)",
                                       "location": {"lat": 30.2331, "lon": 120.1236}},
                 record_id=ids["premise"], base=base),
        mutation("meter_reading", "append", {
            "meter_id": ids["meter"], "value": 1520.5, "reading_kind": "kwh",
            "read_at": format_time(read_at)}),
    ))  # fmt: skip
    assert [v["verdict"] for v in reply.body["verdicts"]] == ["applied", "applied"], reply.body
    with committed_db.unit_of_work() as session:
        premise = session.get(Premise, uuid.UUID(ids["premise"]))
        assert premise.address == "龙井路1号 (rear gate)" and premise.version_no == 2
        meter = session.get(Meter, uuid.UUID(ids["meter"]))
        assert meter.last_reading == 1520.5 and meter.version_no == 2
        sources = {
            (v.entity, v.version_no): v.source
            for v in session.query(ArchiveVersion).filter(
                ArchiveVersion.customer_id == uuid.UUID(ids["customer"])
            )
        }
        assert sources[("premise", 2)] == "sync" and sources[("meter", 2)] == "sync"


def test_pushes_outside_the_crews_work_are_refused(committed_db, http):
    ids = _file_and_order(committed_db)
    reply = http("H-2001").request("POST", "/api/v1/sync/push", json_body=batch(
        mutation("premise", "update", {"address": "x"}, record_id=ids["premise"], base=1),
        mutation("meter_reading", "append", {
            "meter_id": ids["meter"], "value": 1.0, "reading_kind": "kwh",
            "read_at": format_time(datetime.now(UTC))}),
        mutation("customer", "update", {"name": "x"}, record_id=ids["customer"], base=1),
        mutation("inspection", "create", {"status": "draft", "premise_id": ids["premise"]}),
    ))  # fmt: skip
    kinds = [v["verdict"] for v in reply.body["verdicts"]]
    assert kinds == ["rejected"] * 4, reply.body


def test_roles_that_see_phones_masked_pull_no_customer_files(committed_db, make_client):
    """The pull has no masking: a role that sees `*******1234` over REST gets no customer."""
    auditor, archivist = make_client("auditor"), make_client("archivist")
    ids = _file_and_order(committed_db)
    auditor.pull()
    assert auditor.get("customer", ids["customer"]) is None
    assert auditor.get("premise", ids["premise"]) is not None  # no phones on a premise
    archivist.pull()
    customer = archivist.get("customer", ids["customer"])
    assert customer is not None and customer["contacts"][0]["phone"].endswith("1234")


def test_a_grant_opens_the_file_on_rest_but_never_in_the_sync_pull(committed_db, make_client,
                                                                   sync_app, backend):  # fmt: skip
    """An offline copy would outlive the grant: sync pulls leave granted files out."""
    from backend.archive import grants
    from tests.sync.conftest import token

    client = make_client("supervisor")  # its cursor: the feed's end before the file exists

    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        data = CustomerCreateSchema().load(customer_body(department_id=demo.departments["CALL"].id))
        customer = service.open_customer(session=session, actor=actor(session, "archivist"),
                                         data=data)  # fmt: skip
        found = grants.request_access(
            session=session, actor=actor(session, "supervisor"), customer_id=customer.id,
            purpose="sync door", valid_until=datetime.now(UTC) + timedelta(days=1),
        )  # fmt: skip
        for who, level in (("admin", "department"), ("archivist", "archive")):
            grants.decide(session=session, actor=actor(session, who), request_id=found.id,
                          approve=True, level=level)  # fmt: skip
        customer_id = str(customer.id)
    headers = {"Authorization": f"Bearer {token(backend, 'supervisor')}"}
    assert sync_app.test_client().get(f"/api/v1/customers/{customer_id}",
                                      headers=headers).status_code == 200  # fmt: skip
    client.pull()
    assert client.get("customer", customer_id) is None


def test_premise_corrections_ask_the_policy_in_the_service(committed_db, http):
    """An inspector may not rewrite premises, by sync or by calling the service; crews only
    where they work (the same answer for every door)."""
    ids = _file_and_order(committed_db)
    [verdict] = http("inspector").request("POST", "/api/v1/sync/push", json_body=batch(
        mutation("premise", "update", {"address": "x"}, record_id=ids["premise"], base=1),
    )).body["verdicts"]  # fmt: skip
    assert verdict["problem"]["type"] == "sync-forbidden", verdict
    with committed_db.unit_of_work(actor="test") as session:
        premise = session.get(Premise, uuid.UUID(ids["premise"]))
        for who, problem in (("inspector", Forbidden), ("crew3", OutOfScope)):
            with pytest.raises(problem):
                service.change_premise(
                    session=session, actor=actor(session, who), premise=premise,
                    changes={"address": "x"}, reason="test",
                )  # fmt: skip
        service.change_premise(
            session=session, actor=actor(session, "crew1"), premise=premise,
            changes={"access_notes": "dog"}, reason="test",
        )  # fmt: skip
        assert premise.version_no == 2


def _premise_conflict(committed_db, http) -> tuple[dict[str, str], int]:
    ids = _file_and_order(committed_db)
    with committed_db.unit_of_work() as session:
        base = session.get(Premise, uuid.UUID(ids["premise"])).version
    first = mutation("premise", "update", {"address": "front"}, record_id=ids["premise"], base=base)
    second = mutation("premise", "update", {"address": "rear"}, record_id=ids["premise"], base=base)
    [applied] = (
        http("H-1001").request("POST", "/api/v1/sync/push", json_body=batch(first)).body["verdicts"]
    )
    assert applied["verdict"] == "applied", applied
    [verdict] = (
        http("H-1001-B")
        .request("POST", "/api/v1/sync/push", json_body=batch(second))
        .body["verdicts"]
    )
    assert verdict["verdict"] == "conflict", verdict
    listed = (
        http("supervisor")
        .request("GET", f"/api/v1/sync/conflicts?status=open&record_id={ids['premise']}")
        .body
    )
    return ids, listed[0]["id"]


def test_a_conflict_resolution_writes_through_the_domain_service(committed_db, http):
    """Taking the client's value appends a premise version (history), under the policy."""
    ids, conflict = _premise_conflict(committed_db, http)
    url = f"/api/v1/sync/conflicts/{conflict}/resolve"
    body = {"resolution": "take_client"}
    # A dispatcher resolves conflicts but may not correct premises: nothing is written.
    refused = http("dispatcher").request("POST", url, json_body=body)
    assert refused.status == 403 and refused.body["type"] == "/problems/sync-forbidden"
    resolved = http("supervisor").request("POST", url, json_body=body)
    assert resolved.status == 200, resolved.body
    with committed_db.unit_of_work() as session:
        premise = session.get(Premise, uuid.UUID(ids["premise"]))
        assert premise.address == "rear" and premise.version_no == 3, resolved.body
        latest = session.scalars(
            select(ArchiveVersion)
            .where(ArchiveVersion.entity == "premise", ArchiveVersion.version_no == 3,
                   ArchiveVersion.customer_id == uuid.UUID(ids["customer"]))
        ).one()  # fmt: skip
        assert latest.changed_by.endswith(":supervisor") and latest.source == "sync"


def test_a_file_moved_to_another_department_takes_its_premises_and_meters(
    committed_db, make_client
):
    """The inspector of the urban station keeps its station's files offline; a file moved
    out of the station leaves whole (customer, premises, meters), not its customer alone."""
    inspector = make_client("inspector")  # ST-URB, no crew: the station's files
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        customer, premise, meter = _file_with_meter(session, demo, "ST-URB")
        ids = {"customer": str(customer.id), "premise": str(premise.id), "meter": str(meter.id)}
        elsewhere = demo.departments["ST-SUB"].id
    inspector.pull()
    for entity, record_id in ids.items():
        assert inspector.get(entity, record_id) is not None, entity
    with committed_db.unit_of_work(actor="test") as session:
        service.change_customer(
            session=session, actor=actor(session, "archivist"),
            customer_id=uuid.UUID(ids["customer"]), changes={"department_id": elsewhere},
            reason="moved to the suburban station",
        )  # fmt: skip
    inspector.pull()
    for entity, record_id in ids.items():
        assert inspector.get(entity, record_id) is None, entity
    with committed_db.unit_of_work() as session:  # kept where the file is kept, as versions
        assert session.get(Premise, uuid.UUID(ids["premise"])).department_id == elsewhere
        assert session.get(Meter, uuid.UUID(ids["meter"])).department_id == elsewhere
