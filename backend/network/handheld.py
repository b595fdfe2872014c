"""The network on handhelds: lines, transformer areas and active outages near a crew's work.

"Near" is the tree, not a distance: a crew (device or crew member) pulls the feeder lines
that serve the premises where it has open work (orders and inspections, the archive's
`worksites`: a premise's `line_id`, or its area's line), every transformer area on those
lines, and the outages on those lines that are active (predicted, confirmed, partially
restored). Office callers that sync pull what their REST door shows of their departments.

The change feed routes rows by one (department, crew) scope per row, so `announce_changes`
adds a row for every crew working near a line whenever the line, an area of it or an outage
on it changes, upserts for a crew that gets work there and `leave` rows for the one that
loses it (or when an outage ends, or a premise moves to another line); the pull re-checks
visibility, so a `leave` for a record still near other work of the crew is sent as an upsert.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import event, inspect, or_, select, union
from sqlalchemy.orm import Session, object_session

from backend.archive.records import Premise
from backend.archive.worksites import (
    Scope,
    changed_records,
    crews_at,
    open_work_at,
    work_scope,
    worked_premise_ids,
)
from backend.auth import policy
from backend.auth.sync_access import backend_actor
from backend.dispatch.models import WorkOrder
from backend.inspection.models import Inspection
from backend.network.geometry import geojson
from backend.network.models import FeederLine, TransformerArea
from backend.network.outage_models import Outage, OutageArea
from backend.network.outages import ACTIVE
from sync.changes import add_scoped_changes
from sync.protocol import format_time
from sync.registry import SyncActor

Row = tuple[str, uuid.UUID, str, Scope]


def lines_near(crew_ids: Iterable[int]) -> Any:
    """Select the feeder lines serving the premises where these crews have open work."""
    premises = worked_premise_ids(crew_ids)
    direct = select(Premise.line_id).where(Premise.id.in_(premises), Premise.line_id.is_not(None))
    by_area = (
        select(TransformerArea.line_id)
        .join(Premise, Premise.transformer_area_id == TransformerArea.id)
        .where(Premise.id.in_(premises))
    )
    return select(union(direct, by_area).subquery().c[0])


def _line_of(record: Any) -> uuid.UUID:
    return record.id if isinstance(record, FeederLine) else record.line_id


def visible(session: Any, actor: SyncActor, records: Sequence[Any]) -> set[uuid.UUID]:
    """Network records a caller may pull (the entity's read action, then "near its work")."""
    caller = backend_actor(actor)
    readable = [
        r
        for r in records
        if policy.can(caller, policy.SYNC_READ_ACTIONS[type(r).__sync_entity__])
        and (not isinstance(r, Outage) or r.status in ACTIVE)
    ]
    if not readable:
        return set()
    if actor.kind == "device" or actor.crew_scoped:
        if not actor.crew_ids:
            return set()
        wanted = sorted({_line_of(r) for r in readable})
        near = set(
            session.scalars(
                select(FeederLine.id).where(
                    FeederLine.id.in_(wanted), FeederLine.id.in_(lines_near(actor.crew_ids))
                )
            )
        )
        return {r.id for r in readable if _line_of(r) in near}
    # Office roles: what their REST door shows, routed to them by the owner's department.
    return {r.id for r in readable if r.department_id in actor.department_ids}


def line_fields(line: FeederLine) -> dict[str, object]:
    """What a handheld shows of a feeder line (route as GeoJSON)."""
    return {
        "code": line.code,
        "name": line.name,
        "voltage": line.voltage,
        "region_code": line.region_code,
        "route": geojson(line.route),
        "switch_points": list(line.switch_points or []),
    }


def area_fields(area: TransformerArea) -> dict[str, object]:
    """What a handheld shows of a transformer area (point and polygon as GeoJSON)."""
    return {
        "code": area.code,
        "name": area.name,
        "line_id": str(area.line_id),
        "section": area.section,
        "capacity_kva": area.capacity_kva,
        "ownership": area.ownership,
        "region_code": area.region_code,
        "location": geojson(area.location),
        "boundary": geojson(area.boundary),
    }


def outage_fields(outage: Outage) -> dict[str, object]:
    """What a handheld shows of an outage, with the areas it still cuts."""
    session = object_session(outage)
    areas: list[str] = []
    if session is not None:
        areas = [
            str(a)
            for a in session.scalars(
                select(OutageArea.area_id)
                .where(OutageArea.outage_id == outage.id, OutageArea.restored_at.is_(None))
                .order_by(OutageArea.area_id)
            )
        ]
    return {
        "number": outage.number,
        "kind": outage.kind,
        "scope": outage.scope,
        "line_id": str(outage.line_id),
        "section": outage.section,
        "area_id": None if outage.area_id is None else str(outage.area_id),
        "area_ids": areas,
        "status": outage.status,
        "reason": outage.reason,
        "starts_at": format_time(outage.starts_at),
        "planned_end_at": format_time(outage.planned_end_at),
    }


# --- the change feed ----------------------------------------------------------------------


def crews_near(session: Session, line_ids: set[uuid.UUID]) -> dict[uuid.UUID, set[Scope]]:
    """Return the (department, crew) scopes with open work at premises of each line."""
    found: dict[uuid.UUID, set[Scope]] = {}
    if not line_ids:
        return found
    ids = sorted(line_ids)
    area_line = (
        select(TransformerArea.line_id)
        .where(TransformerArea.id == Premise.transformer_area_id)
        .scalar_subquery()
    )
    on_line = or_(Premise.line_id.in_(ids), area_line.in_(ids))
    premises = (
        select(Premise.id, Premise.line_id, area_line.label("area_line")).where(on_line).cte()
    )
    work = open_work_at(select(premises.c.id))
    statement = select(
        premises.c.line_id, premises.c.area_line, work.c.department_id, work.c.crew_id
    ).join(work, work.c.premise_id == premises.c.id)
    for line_id, area_line_id, department_id, crew_id in session.execute(statement):
        for line in {line_id, area_line_id} & line_ids:
            found.setdefault(line, set()).add((department_id, crew_id))
    return found


def line_records(session: Session, line_id: uuid.UUID) -> list[tuple[str, uuid.UUID]]:
    """Return what a crew near this line pulls: the line, its areas, its active outages."""
    areas = session.scalars(select(TransformerArea.id).where(TransformerArea.line_id == line_id))
    outages = session.scalars(
        select(Outage.id).where(Outage.line_id == line_id, Outage.status.in_(ACTIVE))
    )
    return [
        ("feeder_line", line_id),
        *(("transformer_area", a) for a in areas),
        *(("outage", o) for o in outages),
    ]


def _premise_lines(session: Session, premise_id: uuid.UUID) -> set[uuid.UUID]:
    premise = session.get(Premise, premise_id)
    if premise is None:
        return set()
    return _lines_of_premise(session, premise.line_id, premise.transformer_area_id)


def _lines_of_premise(
    session: Session, line_id: uuid.UUID | None, area_id: uuid.UUID | None
) -> set[uuid.UUID]:
    lines = {line_id} if line_id is not None else set()
    if area_id is not None:
        area_line = session.scalar(
            select(TransformerArea.line_id).where(TransformerArea.id == area_id)
        )
        if area_line is not None:
            lines.add(area_line)
    return lines


def _previous(obj: Any, name: str) -> Any:
    history = inspect(obj).attrs[name].history
    if history.has_changes() and history.deleted:
        return history.deleted[0]
    return getattr(obj, name)


def _work_rows(session: Session, obj: Any) -> list[Row]:
    """Rows for work that moved: leave the old crew's lines, reach the new crew's."""
    old, new = work_scope(obj, before=True), work_scope(obj, before=False)
    if old == new:
        return []
    rows: list[Row] = []
    if old is not None:
        for line in _premise_lines(session, old[0]):
            rows += [(e, i, "leave", old[1:]) for e, i in line_records(session, line)]
    if new is not None:
        for line in _premise_lines(session, new[0]):
            rows += [(e, i, "upsert", new[1:]) for e, i in line_records(session, line)]
    return rows


def _premise_rows(session: Session, premise: Premise) -> list[Row]:
    """Rows for a premise moved to another line or area: its crews follow it."""
    state = inspect(premise)
    if state.pending or not (
        state.attrs["line_id"].history.has_changes()
        or state.attrs["transformer_area_id"].history.has_changes()
    ):
        return []
    before = _lines_of_premise(
        session, _previous(premise, "line_id"), _previous(premise, "transformer_area_id")
    )
    after = _lines_of_premise(session, premise.line_id, premise.transformer_area_id)
    if before == after:
        return []
    rows: list[Row] = []
    for scope in crews_at(session, {premise.id}).get(premise.id, set()):
        for line in before - after:
            rows += [(e, i, "leave", scope) for e, i in line_records(session, line)]
        for line in after - before:
            rows += [(e, i, "upsert", scope) for e, i in line_records(session, line)]
    return rows


def announce_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Add the feed rows this flush's work and network changes imply (a before_flush hook)."""
    rows: list[Row] = []
    with session.no_autoflush:
        for obj in (*session.new, *session.dirty):
            if isinstance(obj, WorkOrder | Inspection):
                rows += _work_rows(session, obj)
            elif isinstance(obj, Premise):
                rows += _premise_rows(session, obj)
        changed = changed_records(session, (FeederLine, TransformerArea, Outage))
        lines: dict[Any, set[uuid.UUID]] = {}
        for record in changed:
            wanted = {_line_of(record)}
            if not isinstance(record, FeederLine):
                wanted.add(_previous(record, "line_id"))  # an area moved to another line
            lines[record] = {w for w in wanted if w is not None}
        crews = crews_near(session, set().union(*lines.values()) if lines else set())
        for record, record_lines in lines.items():
            ended = isinstance(record, Outage) and record.status not in ACTIVE
            for line in record_lines:
                op = "leave" if ended or line != _line_of(record) else "upsert"
                for scope in crews.get(line, set()):
                    rows.append((record.__sync_entity__, record.id, op, scope))
    add_scoped_changes(session, rows)


def install_listeners() -> None:
    """Register the network's change-feed flush hook on every Session (`backend.wiring`)."""
    if not event.contains(Session, "before_flush", announce_changes):
        event.listen(Session, "before_flush", announce_changes)
