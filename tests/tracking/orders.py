"""Real work orders dispatched to a vehicle, for tracking tests that commit (MQTT, simulator)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.db import Database, point_element, utcnow
from backend.demo import DemoOrg, seed_org
from backend.dispatch import service
from backend.dispatch.models import WorkOrder
from backend.dispatch.timing.recording import record_timing_event
from backend.dispatch.timing.states import OPEN_CREW_STATES, OrderStatus
from backend.org.models import Vehicle
from backend.tracking.models import OutboundMessage
from tests.dispatch.factories import actor, new_order

SITE = (120.1700, 30.3000)
SYSTEM = Actor(kind="system", id=0, label="test", department_id=0, department_path="/")


@contextmanager
def dispatched_to(
    database: Database,
    vid: str,
    site: tuple[float, float],
    *,
    now: datetime | None = None,
    **extra: object,
) -> Iterator[str]:
    """Commit an order dispatched (at `now`) to the vehicle `vid`; recall it afterwards.

    Timing events are append-only, so the order stays; finishing or recalling it leaves the
    vehicle free.
    """
    with database.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        vehicle = session.scalars(select(Vehicle).where(Vehicle.terminal_id == vid)).one()
        assert vehicle.crew_id is not None
        order = new_order(
            session,
            demo,
            at=(now or utcnow()) - timedelta(minutes=2),
            specialty=vehicle.specialty,
            location=point_element(*site),
            **extra,
        )
        service.dispatch_order(
            session=session,
            actor=SYSTEM,
            order_id=order.id,
            crew_id=vehicle.crew_id,
            vehicle_id=vehicle.id,
            now=now,
        )
        order_id = str(order.id)
    try:
        yield order_id
    finally:
        with database.unit_of_work(actor="test") as session:
            found = session.get(WorkOrder, uuid.UUID(order_id))
            if found is not None and found.status == OrderStatus.ON_SITE:
                record_timing_event(
                    session=session,
                    actor=SYSTEM,
                    order_id=found.id,
                    point="finished",
                    occurred_at=utcnow(),
                    source="manual",
                    details={"reason": "test over"},
                )
            elif found is not None and found.status in OPEN_CREW_STATES:
                service.recall_order(
                    session=session, actor=SYSTEM, order_id=found.id, reason="test over"
                )


def dispatch_to_vehicle(
    session: Session,
    demo: DemoOrg,
    at: datetime,
    site: tuple[float, float] | None = SITE,
    plate: str = "ZJ-A1001",
    crew: str = "Urban Crew 1",
) -> tuple[WorkOrder, OutboundMessage]:
    """A real order dispatched at `at` to a vehicle (default ZJ-A1001), with its message."""
    order = new_order(session, demo, at=at - timedelta(minutes=2))
    order.location = point_element(*site) if site else None
    service.dispatch_order(
        session=session,
        actor=actor(session, "dispatcher"),
        order_id=order.id,
        crew_id=demo.crews[crew].id,
        vehicle_id=demo.vehicles[plate].id,
        now=at,
    )
    return order, last_message(session, order)


def last_message(session: Session, order: WorkOrder) -> OutboundMessage:
    """The newest message queued for the order's terminal."""
    message = session.scalars(
        select(OutboundMessage)
        .where(OutboundMessage.order_id == str(order.id))
        .order_by(OutboundMessage.id.desc())
    ).first()
    assert message is not None
    return message
