"""Sync pulls and pushes ask the one policy: each entity's read action, then its scope.

A crew-less record (an inspector's: no crew) belongs to its author and to the roles the policy
gives the department subtree, not to every crew of the station; an entity is pulled only by
roles whose read action (the one its REST door asks) allows it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sync.protocol import format_time
from tests.sync.helpers import batch, inspection, mutation

URBAN = "H-1001"  # Urban Crew 1's handheld, station ST-URB (the inspector's station)


def _push(transport, *mutations):
    reply = transport.request("POST", "/api/v1/sync/push", json_body=batch(*mutations))
    assert reply.status == 200, reply.body
    return reply.body["verdicts"]


def _gps_fix():
    now = format_time(datetime.now(UTC))
    return mutation("gps_fix", "append", {"lat": 30.27, "lon": 120.15, "acc": 5.0, "ts": now})


def _captures(http, who):
    """Push an inspection, a GPS fix and a photo record as `who`; return their ids."""
    items = {
        "inspection": mutation("inspection", "create", inspection(notes="meter seal broken")),
        "gps_fix": _gps_fix(),
        "photo": mutation("photo", "append", {"sha256": "ab" * 32, "caption": "seal"}),
    }
    verdicts = _push(http(who), *items.values())
    assert [v["verdict"] for v in verdicts] == ["applied"] * 3, verdicts
    return {entity: item["id"] for entity, item in items.items()}


def test_an_inspectors_crewless_records_are_not_the_stations_crews(http, make_client):
    clients = {who: make_client(who) for who in (URBAN, "crew1", "crew2", "inspector")}
    ids = _captures(http, "inspector")
    for client in clients.values():
        client.pull()
    for who in (URBAN, "crew1", "crew2"):  # same station, no part in the inspector's work
        for entity, record_id in ids.items():
            assert clients[who].get(entity, record_id) is None, (who, entity)
    for entity, record_id in ids.items():  # the author pulls its own
        assert clients["inspector"].get(entity, record_id) is not None, entity
    # Nor may the station's crews write them.
    edit = mutation("inspection", "update", {"notes": "x"}, record_id=ids["inspection"], base=1)
    for who in (URBAN, "crew1"):
        [verdict] = _push(http(who), edit | {"mutation_id": mutation("x", "x", {})["mutation_id"]})
        assert verdict["verdict"] == "rejected", verdict
        assert verdict["problem"]["type"] == "sync-out-of-scope", verdict


def test_department_roles_see_crewless_records_of_their_subtree(http, make_client):
    dispatcher, supervisor = make_client("dispatcher"), make_client("supervisor")
    ids = _captures(http, "inspector")
    for client in (dispatcher, supervisor):
        client.pull()
        assert client.get("inspection", ids["inspection"]) is not None
        assert client.get("gps_fix", ids["gps_fix"]) is not None  # tracking roles: positions


def test_each_entity_is_pulled_only_under_its_read_action(http, make_client):
    """The archivist has no field-record read; the inspector reads no crew's positions."""
    archivist, inspector, callcenter = (make_client(w) for w in ("archivist", "inspector",
                                                                  "callcenter"))  # fmt: skip
    crew = make_client("crew1")
    ids = _captures(http, URBAN)
    for client in (archivist, inspector, callcenter, crew):
        client.pull()
    for entity, record_id in ids.items():
        assert archivist.get(entity, record_id) is None, entity
        assert crew.get(entity, record_id) is not None, entity  # its own crew's records
    assert inspector.get("gps_fix", ids["gps_fix"]) is None  # a crew's positions
    assert inspector.get("inspection", ids["inspection"]) is not None  # the station's checks
    assert callcenter.get("inspection", ids["inspection"]) is None
    assert callcenter.get("gps_fix", ids["gps_fix"]) is None  # not its subtree (CALL)


def test_a_conflict_is_shown_no_wider_than_its_record(http):
    """A conflict quotes both values: the archivist and other crews do not list it."""
    created = mutation("inspection", "create", inspection())
    [verdict] = _push(http(URBAN), created)
    record_id, version = created["id"], verdict["version"]
    _push(http(URBAN), mutation("inspection", "update", {"notes": "server"}, record_id=record_id,
                                base=version))  # fmt: skip
    [conflict] = _push(http("H-1001-B"), mutation("inspection", "update", {"notes": "client"},
                                                  record_id=record_id, base=version))  # fmt: skip
    assert conflict["verdict"] == "conflict", conflict
    url = f"/api/v1/sync/conflicts?record_id={record_id}"
    for who in ("dispatcher", "crew1", URBAN):
        assert len(http(who).request("GET", url).body) == 1, who
    for who in ("archivist", "callcenter", "inspector", "crew6", "H-1002"):
        assert http(who).request("GET", url).body == [], who


def test_the_conflict_queue_is_no_wider_than_the_entity(http, committed_db):
    """A conflict quotes both values: a resolver sees it only for entities its role reads.

    The dispatcher resolves its repair center's conflicts, but reads no collection visit
    (what a customer owes), so it neither lists nor opens a visit's conflict.
    """
    import uuid

    from sqlalchemy import select

    from backend.org.models import Department
    from sync.store.tables import SyncConflict

    with committed_db.unit_of_work(actor="test") as session:
        center = session.scalar(select(Department.id).where(Department.code == "RC-N"))
        queued, records = {}, {}
        for entity in ("work_order", "collection_visit"):
            records[entity] = str(uuid.uuid4())
            conflict = SyncConflict(
                entity=entity, record_id=records[entity], field="notes", server_value="owes 1",
                client_value="owes 2", mutation_id=str(uuid.uuid4()), device="test",
                department_id=center, crew_id=None, created_at=datetime.now(UTC),
            )  # fmt: skip
            session.add(conflict)
            session.flush()
            queued[entity] = conflict.id
    dispatcher = http("dispatcher")
    listed = {}
    for entity, conflict_id in queued.items():
        record = records[entity]
        reply = dispatcher.request("GET", f"/api/v1/sync/conflicts?record_id={record}")
        assert reply.status == 200, reply.body
        listed[entity] = [c["id"] for c in reply.body]
        shown = dispatcher.request("GET", f"/api/v1/sync/conflicts/{conflict_id}")
        assert shown.status == (200 if entity == "work_order" else 404), (entity, shown.body)
    assert listed == {"work_order": [queued["work_order"]], "collection_visit": []}
    opened = dispatcher.request(
        "POST",
        f"/api/v1/sync/conflicts/{queued['collection_visit']}/resolve",
        json_body={"resolution": "take_server"},
    )
    assert opened.status == 404, opened.body
