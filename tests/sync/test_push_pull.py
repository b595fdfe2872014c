"""Push verdicts, replay, merge outcomes, scope, tombstones and pull paging through the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.inspection.models import Inspection, MeterReading
from backend.org.models import Crew
from backend.wiring import SYNC_ADAPTERS
from sync import store
from sync.protocol import MAX_BATCH
from sync.store import apply as store_apply
from tests.sync.helpers import batch, inspection, mutation, reading

URBAN = "H-1001"
URBAN_B = "H-1001-B"
SUBURBAN = "H-2001"


def push(transport, *mutations, **kwargs):
    response = transport.request("POST", "/api/v1/sync/push", json_body=batch(*mutations, **kwargs))
    assert response.status == 200, response.body
    return response.body["verdicts"]


def create_inspection(transport, **fields):
    created = mutation("inspection", "create", inspection(**fields))
    [verdict] = push(transport, created)
    assert verdict["verdict"] == "applied", verdict
    return created["id"], verdict["version"]


def test_replaying_a_batch_answers_duplicate_with_the_original_verdict(http):
    device = http(URBAN)
    body = batch(mutation("inspection", "create", inspection()), mutation("gps_fix", "append",
                 {"lat": 30.1, "lon": 120.2, "ts": "2026-11-26T06:00:00Z"}))  # fmt: skip
    first = device.request("POST", "/api/v1/sync/push", json_body=body).body["verdicts"]
    again = device.request("POST", "/api/v1/sync/push", json_body=body).body["verdicts"]
    assert [v["verdict"] for v in first] == ["applied", "applied"]
    assert [v["verdict"] for v in again] == ["duplicate", "duplicate"]
    assert [v["original"] for v in again] == ["applied", "applied"]
    assert [v["version"] for v in again] == [v["version"] for v in first]


def test_concurrent_scalar_edits_conflict_only_when_values_differ(http):
    a, b = http(URBAN), http(URBAN_B)
    record_id, version = create_inspection(a)
    [first] = push(a, mutation("inspection", "update", {"notes": "pole leaning"},
                               record_id=record_id, base=version))  # fmt: skip
    [same] = push(b, mutation("inspection", "update", {"notes": "pole leaning"},
                              record_id=record_id, base=version))  # fmt: skip
    [other] = push(b, mutation("inspection", "update", {"notes": "pole fine", "result": "ok"},
                               record_id=record_id, base=version))  # fmt: skip
    assert first["verdict"] == "applied"
    assert same["verdict"] == "applied"  # equal values are not a conflict
    assert other["verdict"] == "conflict"
    assert other["conflicts"] == [
        {"field": "notes", "key": None, "server": "pole leaning", "client": "pole fine"}
    ]
    assert other["applied_fields"] == ["result"]  # the other field is not lost


def test_another_crews_device_never_sees_the_conflict(http):
    a, b = http(URBAN), http(URBAN_B)
    record_id, version = create_inspection(a)
    push(a, mutation("inspection", "update", {"notes": "x"}, record_id=record_id, base=version))
    [other] = push(b, mutation("inspection", "update", {"notes": "y"},
                               record_id=record_id, base=version))  # fmt: skip
    assert other["verdict"] == "conflict"
    mine = b.request("GET", f"/api/v1/sync/conflicts?record_id={record_id}").body
    conflict = next(c for c in mine if c["record_id"] == record_id)
    outsider = http("H-1002")  # Urban Crew 2: same station, another crew
    listed = outsider.request("GET", f"/api/v1/sync/conflicts?record_id={record_id}").body
    assert all(c["record_id"] != record_id for c in listed)
    shown = outsider.request("GET", f"/api/v1/sync/conflicts/{conflict['id']}")
    assert shown.status == 404


def test_own_successive_edits_never_conflict(http):
    a = http(URBAN)
    record_id, version = create_inspection(a)
    for text in ("one", "two", "three"):
        [verdict] = push(a, mutation("inspection", "update", {"notes": text},
                                     record_id=record_id, base=version))  # fmt: skip
        assert verdict["verdict"] == "applied", verdict


def test_an_edit_made_outside_sync_ends_the_devices_ownership(http, committed_db):
    a = http(URBAN)
    record_id, version = create_inspection(a)
    [mine] = push(a, mutation("inspection", "update", {"notes": "mine"},
                              record_id=record_id, base=version))  # fmt: skip
    assert mine["verdict"] == "applied"
    # The dispatcher corrects the note through the API, not through sync.
    with committed_db.unit_of_work(actor="user:dispatcher") as session:
        session.get(Inspection, uuid.UUID(record_id)).notes = "corrected"
    [stale] = push(a, mutation("inspection", "update", {"notes": "mine again"},
                               record_id=record_id, base=mine["version"]))  # fmt: skip
    assert stale["verdict"] == "conflict", stale  # the correction is not silently overwritten
    assert stale["conflicts"][0]["server"] == "corrected"


def test_status_moves_forward_only_and_checklists_merge(http):
    a, b = http(URBAN), http(URBAN_B)
    record_id, version = create_inspection(a)
    [forward] = push(a, mutation("inspection", "update",
                                 {"status": "submitted", "checklist": {"earth": True}},
                                 record_id=record_id, base=version))  # fmt: skip
    [stale] = push(b, mutation("inspection", "update",
                               {"status": "in_progress", "checklist": {"seal": False}},
                               record_id=record_id, base=version))  # fmt: skip
    assert forward["verdict"] == "applied"
    assert stale["verdict"] == "merged"
    assert stale["applied_fields"] == ["checklist"]
    change = _pull_record(a, record_id)
    assert change["fields"]["status"] == "submitted"
    assert change["fields"]["checklist"] == {"earth": True, "seal": False}


def _pull_record(transport, record_id, cursor=""):
    found = None
    while True:
        reply = transport.request("GET", f"/api/v1/sync/pull?limit=1000&cursor={cursor}")
        assert reply.status == 200, reply.body
        for change in reply.body["changes"]:
            if change["id"] == record_id:
                found = change
        cursor = reply.body["cursor"]
        if not reply.body["has_more"]:
            return found


@pytest.mark.parametrize(
    ("entity", "op", "fields", "slug"),
    [
        ("transformer", "create", {}, "sync-unknown-entity"),
        ("inspection", "create", inspection(colour="red"), "sync-unknown-field"),
        ("inspection", "create", inspection(notes=42), "sync-invalid-value"),
        ("meter_reading", "append", reading(value="lots"), "sync-invalid-value"),
        ("meter_reading", "append", {"value": 1.0}, "sync-missing-field"),
        ("meter_reading", "update", {"value": 1.0}, "sync-op-not-allowed"),
        ("inspection", "create", inspection(status="closed"), "sync-server-state"),
    ],
)
def test_bad_mutations_are_rejected_alone_and_write_nothing(
    http, committed_db, entity, op, fields, slug
):
    device = http(URBAN)
    good = mutation("meter_reading", "append", reading())
    bad = mutation(entity, op, fields, base=0 if op == "update" else None)
    verdicts = push(device, good, bad)
    assert verdicts[0]["verdict"] == "applied"
    assert verdicts[1]["verdict"] == "rejected"
    assert verdicts[1]["problem"]["type"] == slug, verdicts[1]
    with committed_db.unit_of_work() as session:
        assert session.get(MeterReading, uuid.UUID(good["id"])) is not None
        assert session.get(Inspection, uuid.UUID(bad["id"])) is None


def test_base_version_from_the_future_is_rejected(http):
    device = http(URBAN)
    record_id, version = create_inspection(device)
    [verdict] = push(device, mutation("inspection", "update", {"notes": "x"},
                                      record_id=record_id, base=version + 1000))  # fmt: skip
    assert verdict["verdict"] == "rejected"
    assert verdict["problem"]["type"] == "sync-future-base-version"
    assert str(version + 1000) in verdict["problem"]["detail"]


def test_records_outside_the_crew_scope_are_rejected(http):
    urban, suburban = http(URBAN), http(SUBURBAN)
    record_id, version = create_inspection(urban)
    edit = mutation("inspection", "update", {"notes": "not mine"}, record_id=record_id,
                    base=version)  # fmt: skip
    photo = mutation("photo", "append", {"sha256": "ab" * 32, "inspection_id": record_id})
    verdicts = push(suburban, edit, photo)
    assert [v["problem"]["type"] for v in verdicts] == ["sync-out-of-scope"] * 2
    assert "outside your scope" in verdicts[0]["problem"]["detail"]


def test_a_reassigned_record_leaves_the_old_scope_and_refuses_its_edits(http, committed_db):
    urban, suburban = http(URBAN), http(SUBURBAN)
    record_id, version = create_inspection(urban)
    with committed_db.unit_of_work(actor="dispatcher") as session:
        crew = session.scalars(select(Crew).where(Crew.name == "Suburban Crew 1")).one()
        record = session.get(Inspection, uuid.UUID(record_id))
        record.crew_id, record.department_id = crew.id, crew.department_id
    assert _pull_record(urban, record_id)["op"] == "leave"
    assert _pull_record(suburban, record_id)["op"] == "upsert"
    [verdict] = push(urban, mutation("inspection", "update", {"notes": "late"},
                                     record_id=record_id, base=version))  # fmt: skip
    assert verdict["problem"]["type"] == "sync-out-of-scope"
    assert "reassigned" in verdict["problem"]["detail"]


def test_tombstones_are_never_resurrected(http, committed_db):
    a, b = http(URBAN), http(URBAN_B)
    record_id, version = create_inspection(a, status="draft")
    [deleted] = push(a, mutation("inspection", "delete", {}, record_id=record_id, base=version))
    assert deleted["verdict"] == "applied"
    stale_update = mutation("inspection", "update", {"notes": "x"}, record_id=record_id,
                            base=version)  # fmt: skip
    recreate = mutation("inspection", "create", inspection(), record_id=record_id)
    assert [v["problem"]["type"] for v in push(b, stale_update, recreate)] == ["sync-deleted"] * 2
    assert _pull_record(b, record_id)["op"] == "delete"
    adapter = next(x for x in SYNC_ADAPTERS if x.spec.name == "inspection")
    with committed_db.unit_of_work() as session:
        store.purge(session, adapter, uuid.UUID(record_id), "test")
    again = mutation("inspection", "create", inspection(), record_id=record_id)
    [verdict] = push(b, again)
    assert verdict["problem"]["type"] == "sync-deleted"


def test_malformed_or_oversized_batches_are_refused_whole(http, committed_db):
    device = http(URBAN)
    good = mutation("meter_reading", "append", reading())
    broken = {**mutation("gps_fix", "append", {}), "id": "not-a-uuid"}
    reply = device.request("POST", "/api/v1/sync/push", json_body=batch(good, broken))
    body = assert_reply_problem(reply, 422, "sync-protocol-error")
    assert body["errors"] == [{"field": "mutations.1.id", "in": "body",
                               "messages": ["Not a valid UUID."]}]  # fmt: skip
    many = [mutation("meter_reading", "append", reading()) for _ in range(MAX_BATCH + 1)]
    reply = device.request("POST", "/api/v1/sync/push", json_body=batch(*many))
    body = assert_reply_problem(reply, 422, "sync-protocol-error")
    assert "maximum length 500" in str(body["errors"])
    with committed_db.unit_of_work() as session:
        ids = [uuid.UUID(good["id"]), uuid.UUID(many[0]["id"])]
        assert session.scalars(select(MeterReading).where(MeterReading.id.in_(ids))).all() == []


def assert_reply_problem(reply, status, slug):
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.body["type"] == f"/problems/{slug}"
    return reply.body


def _stored(mutation_id: str) -> Any:
    return select(store.StoredMutation).where(store.StoredMutation.mutation_id == mutation_id)


def test_a_failure_mid_batch_applies_nothing(http, committed_db, monkeypatch):
    device = http(URBAN)
    first = mutation("meter_reading", "append", reading())
    second = mutation("meter_reading", "append", reading())
    original = store_apply._pending  # what stages a new reading, on either path

    def explode(ctx, adapter, mut, result, **kwargs):
        if mut.mutation_id == uuid.UUID(second["mutation_id"]):
            raise RuntimeError("disk full")
        return original(ctx, adapter, mut, result, **kwargs)

    monkeypatch.setattr(store_apply, "_pending", explode)
    reply = device.request("POST", "/api/v1/sync/push", json_body=batch(first, second))
    assert reply.status == 500
    with committed_db.unit_of_work() as session:
        assert session.get(MeterReading, uuid.UUID(first["id"])) is None
        assert session.scalars(_stored(first["mutation_id"])).first() is None


def test_clock_skew_is_estimated_corrected_and_flagged(http, committed_db):
    device = http(URBAN)
    device_now = datetime.now(UTC) - timedelta(hours=2)  # the device clock is 2 h behind
    item = mutation("meter_reading", "append", reading(), occurred_at=device_now)
    reply = device.request("POST", "/api/v1/sync/push",
                           json_body=batch(item, skew=timedelta(hours=2)))  # fmt: skip
    assert reply.body["clock"]["corrected"] is True
    assert reply.body["clock"]["skew_seconds"] == pytest.approx(7200, abs=60)
    with committed_db.unit_of_work() as session:
        record = session.get(MeterReading, uuid.UUID(item["id"]))
        assert record.clock_corrected
        assert abs(record.occurred_at - datetime.now(UTC)) < timedelta(minutes=1)
        stored = session.scalars(_stored(item["mutation_id"])).one()
        assert stored.clock_corrected and stored.device_occurred_at < stored.occurred_at


def test_future_device_times_never_pass_server_now(http, committed_db):
    device = http(URBAN)
    item = mutation("meter_reading", "append", reading(),
                    occurred_at=datetime.now(UTC) + timedelta(days=1))  # fmt: skip
    push(device, item)
    with committed_db.unit_of_work() as session:
        assert session.get(MeterReading, uuid.UUID(item["id"])).occurred_at <= datetime.now(UTC)


def test_pull_pages_with_a_cursor_and_refuses_a_bad_one(http, make_client):
    device = http(URBAN)
    start = make_client(URBAN).db.execute("SELECT value FROM meta").fetchone()[0]
    created = [mutation("meter_reading", "append", reading()) for _ in range(5)]
    push(device, *created)
    seen, cursor, pages = [], start, 0
    while True:
        reply = device.request("GET", f"/api/v1/sync/pull?limit=2&cursor={cursor}")
        seen += [c["id"] for c in reply.body["changes"]]
        cursor, pages = reply.body["cursor"], pages + 1
        if not reply.body["has_more"]:
            break
    assert [m["id"] for m in created] == [s for s in seen if s in {m["id"] for m in created}]
    assert pages >= 3
    assert_reply_problem(device.request("GET", "/api/v1/sync/pull?cursor=zzz"), 400,
                         "sync-bad-cursor")  # fmt: skip


def test_dispatcher_resolves_conflicts_with_audit(http):
    a, b, dispatcher = http(URBAN), http(URBAN_B), http("dispatcher")
    record_id, version = create_inspection(a)
    push(
        a, mutation("inspection", "update", {"notes": "server"}, record_id=record_id, base=version)
    )
    [conflict] = push(b, mutation("inspection", "update", {"notes": "client"},
                                  record_id=record_id, base=version))  # fmt: skip
    assert conflict["verdict"] == "conflict"
    listed = dispatcher.request(
        "GET", f"/api/v1/sync/conflicts?status=open&record_id={record_id}"
    ).body
    queued = next(c for c in listed if c["record_id"] == record_id)
    assert (queued["server"], queued["client"]) == ("server", "client")
    forbidden = a.request("POST", f"/api/v1/sync/conflicts/{queued['id']}/resolve",
                          json_body={"resolution": "take_client"})  # fmt: skip
    assert forbidden.status == 403
    resolved = dispatcher.request("POST", f"/api/v1/sync/conflicts/{queued['id']}/resolve",
                                  json_body={"resolution": "take_client"})  # fmt: skip
    assert resolved.status == 200, resolved.body
    assert resolved.body["resolved_by"].startswith("user:")
    assert resolved.body["resolved_value"] == "client"
    assert _pull_record(a, record_id)["fields"]["notes"] == "client"
    again = dispatcher.request("POST", f"/api/v1/sync/conflicts/{queued['id']}/resolve",
                               json_body={"resolution": "take_server"})  # fmt: skip
    assert_reply_problem(again, 409, "sync-conflict-resolved")


def test_push_and_pull_replies_are_what_their_documented_schemas_dump(http):
    """The replies skip the schema's dump (speed); they must still be exactly what it writes."""
    from sync.schemas import PullPageSchema, PushReplySchema

    a, b = http(URBAN), http(URBAN_B)
    record_id, version = create_inspection(a)
    push(a, mutation("inspection", "update", {"notes": "x"}, record_id=record_id, base=version))
    body = batch(
        mutation("inspection", "update", {"notes": "y"}, record_id=record_id, base=version),
        mutation("no_such_entity", "create", {"a": 1}),
        mutation("meter_reading", "append", reading()),
    )
    replies = [b.request("POST", "/api/v1/sync/push", json_body=body).body for _ in range(2)]
    kinds = [[v["verdict"] for v in reply["verdicts"]] for reply in replies]
    assert kinds == [["conflict", "rejected", "applied"], ["duplicate"] * 3]
    page = a.request("GET", "/api/v1/sync/pull?limit=1000").body
    assert page["changes"]
    for schema, reply in [(PushReplySchema(), r) for r in replies] + [(PullPageSchema(), page)]:
        assert schema.validate(reply) == {}
        assert schema.dump(reply) == reply
