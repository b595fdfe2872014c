"""Helpers for dispatch tests: actors for demo users and orders walked to a given point."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, actor_for_user
from backend.auth.models import User
from backend.db import Database
from backend.demo import DemoOrg, seed_org
from backend.dispatch import service
from backend.dispatch.models import WorkOrder
from backend.dispatch.timing.recording import record_timing_event

T0 = datetime.fromisoformat("2026-03-02T08:00:00+00:00")


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def actor(session: Session, username: str) -> Actor:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return actor_for_user(session, user)


def new_order(session: Session, demo: DemoOrg, *, at: datetime = T0, **extra: Any) -> WorkOrder:
    """Take a call at `at` (A) and issue it to the North repair center at A+1 min (B, C)."""
    data = {
        "order_type": "electric",
        "fault_type": "no power",
        "specialty": "low_voltage",
        "address": "12 West Lake Rd",
        "hung_up_at": at,
        **extra,
    }
    order = service.create_order(
        session=session, actor=actor(session, "callcenter"), data=data, now=at
    )
    service.issue_order(
        session=session,
        actor=actor(session, "callcenter"),
        order_id=order.id,
        repair_center_id=demo.departments["RC-N"].id,
        now=at + minutes(1),
    )
    return order


def walk(
    session: Session,
    demo: DemoOrg,
    order: WorkOrder,
    offsets: dict[str, float],
    *,
    crew: str = "Urban Crew 1",
    crew_user: str = "crew1",
) -> WorkOrder:
    """Dispatch (D) and report E.. at the given minute offsets from T0."""
    if "D" in offsets:
        service.dispatch_order(
            session=session,
            actor=actor(session, "dispatcher"),
            order_id=order.id,
            crew_id=demo.crews[crew].id,
            now=T0 + minutes(offsets["D"]),
        )
    for point in ("E", "F", "G", "H", "finished"):
        if point in offsets:
            at = T0 + minutes(offsets[point])
            record_timing_event(
                session=session,
                actor=actor(session, crew_user),
                order_id=order.id,
                point=point,
                occurred_at=at,
                source="terminal",
                event_id=f"{order.id}-{point}",
                now=at,
            )
    return order


def path_records(session: Session, demo: DemoOrg) -> dict[str, object]:
    """Ids of committed records, so generated requests reach past the 404 into the views."""
    order = new_order(session, demo)
    session.commit()
    return {
        "order_id": str(order.id),
        "crew_id": demo.crews["Urban Crew 1"].id,
        "vehicle_id": demo.vehicles["ZJ-A1001"].id,
        "department_id": demo.departments["RC-N"].id,
        "user_id": demo.users["crew1"].id,
    }


def reassign_committed(database: Database, order_id: str, crew: str) -> None:
    """The dispatcher hands the order to another demo crew, in a unit of work of its own."""
    with database.unit_of_work(actor="test") as session:
        demo = seed_org(session)
        service.reassign_order(
            session=session, actor=actor(session, "dispatcher"), order_id=uuid.UUID(order_id),
            crew_id=demo.crews[crew].id, vehicle_id=None, reason="closer crew",
        )  # fmt: skip
