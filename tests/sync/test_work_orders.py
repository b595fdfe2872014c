"""Work orders reach their crew's handhelds by pull; timing events go back by push."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from backend.dispatch import service
from backend.dispatch.models import TimingEvent
from backend.seed import seed_org
from sync.protocol import format_time
from tests.dispatch.factories import actor, new_order
from tests.sync.helpers import batch, mutation


def _dispatched_order(committed_db) -> str:
    now = datetime.now(UTC)
    with committed_db.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        order = new_order(session, demo, at=now - timedelta(minutes=5))
        service.dispatch_order(
            session=session,
            actor=actor(session, "dispatcher"),
            order_id=order.id,
            crew_id=demo.crews["Urban Crew 1"].id,
            now=now - timedelta(minutes=3),
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
    again = _event(order_id, "E", record_id=received["id"])
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


def test_other_crews_and_order_edits_are_refused(committed_db, http):
    order_id = _dispatched_order(committed_db)
    reply = http("H-2001").request("POST", "/api/v1/sync/push", json_body=batch(
        _event(order_id, "E"),
        mutation("work_order", "update", {"remarks": "x"}, record_id=order_id, base=1),
    ))  # fmt: skip
    kinds = [v["problem"]["type"] for v in reply.body["verdicts"]]
    assert kinds == ["sync-out-of-scope", "sync-op-not-allowed"], reply.body
