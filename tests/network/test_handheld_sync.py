"""Lines, transformer areas and active outages near a crew's work reach its handheld, read-only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from backend.archive import service as archive
from backend.archive.records import Premise
from backend.archive.schemas import CustomerCreateSchema
from backend.demo import seed_org
from backend.dispatch import service as dispatch
from backend.network import outages, service
from backend.network.models import FeederLine
from sync.changes import Change
from tests.archive.helpers import customer_body
from tests.dispatch.factories import actor, new_order, reassign_committed
from tests.sync.helpers import batch, mutation

ROUTE = {"type": "LineString", "coordinates": [[120.10, 30.25], [120.15, 30.27]]}


def _line(session: Any, who: Any, code: str) -> Any:
    line = service.create_line(session=session, actor=who, data={
        "code": code, "name": f"{code}线", "voltage": "10kV", "region_code": "HZ", "route": ROUTE,
    })  # fmt: skip
    areas = [
        service.create_area(session=session, actor=who, data={
            "code": f"{code}-A{n}", "name": f"{code} {n}号台区", "line_id": line.id,
            "capacity_kva": 400.0, "ownership": "public", "region_code": "HZ",
            "location": {"type": "Point", "coordinates": [120.11 + n * 0.01, 30.26]},
        })
        for n in (1, 2)
    ]  # fmt: skip
    return line, areas


def _outage(session: Any, who: Any, line_id: uuid.UUID, *, hours: float = 3) -> Any:
    now = datetime.now(UTC)
    return outages.create_outage(session=session, actor=who, data={
        "kind": "unplanned", "scope": "line", "line_id": line_id, "reason": "cable fault",
        "starts_at": now - timedelta(minutes=10), "planned_end_at": now + timedelta(hours=hours),
    })  # fmt: skip


def _scene(committed_db: Any, crew: str = "Urban Crew 1") -> dict[str, Any]:
    """Two lines with two areas each and an outage on each; an order on the first, for `crew`."""
    now = datetime.now(UTC)
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        admin = actor(session, "admin")
        near, near_areas = _line(session, admin, f"NL{uuid.uuid4().hex[:5]}")
        far, far_areas = _line(session, admin, f"FL{uuid.uuid4().hex[:5]}")
        near_outage, far_outage = _outage(session, admin, near.id), _outage(session, admin, far.id)
        body = customer_body(department_id=demo.departments["ST-SUB"].id)
        body["premises"][0]["transformer_area_id"] = str(near_areas[0].id)
        customer = archive.open_customer(
            session=session, actor=actor(session, "archivist"),
            data=CustomerCreateSchema().load(body),
        )  # fmt: skip
        premise = archive.premises_of(session, customer.id)[0]
        order = new_order(session, demo, at=now - timedelta(minutes=5), premise_id=premise.id)
        dispatch.dispatch_order(
            session=session, actor=actor(session, "dispatcher"), order_id=order.id,
            crew_id=demo.crews[crew].id, now=now - timedelta(minutes=3),
        )  # fmt: skip
        return {
            "near": str(near.id), "near_areas": [str(a.id) for a in near_areas],
            "far": str(far.id), "far_areas": [str(a.id) for a in far_areas],
            "near_outage": str(near_outage.id), "far_outage": str(far_outage.id),
            "order": str(order.id), "premise": str(premise.id),
        }  # fmt: skip


def test_crew_pulls_the_lines_areas_and_active_outages_near_its_work(committed_db, make_client):
    device, other = make_client("H-1001"), make_client("H-2001")
    ids = _scene(committed_db)
    device.pull()
    line = device.get("feeder_line", ids["near"])
    assert line is not None and line["route"]["type"] == "LineString" and line["voltage"] == "10kV"
    for area_id in ids["near_areas"]:
        area = device.get("transformer_area", area_id)
        assert area is not None and area["line_id"] == ids["near"], area
        assert area["location"]["type"] == "Point"
    outage = device.get("outage", ids["near_outage"])
    assert outage is not None and outage["status"] == "confirmed"
    assert outage["reason"] == "cable fault" and sorted(outage["area_ids"]) == sorted(
        ids["near_areas"]
    )
    # The other line is nobody's work here: not on the handheld.
    assert device.get("feeder_line", ids["far"]) is None
    assert all(device.get("transformer_area", a) is None for a in ids["far_areas"])
    assert device.get("outage", ids["far_outage"]) is None
    # A crew of another station with no work on the line gets none of it.
    other.pull()
    assert other.get("feeder_line", ids["near"]) is None
    assert other.get("outage", ids["near_outage"]) is None


def test_an_outage_that_ends_leaves_the_handheld_and_an_extension_reaches_it(
    committed_db, make_client
):
    device = make_client("H-1001")
    ids = _scene(committed_db)
    device.pull()
    later = datetime.now(UTC) + timedelta(hours=6)
    with committed_db.unit_of_work(actor="test") as session:
        outages.extend(session=session, actor=actor(session, "admin"),
                       outage_id=uuid.UUID(ids["near_outage"]), planned_end_at=later)  # fmt: skip
    device.pull()
    assert device.get("outage", ids["near_outage"])["planned_end_at"].startswith(
        later.strftime("%Y-%m-%dT%H:%M")
    )
    with committed_db.unit_of_work(actor="test") as session:
        outages.move(session=session, actor=actor(session, "admin"),
                     outage_id=uuid.UUID(ids["near_outage"]), to="restored")  # fmt: skip
    device.pull()
    assert device.get("outage", ids["near_outage"]) is None
    assert device.get("feeder_line", ids["near"]) is not None  # the line stays: work is there
    # A new outage on the line reaches the crew working near it.
    with committed_db.unit_of_work(actor="test") as session:
        fresh = _outage(session, actor(session, "admin"), uuid.UUID(ids["near"]), hours=7)
        fresh_id = str(fresh.id)
    device.pull()
    assert device.get("outage", fresh_id)["status"] == "confirmed"


def test_work_moving_moves_the_network_to_the_new_crew(committed_db, make_client):
    old, new = make_client("H-1001"), make_client("H-1002")
    ids = _scene(committed_db)
    old.pull()
    assert old.get("feeder_line", ids["near"]) is not None
    reassign_committed(committed_db, ids["order"], "Urban Crew 2")
    old.pull()
    new.pull()
    records = [("feeder_line", ids["near"]), ("outage", ids["near_outage"])]
    records += [("transformer_area", a) for a in ids["near_areas"]]
    for entity, record_id in records:
        assert old.get(entity, record_id) is None, entity
        assert new.get(entity, record_id) is not None, entity


def test_a_premise_moved_to_another_line_takes_its_crew_along(committed_db, make_client):
    device = make_client("H-1001")
    ids = _scene(committed_db)
    device.pull()
    with committed_db.unit_of_work(actor="test") as session:
        premise = session.get(Premise, uuid.UUID(ids["premise"]))
        archive.change_premise(
            session=session, actor=actor(session, "archivist"), premise=premise,
            changes={"transformer_area_id": uuid.UUID(ids["far_areas"][1]),
                     "line_id": uuid.UUID(ids["far"])},
            reason="re-surveyed: fed from the other line",
        )  # fmt: skip
    device.pull()
    assert device.get("feeder_line", ids["near"]) is None
    assert device.get("outage", ids["near_outage"]) is None
    assert device.get("feeder_line", ids["far"]) is not None
    assert device.get("outage", ids["far_outage"]) is not None


def test_network_records_are_read_only_on_handhelds(committed_db, http, make_client):
    device = make_client("H-1001")
    ids = _scene(committed_db)
    device.pull()
    base = device.server_copy("feeder_line")[ids["near"]][0]
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=batch(
        mutation("feeder_line", "update", {"name": "x"}, record_id=ids["near"], base=base),
        mutation("outage", "update", {"status": "restored"}, record_id=ids["near_outage"],
                 base=1),
        mutation("transformer_area", "create", {"code": "X", "name": "x"}),
        mutation("outage", "delete", {}, record_id=ids["near_outage"], base=1),
    ))  # fmt: skip
    verdicts = reply.body["verdicts"]
    assert [v["verdict"] for v in verdicts] == ["rejected"] * 4, reply.body
    # No rule in SYNC_ACTIONS lets anyone update them: refused before anything is loaded.
    problems = [v["problem"] for v in verdicts]
    assert problems[0]["type"].endswith("sync-forbidden") and "no rule" in problems[0]["detail"]
    assert problems[1]["type"].endswith("sync-forbidden")
    assert problems[2]["type"].endswith("sync-op-not-allowed")  # the spec creates none
    with committed_db.unit_of_work() as session:
        assert session.get(FeederLine, uuid.UUID(ids["near"])).name.endswith("线")
        outage = outages.get_outage(session=session, actor=actor(session, "admin"),
                                    outage_id=uuid.UUID(ids["near_outage"]))  # fmt: skip
        assert outage.status == "confirmed"


def test_every_network_change_feeds_the_owner_and_the_crews_near_it(committed_db):
    """The feed rows route by scope: the owner's department and each crew working near."""
    ids = _scene(committed_db)
    with committed_db.unit_of_work() as session:
        demo = seed_org(session)
        crew = demo.crews["Urban Crew 1"].id
        rows = session.execute(
            select(Change.entity, Change.op, Change.scope_crew_id).where(
                Change.record_id.in_([ids["near"], ids["near_outage"], *ids["near_areas"]])
            )
        ).all()
    crew_rows = {(entity, op) for entity, op, scope in rows if scope == crew}
    assert crew_rows == {("feeder_line", "upsert"), ("transformer_area", "upsert"),
                         ("outage", "upsert")}  # fmt: skip
    assert any(scope is None for _, _, scope in rows)  # the owner's department's rows
