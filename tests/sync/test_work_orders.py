"""Work orders reach their crew's handhelds by pull; status, notes, fault records and timing
events go back by push, through the dispatch rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from backend.demo import seed_org
from backend.dispatch import closeout, service
from backend.dispatch.availability import is_available
from backend.dispatch.models import CrewStatus, FaultRecord, TimingEvent, WorkOrder
from backend.dispatch.timing.events import order_timeline
from backend.dispatch.timing.sla import TimingPoint
from sync.protocol import format_time
from tests.dispatch.factories import actor, new_order
from tests.sync.helpers import batch, mutation


def _dispatched_order(committed_db, *, minutes_ago: int = 5) -> str:
    now = datetime.now(UTC)
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        order = new_order(session, demo, at=now - timedelta(minutes=minutes_ago))
        service.dispatch_order(
            session=session,
            actor=actor(session, "dispatcher"),
            order_id=order.id,
            crew_id=demo.crews["Urban Crew 1"].id,
            now=now - timedelta(minutes=minutes_ago - 2),
        )
        return str(order.id)


def _event(order_id: str, point: str, record_id: str | None = None) -> dict:
    fields = {"order_id": order_id, "point": point, "source": "manual",
              "occurred_at": format_time(datetime.now(UTC) - timedelta(minutes=1))}  # fmt: skip
    return mutation("timing_event", "append", fields, record_id=record_id)


def test_a_crew_pulls_its_order_and_pushes_timing_events(committed_db, make_client, http):
    device = make_client("H-1001")
    order_id = _dispatched_order(committed_db)
    device.pull()
    order = device.get("work_order", order_id)
    assert order is not None and order["status"] == "dispatched", order
    received = _event(order_id, "E")
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=batch(received))
    assert reply.body["verdicts"][0]["verdict"] == "applied", reply.body
    # The same event appended again under a new mutation id is not recorded twice.
    again = {**received, "mutation_id": str(uuid.uuid4())}
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=batch(again))
    assert reply.body["verdicts"][0]["verdict"] == "applied", reply.body
    with committed_db.unit_of_work() as session:
        count = select(func.count()).where(TimingEvent.order_id == uuid.UUID(order_id),
                                           TimingEvent.point == "E")  # fmt: skip
        assert session.scalar(count) == 1
    device.pull()
    assert device.get("work_order", order_id)["status"] != "dispatched"
    events = device.server_copy("timing_event")
    assert any(f["order_id"] == order_id and f["point"] == "E" for _v, f in events.values())
    # Stored under the id the device chose: it pulls back the one record it keeps, not a twin.
    with committed_db.unit_of_work() as session:
        assert session.get(TimingEvent, uuid.UUID(received["id"])) is not None
    assert received["id"] in events


def test_other_crews_and_order_edits_are_refused(committed_db, http):
    order_id = _dispatched_order(committed_db)
    reply = http("H-2001").request("POST", "/api/v1/sync/push", json_body=batch(
        _event(order_id, "E"),
        mutation("work_order", "update", {"crew_note": "x"}, record_id=order_id, base=1),
    ))  # fmt: skip
    kinds = [v["problem"]["type"] for v in reply.body["verdicts"]]
    assert kinds == ["sync-out-of-scope", "sync-out-of-scope"], reply.body
    # The order's own crew may push status and crew_note only: the rest is dispatch's.
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=batch(
        mutation("work_order", "update", {"remarks": "x"}, record_id=order_id, base=1),
        mutation("work_order", "update", {"priority": 1}, record_id=order_id, base=1),
        mutation("work_order", "update", {"status": "closed"}, record_id=order_id, base=1),
        mutation("work_order", "create", {"crew_note": "x"}),
    ))  # fmt: skip
    kinds = [v["problem"]["type"] for v in reply.body["verdicts"]]
    assert kinds == ["sync-unknown-field", "sync-readonly-field", "sync-server-state",
                     "sync-op-not-allowed"], reply.body  # fmt: skip


def _push(http, who: str, *mutations: dict, skew: timedelta = timedelta(0)) -> dict:
    reply = http(who).request("POST", "/api/v1/sync/push", json_body=batch(*mutations, skew=skew))
    assert reply.status == 200, reply.body
    return reply.body


def _points(committed_db, order_id: str) -> dict[str, TimingEvent]:
    with committed_db.unit_of_work() as session:
        rows = session.scalars(
            select(TimingEvent).where(TimingEvent.order_id == uuid.UUID(order_id))
        )
        return {row.point: row for row in rows}


def test_a_handheld_moves_its_order_forward_offline_and_the_timeline_follows(
    committed_db, make_client, http
):
    device = make_client("H-1001")
    order_id = _dispatched_order(committed_db, minutes_ago=40)
    device.pull()
    version, _fields = device.server_copy("work_order")[order_id]
    # The handheld's clock is an hour behind; it was offline while the crew worked.
    skew = timedelta(hours=1)
    real = datetime.now(UTC)
    moves = [("accepted", 30), ("en_route", 25), ("on_site", 15), ("finished", 5)]
    body = batch(*[
        mutation("work_order", "update", {"status": status}, record_id=order_id,
                 base=version, occurred_at=real - timedelta(minutes=ago) - skew)
        for status, ago in moves
    ], skew=skew)  # fmt: skip
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=body)
    assert reply.status == 200, reply.body
    assert reply.body["clock"]["corrected"] is True
    assert [v["verdict"] for v in reply.body["verdicts"]] == ["applied"] * 4, reply.body

    points = _points(committed_db, order_id)
    for (_status, ago), point in zip(moves, ("F", "G", "H", "finished"), strict=True):
        event = points[point]
        assert event.source == "sync"
        assert abs(event.occurred_at - (real - timedelta(minutes=ago))) < timedelta(seconds=5)
    with committed_db.unit_of_work() as session:
        order = session.get(WorkOrder, uuid.UUID(order_id))
        assert order is not None and order.status == "finished"
        assert order.queue_position is None
        timeline, _policy = order_timeline(session, order)
        for point in (TimingPoint.F, TimingPoint.G, TimingPoint.H):
            chosen = timeline.event_for(point)
            assert chosen is not None and chosen.event_id == points[point.value].event_id
        fg = timeline.segment("FG").duration
        assert fg is not None and abs(fg - timedelta(minutes=5)) < timedelta(seconds=1)
    device.pull()
    assert device.get("work_order", order_id)["status"] == "finished"

    # Replaying the batch (a lost reply) answers duplicate and records nothing again.
    again = http("H-1001").request("POST", "/api/v1/sync/push", json_body=body)
    assert [v["verdict"] for v in again.body["verdicts"]] == ["duplicate"] * 4, again.body
    assert [v["original"] for v in again.body["verdicts"]] == ["applied"] * 4
    assert len(_points(committed_db, order_id)) == len(points)

    # A late, backwards move is merged away: finished stays, nothing is recorded.
    version, _fields = device.server_copy("work_order")[order_id]
    late = mutation("work_order", "update", {"status": "on_site", "crew_note": "gate locked"},
                    record_id=order_id, base=version)  # fmt: skip
    verdict = _push(http, "H-1001", late)["verdicts"][0]
    assert (verdict["verdict"], verdict["applied_fields"]) == ("merged", ["crew_note"]), verdict
    assert len(_points(committed_db, order_id)) == len(points)
    device.pull()
    copy = device.get("work_order", order_id)
    assert (copy["status"], copy["crew_note"]) == ("finished", "gate locked")


def test_a_status_skipping_a_point_is_refused_by_the_dispatch_state_machine(committed_db, http):
    order_id = _dispatched_order(committed_db)
    jump = mutation("work_order", "update", {"status": "on_site"}, record_id=order_id, base=1)
    verdict = _push(http, "H-1001", jump)["verdicts"][0]
    assert verdict["verdict"] == "rejected", verdict
    assert verdict["problem"]["type"] == "sync-server-state"
    assert "dispatched" in verdict["problem"]["detail"]
    assert "H" not in _points(committed_db, order_id)


def _finished_order(committed_db, http) -> str:
    order_id = _dispatched_order(committed_db, minutes_ago=30)
    now = datetime.now(UTC)
    body = _push(http, "H-1001", *[
        mutation("work_order", "update", {"status": status}, record_id=order_id, base=1,
                 occurred_at=now - timedelta(minutes=ago))
        for status, ago in (("accepted", 20), ("en_route", 15), ("on_site", 10), ("finished", 5))
    ])  # fmt: skip
    assert [v["verdict"] for v in body["verdicts"]] == ["applied"] * 4, body
    return order_id


def test_fault_records_sync_and_concurrent_edits_conflict_only_when_different(
    committed_db, make_client, http
):
    order_id = _finished_order(committed_db, http)
    record_id = str(uuid.uuid4())
    fields = {"order_id": order_id, "cause": "tree on line", "materials": ["fuse 20A"]}
    created = _push(http, "H-1001", mutation("fault_record", "create", fields, record_id=record_id))
    verdict = created["verdicts"][0]
    assert verdict["verdict"] == "applied", verdict
    base = verdict["version"]
    with committed_db.unit_of_work() as session:
        stored = session.get(FaultRecord, uuid.UUID(record_id))
        assert stored is not None and stored.order_id == uuid.UUID(order_id)
        assert (stored.cause, stored.materials) == ("tree on line", ["fuse 20A"])
        assert stored.filled_by.startswith("device:")
    # A second record for the same order is refused: there is one per order.
    other = mutation("fault_record", "create", {**fields, "cause": "x"})
    verdict = _push(http, "H-1001", other)["verdicts"][0]
    assert verdict["problem"]["type"] == "sync-id-reused", verdict

    # Meanwhile the dispatcher corrects the record through the dispatch API.
    with committed_db.unit_of_work(actor="test") as session:
        closeout.record_fault(
            session=session,
            actor=actor(session, "dispatcher"),
            order_id=uuid.UUID(order_id),
            data={"cause": "storm damage", "actions_taken": "replaced fuse"},
        )
    # Offline, the crew edited the same fields from the version it had.
    different = mutation("fault_record", "update", {"cause": "fallen tree"},
                         record_id=record_id, base=base)  # fmt: skip
    equal = mutation("fault_record", "update", {"actions_taken": "replaced fuse"},
                     record_id=record_id, base=base)  # fmt: skip
    untouched = mutation("fault_record", "update", {"equipment": "pole 17"},
                         record_id=record_id, base=base)  # fmt: skip
    verdicts = _push(http, "H-1001", different, equal, untouched)["verdicts"]
    assert [v["verdict"] for v in verdicts] == ["conflict", "applied", "applied"], verdicts
    conflict = verdicts[0]["conflicts"][0]
    assert (conflict["field"], conflict["server"], conflict["client"]) == (
        "cause", "storm damage", "fallen tree")  # fmt: skip
    with committed_db.unit_of_work() as session:
        stored = session.get(FaultRecord, uuid.UUID(record_id))
        assert stored is not None
        assert (stored.cause, stored.actions_taken, stored.equipment) == (
            "storm damage", "replaced fuse", "pole 17")  # fmt: skip
    queue = (
        http("dispatcher")
        .request("GET", f"/api/v1/sync/conflicts?status=open&record_id={record_id}")
        .body
    )
    mine = [c for c in queue if c["record_id"] == record_id]
    assert [(c["entity"], c["field"], c["server"], c["client"]) for c in mine] == [
        ("fault_record", "cause", "storm damage", "fallen tree")
    ]
    device = make_client("H-1001", from_start=True)
    device.pull()
    assert device.get("fault_record", record_id)["cause"] == "storm damage"


def test_pushes_for_a_recalled_order_are_rejected_and_write_nothing(
    committed_db, make_client, http
):
    device = make_client("H-1001")
    order_id = _dispatched_order(committed_db)
    device.pull()
    assert device.get("work_order", order_id) is not None
    with committed_db.unit_of_work(actor="test") as session:
        service.recall_order(session=session, actor=actor(session, "dispatcher"),
                             order_id=uuid.UUID(order_id), reason="misrouted")  # fmt: skip
        before = session.scalar(
            select(func.count()).where(TimingEvent.order_id == uuid.UUID(order_id))
        )
    body = batch(
        mutation("work_order", "update", {"status": "accepted", "crew_note": "on my way"},
                 record_id=order_id, base=1),
        mutation("fault_record", "create", {"order_id": order_id, "cause": "x"}),
    )  # fmt: skip
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=body)
    verdicts = reply.body["verdicts"]
    assert [v["verdict"] for v in verdicts] == ["rejected", "rejected"], verdicts
    assert verdicts[0]["problem"]["type"] == "sync-out-of-scope"
    assert (
        "reassigned" in verdicts[0]["problem"]["detail"]
        or "recalled" in (verdicts[0]["problem"]["detail"])
    )
    with committed_db.unit_of_work() as session:
        order = session.get(WorkOrder, uuid.UUID(order_id))
        assert order is not None
        assert (order.status, order.crew_note) == ("center_accepted", None)
        count = select(func.count()).where(TimingEvent.order_id == uuid.UUID(order_id))
        assert session.scalar(count) == before
        faults = select(func.count()).where(FaultRecord.order_id == uuid.UUID(order_id))
        assert session.scalar(faults) == 0
    again = http("H-1001").request("POST", "/api/v1/sync/push", json_body=body)
    assert [v["verdict"] for v in again.body["verdicts"]] == ["duplicate"] * 2


def test_crew_note_conflicts_with_a_dispatchers_different_edit_only(
    committed_db, make_client, http
):
    device = make_client("H-1001")
    order_id = _dispatched_order(committed_db)
    device.pull()
    base, _fields = device.server_copy("work_order")[order_id]
    note = {"crew_note": "call the caller first"}
    edit = mutation("work_order", "update", note, record_id=order_id, base=base)
    verdict = _push(http, "dispatcher", edit)["verdicts"][0]
    assert verdict["verdict"] == "applied", verdict
    # The crew, offline on the old version, wrote the same note: no conflict.
    offline = mutation("work_order", "update", note, record_id=order_id, base=base)
    same = _push(http, "H-1001", offline)["verdicts"][0]
    assert (same["verdict"], same["conflicts"]) == ("applied", []), same
    # A different note from the old version is a conflict; the dispatcher's note stays.
    other = mutation("work_order", "update", {"crew_note": "gate locked"},
                     record_id=order_id, base=base)  # fmt: skip
    verdict = _push(http, "H-1001", other)["verdicts"][0]
    assert verdict["verdict"] == "conflict", verdict
    queue = (
        http("dispatcher")
        .request("GET", f"/api/v1/sync/conflicts?status=open&record_id={order_id}")
        .body
    )
    mine = [(c["field"], c["server"], c["client"]) for c in queue
            if c["record_id"] == order_id]  # fmt: skip
    assert mine == [("crew_note", "call the caller first", "gate locked")]
    with committed_db.unit_of_work() as session:
        order = session.get(WorkOrder, uuid.UUID(order_id))
        assert order is not None and order.crew_note == "call the caller first"


def test_records_cannot_point_at_another_crews_order(committed_db, http):
    order_id = _dispatched_order(committed_db)  # Urban Crew 1's order
    outsider = http("H-2001")  # the suburban crew's handheld
    photo = mutation("photo", "append", {"sha256": "cd" * 32, "order_id": order_id})
    inspection = mutation("inspection", "create", {"status": "draft", "order_id": order_id})
    for record in (photo, inspection):
        reply = outsider.request("POST", "/api/v1/sync/push", json_body=batch(record))
        [verdict] = reply.body["verdicts"]
        assert verdict["verdict"] == "rejected", verdict
        assert verdict["problem"]["type"].endswith("sync-out-of-scope"), verdict
    own = http("H-1001").request(
        "POST", "/api/v1/sync/push", json_body=batch(mutation("photo", "append",
                                                              {"sha256": "ef" * 32,
                                                               "order_id": order_id}))
    )  # fmt: skip
    assert own.body["verdicts"][0]["verdict"] == "applied"


def test_crew_members_pull_only_their_own_crews_records(committed_db, make_client):
    handheld = make_client("H-1001")  # Urban Crew 1's handheld, station ST-URB
    own, other, station = make_client("crew1"), make_client("crew6"), make_client("inspector")
    record = handheld.create("inspection", {"status": "in_progress", "notes": "", "checklist": {}})
    handheld.sync()
    order_id = _dispatched_order(committed_db)  # sent to Urban Crew 1
    for client in (own, other, station):
        client.pull()
    assert order_id in own.server_copy("work_order")
    assert record in own.server_copy("inspection")
    # crew6 works in Urban Crew 2 of the same station: a crew member sees its crew's records.
    assert order_id not in other.server_copy("work_order")
    assert record not in other.server_copy("inspection")
    assert record in station.server_copy("inspection")  # the station's inspector sees it


def test_two_handhelds_reusing_a_mutation_id_each_move_the_order(committed_db, http):
    """Mutation ids are unique per device only: the second device's step is its own event."""
    order_id = _dispatched_order(committed_db, minutes_ago=20)
    accept = mutation("work_order", "update", {"status": "accepted"}, record_id=order_id, base=1,
                      occurred_at=datetime.now(UTC) - timedelta(minutes=10))  # fmt: skip
    [first] = _push(http, "H-1001", accept)["verdicts"]
    assert first["verdict"] == "applied", first
    depart = {**mutation("work_order", "update", {"status": "en_route"}, record_id=order_id,
                        base=first["version"]), "mutation_id": accept["mutation_id"]}  # fmt: skip
    [second] = _push(http, "H-1001-B", depart)["verdicts"]
    assert second["verdict"] == "applied", second
    points = _points(committed_db, order_id)
    assert {"F", "G"} <= set(points) and points["F"].id != points["G"].id


