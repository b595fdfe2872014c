"""A conflict resolution leaves an audit row naming who settled it and how."""

from __future__ import annotations

from sqlalchemy import select

from backend.auth.audit import AuditLog
from tests.sync.helpers import batch, inspection, mutation

URBAN, URBAN_B = "H-1001", "H-1001-B"


def push(transport, *mutations):
    response = transport.request("POST", "/api/v1/sync/push", json_body=batch(*mutations))
    assert response.status == 200, response.body
    return response.body["verdicts"]


def test_conflict_resolution_is_audited(http, committed_db):
    a, b, dispatcher = http(URBAN), http(URBAN_B), http("dispatcher")
    created = mutation("inspection", "create", inspection())
    [verdict] = push(a, created)
    record_id, version = created["id"], verdict["version"]
    push(a, mutation("inspection", "update", {"notes": "server"}, record_id=record_id,
                     base=version))  # fmt: skip
    [conflict] = push(b, mutation("inspection", "update", {"notes": "client"},
                                  record_id=record_id, base=version))  # fmt: skip
    assert conflict["verdict"] == "conflict"
    listed = dispatcher.request(
        "GET", f"/api/v1/sync/conflicts?status=open&record_id={record_id}"
    ).body
    queued = next(c for c in listed if c["record_id"] == record_id)
    resolved = dispatcher.request("POST", f"/api/v1/sync/conflicts/{queued['id']}/resolve",
                                  json_body={"resolution": "take_client"})  # fmt: skip
    assert resolved.status == 200, resolved.body
    with committed_db.unit_of_work() as session:
        entry = session.scalars(
            select(AuditLog).where(
                AuditLog.entity == "sync_conflicts",
                AuditLog.entity_id == str(queued["id"]),
                AuditLog.action == "update",
            )
        ).one()
    assert entry.actor.endswith(":dispatcher")
    assert entry.before["status"] == "open"
    assert entry.after["status"] == "resolved" and entry.after["resolution"] == "take_client"
    assert entry.after["resolved_by"] == resolved.body["resolved_by"]
