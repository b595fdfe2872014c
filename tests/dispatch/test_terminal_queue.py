"""Dispatching queues the order for the vehicle terminal the way tracking delivers it."""

import uuid

from sqlalchemy import select

from backend.dispatch.models import WorkOrder
from backend.tracking.models import OutboundMessage
from tests.dispatch.test_bad_input import dispatched


def test_dispatch_queues_a_deliverable_message_and_holds_the_vehicle(api, demo, session):
    oid = dispatched(api, demo)
    message = session.scalars(select(OutboundMessage).where(OutboundMessage.order_id == oid)).one()
    # The terminal acks with the message id; without it in the payload E could never be set.
    assert message.payload["message_id"] == message.message_id
    assert message.payload["order_id"] == oid and message.payload["kind"] == "order"
    assert message.payload["dispatch_round"] == 0
    assert message.vehicle_id == demo.vehicles["ZJ-A1001"].id
    order = session.get(WorkOrder, uuid.UUID(oid))
    assert order.vehicle_id == demo.vehicles["ZJ-A1001"].id  # the one place that says so


def test_recall_queues_a_recall_and_frees_the_vehicle(api, demo, session):
    oid = dispatched(api, demo)
    response = api("dispatcher").post(
        f"/api/v1/work-orders/{oid}/recall", json={"reason": "wrong station"}
    )
    assert response.status_code == 200, response.get_json()
    kinds = session.scalars(
        select(OutboundMessage.kind)
        .where(OutboundMessage.order_id == oid)
        .order_by(OutboundMessage.id)
    ).all()
    assert kinds == ["order", "recall"]
    assert response.get_json()["vehicle_id"] is None
