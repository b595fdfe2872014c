"""Crew availability: a crew stands down (meal ...) and back; dispatch skips it meanwhile.

Seed 001: crews of the same work type may not all be unavailable at once. The pool is every
crew under the same repair center (the crews it can pick instead); the last available crew
of a work type in its pool cannot stand down. Every door applies this one rule: the API
(`set_availability`), the vehicle terminal (`tracking.terminal`) and the handheld's synced
`unavailable` / `available` report (`report_availability`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.policy import (
    Action,
    authorize,
    crew_bound,
    holds_order,
    is_own_crew,
    load_in_scope,
)
from backend.db import utcnow
from backend.dispatch.models import CrewStatus, TimingEvent
from backend.dispatch.timing.events import append_event, check_not_future, load_order
from backend.dispatch.timing.states import AVAILABILITY_EVENTS
from backend.errors import Conflict, Forbidden, OutOfScope, field_error
from backend.org.models import Crew, Department, DepartmentKind, Vehicle
from backend.tracking.models import VehicleState


def status_of(session: Session, crew_id: int) -> CrewStatus | None:
    """Return the crew's status row (none means available: crews start on standby)."""
    return session.get(CrewStatus, crew_id)


def is_available(session: Session, crew_id: int) -> bool:
    """Tell whether a crew takes orders now."""
    status = status_of(session, crew_id)
    return status is None or status.available


def unavailable_among(session: Session, crew_ids: list[int]) -> set[int]:
    """Return which of these crews stand down now, in one query (see `is_available`)."""
    if not crew_ids:
        return set()
    rows = session.scalars(
        select(CrewStatus.crew_id).where(
            CrewStatus.crew_id.in_(crew_ids), CrewStatus.available.is_(False)
        )
    )
    return set(rows)


def ensure_available(session: Session, crew: Crew) -> None:
    """Raise 409 when dispatching to a crew that stood down."""
    status = status_of(session, crew.id)
    if status is not None and not status.available:
        raise Conflict(
            f"Crew {crew.name} is unavailable since {status.since.isoformat()} "
            f"({status.reason}); pick another crew.",
            crew_id=crew.id,
        )


def _pool_root(session: Session, department: Department) -> Department:
    """Return the nearest repair center above a station (the dispatch pool)."""
    node: Department | None = department
    while node is not None:
        if node.kind == DepartmentKind.REPAIR_CENTER:
            return node
        node = session.get(Department, node.parent_id) if node.parent_id else None
    return department


def pool(session: Session, crew: Crew, *, lock: bool = False) -> list[Crew]:
    """Return the crews that can stand in for `crew` (same repair center), itself included."""
    root = _pool_root(session, crew.department)
    statement = (
        select(Crew)
        .join(Department, Crew.department_id == Department.id)
        .where(Department.path.startswith(root.path))
        .order_by(Crew.id)
    )
    if lock:
        # Two crews standing down at once must not both pass the check (PostgreSQL).
        statement = statement.with_for_update(of=Crew)
    return list(session.scalars(statement))


def _crew_for(session: Session, actor: Actor, crew_id: int, action: Action) -> Crew:
    """Load a crew the actor may see and act on: its own (crew, device) or one in its scope."""
    crew = load_in_scope(session, actor, Crew, crew_id, action=action)
    if action is Action.AVAILABILITY_SET and crew_bound(actor) and not is_own_crew(actor, crew):
        raise Forbidden("Crews change only their own availability.")
    return crew


def may_set_availability(*, session: Session, actor: Actor, crew_id: int) -> None:
    """Check, before the body is read, that the actor may set this crew's availability."""
    _crew_for(session, actor, crew_id, Action.AVAILABILITY_SET)


def get_availability(*, session: Session, actor: Actor, crew_id: int) -> CrewStatus:
    """Return the crew's status (standby unless it stood down)."""
    crew = _crew_for(session, actor, crew_id, Action.AVAILABILITY_READ)
    return status_of(session, crew.id) or CrewStatus(
        crew_id=crew.id, available=True, changed_by="-"
    )


def set_availability(
    *,
    session: Session,
    actor: Actor,
    crew_id: int,
    available: bool,
    reason: str | None,
    now: datetime | None = None,
) -> CrewStatus:
    """Mark a crew unavailable (with a reason) or back on standby."""
    now = now or utcnow()
    crew = _crew_for(session, actor, crew_id, Action.AVAILABILITY_SET)
    if not available and not reason:
        raise field_error("reason", "Say why the crew is unavailable (meal, vehicle fault ...).")
    if not available:
        others = [c for c in pool(session, crew, lock=True) if c.id != crew.id]
        stood_down = unavailable_among(session, [c.id for c in others])
        for work_type in crew.work_types or []:
            standing = [
                c for c in others if work_type in (c.work_types or []) and c.id not in stood_down
            ]
            if not standing:
                raise Conflict(
                    f"Crew {crew.name} is the last available {work_type} crew of its repair "
                    f"center: crews of the same work type may not all be unavailable at once. "
                    f"Wait until another {work_type} crew is back on standby.",
                    crew_id=crew.id,
                    work_type=work_type,
                )
    status = status_of(session, crew.id)
    if status is None:
        status = CrewStatus(crew_id=crew.id, changed_by=actor.audit_name)
        session.add(status)
    status.available = available
    status.reason = None if available else reason
    status.since = now
    status.changed_by = actor.audit_name
    # The live map shows it on the crew's vehicles; the rule and the truth stay here.
    session.execute(
        update(VehicleState)
        .where(VehicleState.vehicle_id.in_(select(Vehicle.id).where(Vehicle.crew_id == crew.id)))
        .values(available=available, updated_at=now)
    )
    session.flush()
    return status


def report_availability(
    *,
    session: Session,
    actor: Actor,
    order_id: uuid.UUID,
    point: str,
    occurred_at: datetime,
    source: str,
    event_id: str,
    note: str | None = None,
    now: datetime | None = None,
    record_id: uuid.UUID | None = None,
) -> TimingEvent:
    """A crew reports from the field that it stands down or is back (`unavailable`/`available`).

    The crew holding the order changes its availability by `set_availability`'s rule; the
    report joins the order's history as a lifecycle event (no timing point), once per
    `event_id`.
    """
    now = now or utcnow()
    order = load_order(session, order_id, lock=True)
    authorize(actor, Action.CREW_POINT_REPORT)
    if order.crew_id is None or not holds_order(actor, order):
        raise OutOfScope("This work order is not with your crew.")
    existing = session.scalar(select(TimingEvent).where(TimingEvent.event_id == event_id))
    if existing is not None:
        if existing.order_id != order.id or existing.point != point:
            raise Conflict(f"Event id {event_id} was already used for another event.")
        return existing
    at = now if check_not_future(occurred_at, now) else occurred_at
    set_availability(
        session=session,
        actor=actor,
        crew_id=order.crew_id,
        available=AVAILABILITY_EVENTS[point],
        reason=note or f"reported by {actor.audit_name}",
        now=at,
    )
    details = {"note": note} if note else None
    return append_event(
        session, order, point=point, occurred_at=at, source=source,
        actor=actor.audit_name, event_id=event_id, details=details, now=now,
        record_id=record_id,
    )  # fmt: skip
