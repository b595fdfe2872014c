"""Substations, feeder lines and transformer areas: create, change, load in scope, list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from geoalchemy2 import WKTElement
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, ensure_department_in_scope
from backend.auth.policy import Action, authorize, load_in_scope, network_filter
from backend.errors import Conflict, NotFound, field_error
from backend.network.geometry import element
from backend.network.models import FeederLine, Substation, TransformerArea
from gis.geometry import WGS84_SRID

M = TypeVar("M", Substation, FeederLine, TransformerArea)

_LABEL = {Substation: "Substation", FeederLine: "Line", TransformerArea: "Transformer area"}


def load(session: Session, actor: Actor, model: type[M], record_id: uuid.UUID) -> M:
    """Load a network record the actor may read (404 absent, 403 outside the company)."""
    authorize(actor, Action.NETWORK_READ)
    return load_in_scope(session, actor, model, record_id)


def load_for_change(session: Session, actor: Actor, model: type[M], record_id: uuid.UUID) -> M:
    """Load a record the actor may change: readable, and owned by its own subtree."""
    record = load(session, actor, model, record_id)
    authorize(actor, Action.NETWORK_MANAGE)
    _owner(session, actor, record.department_id, field="department_id")
    return record


def listing(actor: Actor, model: type[M]) -> Select[tuple[M]]:
    """Return a select of the records of one kind the actor may read, by code."""
    authorize(actor, Action.NETWORK_READ)
    return select(model).where(network_filter(actor, model.department_id)).order_by(model.code)


def _owner(session: Session, actor: Actor, department_id: int | None, *, field: str) -> int:
    department_id = department_id or actor.department_id
    if actor.kind == "system":
        return department_id
    try:
        ensure_department_in_scope(session, actor, department_id)
    except NotFound as exc:
        raise field_error(field, exc.detail) from exc
    return department_id


def _unique_code(session: Session, model: type[M], code: str, own: Any = None) -> None:
    found = session.scalar(select(model).where(model.code == code))
    if found is not None and found is not own:
        raise Conflict(f"{_LABEL[model]} code {code!r} is taken.")


def create_substation(*, session: Session, actor: Actor, data: dict[str, Any]) -> Substation:
    """Register a substation."""
    authorize(actor, Action.NETWORK_MANAGE)
    data = dict(data)
    srid = data.pop("srid", WGS84_SRID)
    _unique_code(session, Substation, data["code"])
    data["department_id"] = _owner(session, actor, data.get("department_id"), field="department_id")
    if data.get("location") is not None:
        data["location"], _ = element(
            data["location"], field="location", kinds=("Point",), srid=srid
        )
    substation = Substation(**data)
    session.add(substation)
    session.flush()
    return substation


def _line_fields(session: Session, actor: Actor, data: dict[str, Any], srid: int) -> dict[str, Any]:
    if data.get("route") is not None:
        data["route"], _ = element(data["route"], field="route", kinds=("LineString",), srid=srid)
    if data.get("substation_id") is not None:
        try:
            load(session, actor, Substation, data["substation_id"])
        except NotFound as exc:
            raise field_error("substation_id", exc.detail) from exc
    if "switch_points" in data:
        codes = [p["code"] for p in data["switch_points"]]
        if len(set(codes)) != len(codes):
            raise field_error("switch_points", "Switch point codes must be unique on a line.")
    return data


def create_line(*, session: Session, actor: Actor, data: dict[str, Any]) -> FeederLine:
    """Register a feeder line with its route and switch points."""
    authorize(actor, Action.NETWORK_MANAGE)
    data = dict(data)
    srid = data.pop("srid", WGS84_SRID)
    _unique_code(session, FeederLine, data["code"])
    data["department_id"] = _owner(session, actor, data.get("department_id"), field="department_id")
    line = FeederLine(**_line_fields(session, actor, data, srid))
    session.add(line)
    session.flush()
    return line


def _change(
    session: Session,
    actor: Actor,
    model: type[M],
    record_id: uuid.UUID,
    changes: dict[str, Any],
    fields: Callable[[dict[str, Any], int, M], dict[str, Any]],
) -> M:
    """Apply `changes` to a line or area: code unique, owner in scope, geometry checked."""
    record = load_for_change(session, actor, model, record_id)
    changes = dict(changes)
    srid = changes.pop("srid", WGS84_SRID)
    if "code" in changes:
        _unique_code(session, model, changes["code"], own=record)
    if "department_id" in changes:
        changes["department_id"] = _owner(
            session, actor, changes["department_id"], field="department_id"
        )
    for key, value in fields(changes, srid, record).items():
        setattr(record, key, value)
    session.flush()
    return record


def change_line(
    *, session: Session, actor: Actor, line_id: uuid.UUID, changes: dict[str, Any]
) -> FeederLine:
    """Change a line's name, voltage, route, switch points or owner."""
    return _change(
        session, actor, FeederLine, line_id, changes,
        lambda data, srid, _line: _line_fields(session, actor, data, srid),
    )  # fmt: skip


def _area_fields(
    session: Session, actor: Actor, data: dict[str, Any], srid: int, area: Any = None
) -> dict[str, Any]:
    line = None
    if data.get("line_id") is not None:
        try:
            line = load(session, actor, FeederLine, data["line_id"])
        except NotFound as exc:
            raise field_error("line_id", exc.detail) from exc
    elif area is not None:
        line = session.get(FeederLine, area.line_id)
    if data.get("location") is not None:
        data["location"], _ = element(
            data["location"], field="location", kinds=("Point",), srid=srid
        )
    if data.get("boundary") is not None:
        data["boundary"], shape = element(
            data["boundary"], field="boundary", kinds=("Polygon",), srid=srid
        )
        if area is None and data.get("location") is None:
            # No transformer point given: the area's own point stands in for it.
            data["location"] = WKTElement(shape.representative_point().wkt, srid=4326)
    section = data.get("section", area.section if area else None)
    if section is not None and line is not None:
        codes = {p.get("section") or p.get("code") for p in line.switch_points or []}
        if section not in codes:
            raise field_error("section", f"Line {line.code} has no section {section!r}.")
    return data


def create_area(*, session: Session, actor: Actor, data: dict[str, Any]) -> TransformerArea:
    """Register a transformer area on a line (a point, a polygon or both)."""
    authorize(actor, Action.NETWORK_MANAGE)
    data = dict(data)
    srid = data.pop("srid", WGS84_SRID)
    if data.get("location") is None and data.get("boundary") is None:
        raise field_error("location", "A transformer area needs a location or a boundary.")
    _unique_code(session, TransformerArea, data["code"])
    data["department_id"] = _owner(session, actor, data.get("department_id"), field="department_id")
    area = TransformerArea(**_area_fields(session, actor, data, srid))
    session.add(area)
    session.flush()
    return area


def change_area(
    *, session: Session, actor: Actor, area_id: uuid.UUID, changes: dict[str, Any]
) -> TransformerArea:
    """Change a transformer area (its line, section, capacity, geometry, owner)."""
    return _change(
        session, actor, TransformerArea, area_id, changes,
        lambda data, srid, area: _area_fields(session, actor, data, srid, area=area),
    )  # fmt: skip
