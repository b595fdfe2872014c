"""A realistic demo day of repair orders, walked through the real service functions."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, actor_for_user
from backend.auth.models import User
from backend.db import point_element
from backend.demo.org import seed_org
from backend.dispatch import closeout, service
from backend.dispatch.models import WorkOrder
from backend.dispatch.timing.recording import record_timing_event

DEMO_NAMESPACE = uuid.UUID("5b0c7d4e-8f51-4f1e-9a55-0d1a2c3b4e5f")

# (specialty, order type, fault types, crews taking it, crew user per crew)
WORK = [
    (
        "low_voltage",
        "electric",
        ["no power", "flickering lights", "burnt meter box"],
        ["Urban Crew 1"],
    ),
    (
        "10kv",
        "electric",
        ["10 kV line down", "transformer trip"],
        ["Suburban Crew 1", "Emergency Crew 1"],
    ),
    ("meters", "electric", ["meter fault"], ["Urban Crew 1"]),
    ("water", "water", ["burst main", "low pressure"], ["Water Crew 1"]),
]
STREETS = ["West Lake Rd", "Yan'an Rd", "Wensan Rd", "Tianmushan Rd", "Moganshan Rd"]


def _actor(session: Session, username: str) -> Actor:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise LookupError(f"demo user {username} is missing; seed the organisation first")
    return actor_for_user(session, user)


def _minutes(rng: random.Random, lo: float, hi: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(lo, hi) * 60))


def seed_day(
    session: Session,
    *,
    day: date,
    zone: str = "Asia/Shanghai",
    count: int = 30,
    progress: Callable[[Iterable[int]], Iterable[int]] = lambda it: it,
) -> int:
    """Create `count` orders spread over a day in `zone`; returns how many were new.

    Idempotent: order ids derive from the day and index, existing ones are skipped. Every
    step goes through the service layer, so timelines, breaches and alerts are genuine.
    """
    demo = seed_org(session)
    rng = random.Random(day.toordinal())  # noqa: S311 - demo data, not security
    start = datetime.combine(day, datetime.min.time(), ZoneInfo(zone)) + timedelta(hours=6)
    call, center = _actor(session, "callcenter"), _actor(session, "dispatcher")
    crew_users = {
        "Urban Crew 1": "crew1",
        "Suburban Crew 1": "crew3",
        "Emergency Crew 1": "crew4",
        "Water Crew 1": "crew5",
    }
    created = 0
    for index in progress(range(count)):
        order_id = uuid.uuid5(DEMO_NAMESPACE, f"{day.isoformat()}/{index}")
        specialty, order_type, faults, crews = WORK[rng.randrange(len(WORK))]
        a = start + timedelta(minutes=index * 16 * 30 / count) + _minutes(rng, 0, 10)
        steps = [
            _minutes(rng, lo, hi)
            for lo, hi in (
                (0.5, 2.6),
                (0, 0.5),
                (0.5, 3),
                (0.2, 3),
                (0.5, 3),
                (1, 4),
                (8, 34),
                (20, 60),
            )
        ]
        if session.get(WorkOrder, order_id) is not None:
            continue
        created += 1
        b = a + steps[0]
        c = b + steps[1]
        data = {
            "id": order_id,
            "order_type": order_type,
            "fault_type": faults[rng.randrange(len(faults))],
            "specialty": specialty,
            "priority": rng.choice([1, 2, 2, 3]),
            "caller_name": f"Caller {index + 1}",
            "caller_phone": f"1380000{index:04d}",
            "address": f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
            "location": point_element(120.10 + rng.random() * 0.12, 30.23 + rng.random() * 0.1),
            "hung_up_at": a,
        }
        order = service.create_order(session=session, actor=call, data=data, now=a)
        service.issue_order(
            session=session,
            actor=call,
            order_id=order.id,
            repair_center_id=demo.departments["RC-N"].id,
            issued_at=b,
            now=c,
        )
        if index == count - 1:
            continue  # the last call of the day still waits at the repair center
        d = c + steps[2]
        crew_name = crews[index % len(crews)]
        service.dispatch_order(
            session=session,
            actor=center,
            order_id=order.id,
            crew_id=demo.crews[crew_name].id,
            now=d,
        )
        crew = _actor(session, crew_users[crew_name])
        t = d
        for point, step in zip(("E", "F", "G", "H", "finished"), steps[3:], strict=True):
            t += step
            if index >= count - 3 and point == "G":
                break  # the evening's last orders are still in progress
            record_timing_event(
                session=session,
                actor=crew,
                order_id=order.id,
                point=point,
                occurred_at=t,
                source="terminal",
                event_id=f"demo-{order.id}-{point}",
                now=t,
            )
        if order.status != "finished":
            continue
        closeout.record_fault(
            session=session,
            actor=crew,
            order_id=order.id,
            data={"cause": order.fault_type, "actions_taken": "repaired"},
            now=t + timedelta(minutes=5),
        )
        closeout.follow_up(
            session=session,
            actor=call,
            order_id=order.id,
            result="restored",
            satisfied=rng.random() > 0.1,
            now=t + timedelta(minutes=30),
        )
        closeout.close_order(
            session=session, actor=call, order_id=order.id, now=t + timedelta(minutes=31)
        )
    return created