def test_a_handhelds_unavailable_report_goes_through_the_availability_rule(committed_db, http):
    """`unavailable`/`available` pushed as timing events: the API's and terminal's rule."""
    now = datetime.now(UTC)
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        crews = {name: demo.crews[name].id for name in ("Urban Crew 1", "Urban Crew 2")}
        orders = {}
        for name, crew_id in crews.items():
            order = new_order(session, demo, at=now - timedelta(minutes=5))
            service.dispatch_order(session=session, actor=actor(session, "dispatcher"),
                                   order_id=order.id, crew_id=crew_id, now=now)  # fmt: skip
            orders[name] = str(order.id)

    def report(who: str, order_id: str, point: str) -> dict:
        reply = http(who).request("POST", "/api/v1/sync/push", json_body=batch(
            _event(order_id, point) | {"fields": {**_event(order_id, point)["fields"],
                                                  "note": "meal break"}}))  # fmt: skip
        return reply.body["verdicts"][0]

    def available(crew: str) -> bool:
        with committed_db.unit_of_work() as session:
            return is_available(session, crews[crew])

    try:
        # Urban Crew 2 may stand down: Urban Crew 1 still covers low voltage.
        verdict = report("H-1002", orders["Urban Crew 2"], "unavailable")
        assert verdict["verdict"] == "applied", verdict
        assert not available("Urban Crew 2")
        # Now Urban Crew 1 is the last low-voltage (and the only meters) crew: refused.
        verdict = report("H-1001", orders["Urban Crew 1"], "unavailable")
        assert verdict["verdict"] == "rejected", verdict
        assert verdict["problem"]["type"] == "sync-server-state", verdict
        assert "last available" in verdict["problem"]["detail"]
        assert available("Urban Crew 1")
        # Another crew's order is not the handheld's to report on.
        verdict = report("H-1001", orders["Urban Crew 2"], "available")
        assert verdict["problem"]["type"] == "sync-out-of-scope", verdict
        verdict = report("H-1002", orders["Urban Crew 2"], "available")
        assert verdict["verdict"] == "applied", verdict
        assert available("Urban Crew 2")
        with committed_db.unit_of_work() as session:  # in the history, not on the timeline
            points = session.scalars(select(TimingEvent.point).where(
                TimingEvent.order_id == uuid.UUID(orders["Urban Crew 2"])
            ).order_by(TimingEvent.version))  # written in this order  # fmt: skip
            assert [p for p in points if p in ("unavailable", "available")] == [
                "unavailable", "available"]  # fmt: skip
    finally:
        with committed_db.unit_of_work(actor="test") as session:
            for crew_id in crews.values():
                status = session.get(CrewStatus, crew_id)
                if status is not None:
                    status.available, status.reason = True, None


