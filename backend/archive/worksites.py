"""Where crews work: the premises of their open orders and inspections (sync and read scope)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, Subquery, inspect, select, union, union_all
from sqlalchemy.orm import Session

from backend.archive.records import Premise
from backend.dispatch.models import WorkOrder
from backend.inspection.models import Inspection

# Work that no longer needs the site: the premise leaves the crew's handhelds.
DONE_ORDER = "closed"
DONE_INSPECTION = "closed"

Scope = tuple[int, int]  # (department, crew): how the change feed routes a row


def worked_premise_ids(crew_ids: Iterable[int]) -> Select[tuple[object]]:
    """Select the premises of the open orders and inspections of these crews."""
    crews = sorted(crew_ids)
    orders = select(WorkOrder.premise_id).where(
        WorkOrder.crew_id.in_(crews),
        WorkOrder.premise_id.is_not(None),
        WorkOrder.status != DONE_ORDER,
    )
    inspections = select(Inspection.premise_id).where(
        Inspection.crew_id.in_(crews),
        Inspection.premise_id.is_not(None),
        Inspection.status != DONE_INSPECTION,
        Inspection.deleted.is_(False),
    )
    return select(union(orders, inspections).subquery().c[0])


def worked_customer_ids(crew_ids: Iterable[int]) -> Select[tuple[object]]:
    """Select the customers whose premises these crews work at."""
    return select(Premise.customer_id).where(Premise.id.in_(worked_premise_ids(crew_ids)))


def open_work_at(premise_ids: Iterable[uuid.UUID] | Select[Any]) -> Subquery:
    """Select (premise_id, department_id, crew_id) of the open, crewed work at these premises."""
    ids = premise_ids if isinstance(premise_ids, Select) else sorted(premise_ids)
    orders = select(WorkOrder.premise_id, WorkOrder.department_id, WorkOrder.crew_id).where(
        WorkOrder.premise_id.in_(ids),
        WorkOrder.crew_id.is_not(None),
        WorkOrder.status != DONE_ORDER,
    )
    inspections = select(Inspection.premise_id, Inspection.department_id, Inspection.crew_id).where(
        Inspection.premise_id.in_(ids),
        Inspection.crew_id.is_not(None),
        Inspection.status != DONE_INSPECTION,
        Inspection.deleted.is_(False),
    )
    return union_all(orders, inspections).subquery()


def crews_at(session: Session, premise_ids: set[uuid.UUID]) -> dict[uuid.UUID, set[Scope]]:
    """Return the (department, crew) scopes with open work at each premise."""
    found: dict[uuid.UUID, set[Scope]] = {}
    if not premise_ids:
        return found
    for premise_id, department_id, crew_id in session.execute(select(open_work_at(premise_ids))):
        found.setdefault(premise_id, set()).add((department_id, crew_id))
    return found


def work_scope(work: Any, *, before: bool) -> tuple[uuid.UUID, int, int] | None:
    """Return (premise, department, crew) of open work, as it was before this flush or is now."""
    state = inspect(work)

    def value(name: str) -> Any:
        history = state.attrs[name].history
        if before and history.has_changes():
            return history.deleted[0] if history.deleted else None
        return getattr(work, name)

    if before and state.pending:
        return None
    done = DONE_ORDER if isinstance(work, WorkOrder) else DONE_INSPECTION
    premise, crew = value("premise_id"), value("crew_id")
    if premise is None or crew is None or value("status") == done:
        return None
    if isinstance(work, Inspection) and value("deleted"):
        return None
    return premise, value("department_id"), crew


def changed_records(session: Session, kinds: tuple[type, ...]) -> list[Any]:
    """Return this flush's new records of these kinds and those whose own columns changed."""
    return [
        o
        for o in (*session.new, *session.dirty)
        if isinstance(o, kinds)
        and (o in session.new or session.is_modified(o, include_collections=False))
    ]
