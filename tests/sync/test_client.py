"""Two handhelds and a dispatcher edit one inspection offline and online, then converge."""

from __future__ import annotations

import pytest

from sync.client import TransportError


def test_two_devices_and_a_dispatcher_converge_with_the_documented_verdicts(make_client):
    a, b, dispatcher = make_client("H-1001"), make_client("H-1001-B"), make_client("dispatcher")
    record = a.create("inspection", {"status": "in_progress", "notes": "", "checklist": {}})
    a.sync()
    b.pull()
    dispatcher.pull()
    # Offline on both handhelds; the dispatcher edits online.
    a.update("inspection", record, {"notes": "cable cut", "checklist": {"earth": True}})
    a.update("inspection", record, {"status": "submitted"})  # coalesced with the edit above
    b.update("inspection", record, {"notes": "cable fine", "checklist": {"seal": False}})
    b.update("inspection", record, {"status": "in_progress"})
    d_edit = dispatcher.update("inspection", record, {"result": "needs crew"})
    dispatcher.push()
    assert dispatcher.verdict(d_edit)["verdict"] == "applied"
    # A's reply is lost: its batch is replayed as a duplicate on the next push.
    a.transport.drop_next_reply = True
    with pytest.raises(TransportError):
        a.push()
    [replayed] = a.push()
    assert (replayed["verdict"], replayed["original"]) == ("duplicate", "applied")
    [b_verdict] = b.push()
    assert b_verdict["verdict"] == "conflict"
    assert b_verdict["conflicts"] == [
        {"field": "notes", "key": None, "server": "cable cut", "client": "cable fine"}
    ]
    assert b_verdict["applied_fields"] == ["checklist"]  # status stayed forward: not applied
    # Read-your-writes before the conflict is settled: B sees the server's notes.
    b.pull()
    assert b.get("inspection", record)["notes"] == "cable cut"
    conflicts = dispatcher.transport.request(
        "GET", f"/api/v1/sync/conflicts?status=open&record_id={record}"
    ).body
    [conflict] = [c for c in conflicts if c["record_id"] == record]
    resolved = dispatcher.transport.request(
        "POST",
        f"/api/v1/sync/conflicts/{conflict['id']}/resolve",
        json_body={"resolution": "edit", "value": "cable cut; seal missing"},
    )
    assert resolved.status == 200, resolved.body
    for client in (a, b, dispatcher):
        client.sync()
    expected = {
        "status": "submitted",
        "notes": "cable cut; seal missing",
        "result": "needs crew",
        "checklist": {"earth": True, "seal": False},
        "premise_id": None,
        "order_id": None,
        "task_id": None,
    }
    assert a.get("inspection", record) == b.get("inspection", record) == expected
    assert dispatcher.get("inspection", record) == expected
