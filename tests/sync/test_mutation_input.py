"""Mutation ids per principal, per-mutation rejection of unstorable input, device times."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.inspection.models import Inspection, MeterReading
from sync import store
from sync.registry import registry
from sync.store.records import column_problem
from tests.sync.helpers import batch, inspection, mutation, reading

URBAN, URBAN_B = "H-1001", "H-1001-B"


def push(transport, *mutations, **kwargs):
    reply = transport.request("POST", "/api/v1/sync/push", json_body=batch(*mutations, **kwargs))
    assert reply.status == 200, reply.body
    return reply.body["verdicts"]


def test_a_mutation_id_reused_by_another_device_applies_its_own_mutation(http, committed_db):
    a, b = http(URBAN), http(URBAN_B)
    mine = mutation("inspection", "create", inspection(notes="from A"))
    theirs = {**mutation("inspection", "create", inspection(notes="from B")),
              "mutation_id": mine["mutation_id"]}  # fmt: skip
    [first] = push(a, mine)
    [second] = push(b, theirs)
    assert (first["verdict"], second["verdict"]) == ("applied", "applied"), second
    assert second["id"] == theirs["id"] != first["id"]
    # Each principal's replay answers its own verdict, never the other's.
    [again_b] = push(b, theirs)
    [again_a] = push(a, mine)
    assert (again_b["verdict"], again_b["id"], again_b["version"]) == (
        "duplicate", theirs["id"], second["version"])  # fmt: skip
    assert (again_a["id"], again_a["version"]) == (mine["id"], first["version"])
    with committed_db.unit_of_work() as session:
        notes = {
            r.notes
            for r in session.scalars(
                select(Inspection).where(
                    Inspection.id.in_([uuid.UUID(mine["id"]), uuid.UUID(theirs["id"])])
                )
            )
        }
        assert notes == {"from A", "from B"}
        stored = session.scalars(
            select(store.StoredMutation).where(
                store.StoredMutation.mutation_id == mine["mutation_id"]
            )
        ).all()
        assert len(stored) == 2 and len({s.device for s in stored}) == 2


BAD_MUTATIONS = {
    "nul in text": lambda: mutation("inspection", "create", inspection(notes="a\x00b")),
    "lone surrogate": lambda: mutation("inspection", "create", inspection(result="\ud800")),
    "surrogate in a set key": lambda: mutation(
        "inspection", "create", inspection(checklist={"earth\udfff": True})
    ),
    "nul in a field name": lambda: mutation("inspection", "create", {"no\x00tes": "x"}),
    "over-long value": lambda: mutation("inspection", "create", inspection(result="r" * 65)),
    "over-long entity name": lambda: mutation("e" * 120, "append", {}),
    "nul in the entity name": lambda: mutation("photo\x00", "append", {}),
    "year 10000 in a field": lambda: mutation(
        "meter_reading", "append", reading(read_at="9999-12-31T23:30:00-01:00")
    ),
    "before year 1 in a field": lambda: mutation(
        "meter_reading", "append", reading(read_at="0001-01-01T00:30:00+01:00")
    ),
    "occurred_at before year 1": lambda: {
        **mutation("meter_reading", "append", reading()),
        "occurred_at": "0001-01-01T00:00:00+00:01",
    },
    "numeric overflow": lambda: mutation("meter_reading", "append", reading(value=10**400)),
}


@pytest.mark.parametrize("case", sorted(BAD_MUTATIONS))
def test_an_unstorable_mutation_is_rejected_alone(http, committed_db, case):
    device = http(URBAN)
    before = mutation("meter_reading", "append", reading())
    bad = BAD_MUTATIONS[case]()
    after = mutation("inspection", "create", inspection(notes="still applied"))
    verdicts = push(device, before, bad, after)
    assert [v["verdict"] for v in verdicts] == ["applied", "rejected", "applied"], verdicts
    problem = verdicts[1]["problem"]
    assert problem["type"] in ("sync-invalid-value", "sync-unknown-entity"), problem
    assert "\x00" not in str(verdicts[1]) and "\ud800" not in str(verdicts[1])
    # The replay answers the same stored verdict (storable on both backends).
    replay = push(device, before, bad, after)
    assert [v["original"] for v in replay] == ["applied", "rejected", "applied"]
    assert replay[1]["problem"] == problem
    with committed_db.unit_of_work() as session:
        assert session.get(MeterReading, uuid.UUID(before["id"])) is not None
        assert session.get(Inspection, uuid.UUID(after["id"])).notes == "still applied"


def test_a_skew_correction_beyond_year_one_rejects_the_mutation(http):
    device = http(URBAN)
    early = {**mutation("meter_reading", "append", reading()),
             "occurred_at": "0001-01-01T06:00:00Z"}  # fmt: skip
    fine = mutation("meter_reading", "append", reading())
    # The device clock is a day ahead: its times are shifted back by a day.
    verdicts = push(device, early, fine, skew=-timedelta(days=1))
    assert [v["verdict"] for v in verdicts] == ["rejected", "applied"], verdicts
    assert "year 1" in verdicts[0]["problem"]["detail"]


def test_a_malformed_envelope_still_refuses_the_batch(http):
    body = batch(mutation("meter_reading", "append", reading()))
    body["mutations"][0]["occurred_at"] = "yesterday"
    reply = http(URBAN).request("POST", "/api/v1/sync/push", json_body=body)
    assert reply.status == 422 and reply.body["type"] == "/problems/sync-protocol-error"
    assert reply.body["errors"][0]["field"] == "mutations.0.occurred_at"


def test_the_column_backstop_catches_what_a_spec_would_let_through():
    adapter = registry.get("inspection")
    assert adapter is not None
    assert column_problem(adapter, {"result": "r" * 64}) is None
    assert "longer than 64" in (column_problem(adapter, {"result": "r" * 65}) or "")
    assert "32-bit" in (column_problem(adapter, {"crew_id": 2**31}) or "")
    assert column_problem(adapter, {"crew_id": 2**31 - 1, "notes": "n" * 10_000}) is None


def test_a_device_time_ahead_of_the_server_is_clamped_and_kept(http, committed_db):
    device = http(URBAN)
    ahead = datetime.now(UTC) + timedelta(seconds=20)  # within the skew tolerance
    item = mutation("meter_reading", "append", reading(), occurred_at=ahead)
    push(device, item)
    with committed_db.unit_of_work() as session:
        record = session.get(MeterReading, uuid.UUID(item["id"]))
        assert record.clock_corrected and record.occurred_at < ahead
        assert abs(record.device_time - ahead) < timedelta(milliseconds=1)
        stored = session.scalars(
            select(store.StoredMutation).where(
                store.StoredMutation.mutation_id == item["mutation_id"]
            )
        ).one()
        assert stored.clock_corrected


def test_a_skew_corrected_record_keeps_the_device_time(http, committed_db):
    device = http(URBAN)
    device_now = datetime.now(UTC) - timedelta(hours=2)
    item = mutation("meter_reading", "append", reading(), occurred_at=device_now)
    push(device, item, skew=timedelta(hours=2))
    on_time = mutation("meter_reading", "append", reading())
    push(device, on_time)
    with committed_db.unit_of_work() as session:
        record = session.get(MeterReading, uuid.UUID(item["id"]))
        assert record.clock_corrected
        assert abs(record.device_time - device_now) < timedelta(milliseconds=1)
        plain = session.get(MeterReading, uuid.UUID(on_time["id"]))
        assert not plain.clock_corrected and plain.device_time is None


def test_the_conflict_queue_is_paginated(http):
    a, b, dispatcher = http(URBAN), http(URBAN_B), http("dispatcher")
    created = mutation("inspection", "create", inspection())
    [made] = push(a, created)
    for index in range(3):  # three conflicts on one record
        base = made["version"]
        edit = {"notes": f"a{index}"}
        [made] = push(a, mutation("inspection", "update", edit, record_id=created["id"], base=base))
        push(b, mutation("inspection", "update", {"notes": f"b{index}"},
                         record_id=created["id"], base=base))  # fmt: skip
    path = f"/api/v1/sync/conflicts?record_id={created['id']}&page_size=2"
    first = dispatcher.request("GET", path)
    assert first.status == 200 and len(first.body) == 2
    assert '"total": 3' in first.headers["x-pagination"]
    second = dispatcher.request("GET", path + "&page=2")
    assert len(second.body) == 1
    ids = [c["id"] for c in first.body + second.body]
    assert ids == sorted(ids) and all(c["record_id"] == created["id"] for c in first.body)
    bad = dispatcher.request("GET", "/api/v1/sync/conflicts?status=closed")
    assert bad.status == 422


def test_a_resolution_that_cannot_be_stored_is_refused(http):
    a, b, dispatcher = http(URBAN), http(URBAN_B), http("dispatcher")
    created = mutation("inspection", "create", inspection())
    [made] = push(a, created)
    push(a, mutation("inspection", "update", {"notes": "a"}, record_id=created["id"],
                     base=made["version"]))  # fmt: skip
    push(b, mutation("inspection", "update", {"notes": "b"}, record_id=created["id"],
                     base=made["version"]))  # fmt: skip
    [conflict] = dispatcher.request("GET", f"/api/v1/sync/conflicts?record_id={created['id']}").body
    path = f"/api/v1/sync/conflicts/{conflict['id']}/resolve"
    reply = dispatcher.request("POST", path, json_body={"resolution": "edit", "value": "x\x00"})
    assert reply.status == 422, reply.body
    ok = dispatcher.request("POST", path, json_body={"resolution": "edit", "value": "ab"})
    assert ok.status == 200 and ok.body["resolved_value"] == "ab"


@pytest.mark.parametrize("cursor", ["v1.\u00b2.1", "v1.1.\u0663", "v2.1.1"])
def test_a_cursor_with_non_ascii_digits_is_refused(http, cursor):
    reply = http(URBAN).request("GET", f"/api/v1/sync/pull?cursor={cursor}")
    assert reply.status == 400 and reply.body["type"] == "/problems/sync-bad-cursor"


def test_unauthenticated_requests_get_401_before_validation(sync_app):
    client = sync_app.test_client()
    assert client.get("/api/v1/sync/pull?limit=x").status_code == 401
    assert client.post("/api/v1/sync/push", json={"bad": 1}).status_code == 401
    assert client.get("/api/v1/sync/conflicts?status=closed").status_code == 401