def test_order_changes_reach_every_department_that_sees_the_order_and_follow_a_reassign(
    committed_db, make_client, http
):
    """The call center that took the order keeps pulling its changes after it was issued;
    a reassigned order's history leaves the old crew's handheld and reaches the new crew."""
    call_center, old_crew, new_crew = (
        make_client("callcenter"), make_client("H-1001"), make_client("crew6"),
    )  # fmt: skip
    order_id = _dispatched_order(committed_db)  # issued to RC-N, sent to Urban Crew 1
    for client in (call_center, old_crew, new_crew):
        client.pull()
    assert order_id in call_center.server_copy("work_order")
    accepted = mutation("work_order", "update", {"status": "accepted"}, record_id=order_id,
                        base=old_crew.server_copy("work_order")[order_id][0])  # fmt: skip
    [verdict] = _push(http, "H-1001", accepted)["verdicts"]
    assert verdict["verdict"] == "applied", verdict
    call_center.pull()
    assert call_center.get("work_order", order_id)["status"] == "accepted"
    points = {f["point"] for _v, f in call_center.server_copy("timing_event").values()
              if f["order_id"] == order_id}  # fmt: skip
    assert "F" in points, points  # the events follow their order to every department
    old_crew.pull()
    history = {i for i, (_v, f) in old_crew.server_copy("timing_event").items()
               if f["order_id"] == order_id}  # fmt: skip
    assert history, "the crew pulled its order's timing events"
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        service.reassign_order(
            session=session, actor=actor(session, "dispatcher"), order_id=uuid.UUID(order_id),
            crew_id=demo.crews["Urban Crew 2"].id, vehicle_id=demo.vehicles["ZJ-A1002"].id,
            reason="closer crew",
        )  # fmt: skip
    old_crew.pull()
    new_crew.pull()
    assert old_crew.get("work_order", order_id) is None
    assert not history & set(old_crew.server_copy("timing_event"))
    assert history <= set(new_crew.server_copy("timing_event"))
    call_center.pull()
    assert (
        call_center.get("work_order", order_id)["crew_id"]
        == new_crew.get("work_order", order_id)["crew_id"]
    )
