"""Change-feed rows a work order's visibility implies beyond its own scope columns.

A work order is visible to the departments that own, took, received or crewed it and to its
crew (`policy.order_filter`); its timing events and fault record follow it
(`order_child_filter`). Each synced record's own feed row routes by its own (department,
crew) only, so without this hook a call center or a crew's station pulled an order once and
then none of its changes, and a reassigned order's history neither left the old crew's
handhelds nor reached the new crew's. A pull still decides visibility on the record as it is
now: a `leave` to a caller who still sees the record arrives as an upsert. The rows added here
are `reach` rows (`sync.changes.REACH`): pulled as upserts, not news for the live feed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from backend.dispatch.models import FaultRecord, TimingEvent, WorkOrder
from backend.org.models import Crew
from sync.changes import REACH, add_scoped_changes

Scope = tuple[int | None, int | None]


def _value(order: WorkOrder, name: str, *, before: bool) -> Any:
    history = inspect(order).attrs[name].history
    if before and history.has_changes():
        return history.deleted[0] if history.deleted else None
    return getattr(order, name)


_SCOPE_COLUMNS = ("department_id", "crew_id", "call_center_id", "repair_center_id")


def _moved(order: WorkOrder) -> bool:
    """Whether this flush changes who may see the order (one of its scope columns)."""
    state = inspect(order)
    return any(state.attrs[name].history.has_changes() for name in _SCOPE_COLUMNS)


class _Stations:
    """Each crew's station, read once per flush."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.known: dict[int, int | None] = {}

    def of(self, crew: int) -> int | None:
        if crew not in self.known:
            station: int | None = self.session.scalar(
                select(Crew.department_id).where(Crew.id == crew)
            )
            self.known[crew] = station
        return self.known[crew]


def audiences(order: WorkOrder, stations: _Stations, *, before: bool = False) -> set[Scope]:
    """The feed scopes that reach everyone who may see the order (as it was, or is now)."""
    crew = _value(order, "crew_id", before=before)
    scopes: set[Scope] = {(_value(order, "department_id", before=before), crew)}
    for column in ("call_center_id", "repair_center_id"):
        department = _value(order, column, before=before)
        if department is not None:
            scopes.add((department, None))
    if crew is not None:
        scopes.add((stations.of(crew), crew))
    return scopes


def _children(session: Session, order: WorkOrder) -> list[tuple[str, Any]]:
    events = session.scalars(select(TimingEvent.id).where(TimingEvent.order_id == order.id))
    faults = session.scalars(select(FaultRecord.id).where(FaultRecord.order_id == order.id))
    return [("timing_event", i) for i in events] + [("fault_record", i) for i in faults]


def announce_orders(session: Session, flush_context: Any, instances: Any) -> None:
    """Add the feed rows of this flush's order changes to all their audiences (before_flush).

    Each record's own row (its own department and crew) is the Synced mixin's; this adds the
    other audiences: of a changed order, of a new or changed timing event or fault record
    (they follow their order), and, when the order moved, leaves for the audiences it lost
    and its history for the ones it gained.
    """
    rows: list[tuple[str, Any, str, Scope]] = []
    stations = _Stations(session)
    with session.no_autoflush:
        for record in (*session.new, *session.dirty):
            if record not in session.new and not session.is_modified(record):
                continue
            if isinstance(record, WorkOrder):
                rows += _order_rows(session, record, stations)
            elif isinstance(record, TimingEvent | FaultRecord):
                order = session.get(WorkOrder, record.order_id)
                if order is not None:
                    own = (record.department_id, record.crew_id)
                    entity = record.__sync_entity__
                    rows += [
                        (entity, record.id, REACH, scope)
                        for scope in sorted(audiences(order, stations) - {own}, key=str)
                    ]
    add_scoped_changes(session, rows)


def _order_rows(
    session: Session, order: WorkOrder, stations: _Stations
) -> list[tuple[str, Any, str, Scope]]:
    now = audiences(order, stations)
    own = (order.department_id, order.crew_id)  # its own row is the Synced mixin's
    rows = [("work_order", order.id, REACH, scope) for scope in sorted(now - {own}, key=str)]
    if order in session.new or not _moved(order):
        return rows
    before = audiences(order, stations, before=True)
    children = _children(session, order)
    own_before = (
        _value(order, "department_id", before=True),
        _value(order, "crew_id", before=True),
    )
    for scope in sorted(before - now, key=str):
        if scope != own_before:  # the mixin's own leave
            rows.append(("work_order", order.id, "leave", scope))
        rows += [(entity, i, "leave", scope) for entity, i in children]
    for scope in sorted(now - before, key=str):
        rows += [(entity, i, REACH, scope) for entity, i in children]
    return rows


def install_listeners() -> None:
    """Register the hook on every Session (called by `backend.wiring`)."""
    if not event.contains(Session, "before_flush", announce_orders):
        event.listen(Session, "before_flush", announce_orders)
