"""Change-feed rows a work order's visibility implies beyond its own scope columns.

A work order is visible to the departments that own, took, received or crewed it and to its
crew (`policy.order_filter`); its timing events and fault record follow it
(`order_child_filter`). Each synced record's own feed row routes by its own (department,
crew) only, so without this hook a call center or a crew's station pulled an order once and
then none of its changes, and a reassigned order's history neither left the old crew's
handhelds nor reached the new crew's. A pull still decides visibility on the record as it is
now: a `leave` to a caller who still sees the record arrives as an upsert.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from backend.dispatch.models import FaultRecord, TimingEvent, WorkOrder
from backend.org.models import Crew
from sync.changes import add_scoped_changes

Scope = tuple[int | None, int | None]


def _value(order: WorkOrder, name: str, *, before: bool) -> Any:
    history = inspect(order).attrs[name].history
    if before and history.has_changes():
        return history.deleted[0] if history.deleted else None
    return getattr(order, name)


def audiences(session: Session, order: WorkOrder, *, before: bool = False) -> set[Scope]:
    """The feed scopes that reach everyone who may see the order (as it was, or is now)."""
    crew = _value(order, "crew_id", before=before)
    scopes: set[Scope] = {(_value(order, "department_id", before=before), crew)}
    for column in ("call_center_id", "repair_center_id"):
        department = _value(order, column, before=before)
        if department is not None:
            scopes.add((department, None))
    if crew is not None:
        station = session.scalar(select(Crew.department_id).where(Crew.id == crew))
        scopes.add((station, crew))
    return scopes


def _children(session: Session, order: WorkOrder) -> list[tuple[str, Any]]:
    events = session.scalars(select(TimingEvent.id).where(TimingEvent.order_id == order.id))
    faults = session.scalars(select(FaultRecord.id).where(FaultRecord.order_id == order.id))
    return [("timing_event", i) for i in events] + [("fault_record", i) for i in faults]


def announce_orders(session: Session, flush_context: Any, instances: Any) -> None:
    """Add the feed rows of this flush's order changes to all their audiences (before_flush)."""
    rows: list[tuple[str, Any, str, Scope]] = []
    with session.no_autoflush:
        for order in (*session.new, *session.dirty):
            if not isinstance(order, WorkOrder):
                continue
            if order not in session.new and not session.is_modified(order):
                continue
            now = audiences(session, order)
            own = (order.department_id, order.crew_id)  # its own row is the Synced mixin's
            others = sorted(now - {own}, key=str)
            rows += [("work_order", order.id, "upsert", scope) for scope in others]
            if order in session.new:
                continue
            before = audiences(session, order, before=True)
            if before == now:
                continue
            children = _children(session, order)
            for scope in sorted(before - now, key=str):
                rows.append(("work_order", order.id, "leave", scope))
                rows += [(entity, i, "leave", scope) for entity, i in children]
            for scope in sorted(now - before, key=str):
                rows += [(entity, i, "upsert", scope) for entity, i in children]
    add_scoped_changes(session, rows)


def install_listeners() -> None:
    """Register the hook on every Session (called by `backend.wiring`)."""
    if not event.contains(Session, "before_flush", announce_orders):
        event.listen(Session, "before_flush", announce_orders)
