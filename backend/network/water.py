"""Water assets: nodes and pipes, the valves that isolate a pipe, the asset an order is about.

Reads are company-wide like the electricity network (`network.read`); writes need
`water.manage` and an owner in one's subtree.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, ensure_department_in_scope
from backend.auth.policy import Action, authorize, load_in_scope, network_filter, sees_network
from backend.errors import Conflict, NotFound, field_error
from backend.network.geometry import element
from backend.network.isolation import isolate
from backend.network.water_models import OrderAsset, WaterNode, WaterPipe
from gis.geometry import WGS84_SRID

W = TypeVar("W", WaterNode, WaterPipe)
_LABEL = {WaterNode: "Water node", WaterPipe: "Pipe"}


def load(session: Session, actor: Actor, model: type[W], record_id: uuid.UUID) -> W:
    """Load a water asset of the actor's company (404 absent, 403 another company's)."""
    authorize(actor, Action.NETWORK_READ)
    return load_in_scope(session, actor, model, record_id)


def listing(actor: Actor, model: type[W], kind: str | None = None) -> Select[tuple[W]]:
    """Return a select of the company's nodes or pipes, by code."""
    authorize(actor, Action.NETWORK_READ)
    statement = select(model).where(network_filter(actor, model.department_id))
    if kind is not None and model is WaterNode:
        statement = statement.where(WaterNode.kind == kind)
    return statement.order_by(model.code)


def _owner(session: Session, actor: Actor, department_id: int | None) -> int:
    department_id = department_id or actor.department_id
    if actor.kind != "system":
        try:
            ensure_department_in_scope(session, actor, department_id)
        except NotFound as exc:
            raise field_error("department_id", exc.detail) from exc
    return department_id


def _fresh_code(session: Session, model: type[W], code: str) -> None:
    if session.scalar(select(model.id).where(model.code == code)) is not None:
        raise Conflict(f"{_LABEL[model]} code {code!r} is taken.")


def create_node(
    *, session: Session, actor: Actor, data: dict[str, Any], existing: WaterNode | None = None
) -> WaterNode:
    """Register a valve, hydrant, source, monitoring point or junction.

    With `existing` (an import naming a code already there), its fields are replaced by
    `data` under the same checks; its owner must be in scope like a new one's.
    """
    authorize(actor, Action.WATER_MANAGE)
    data = dict(data)
    srid = data.pop("srid", WGS84_SRID)
    if existing is None:
        _fresh_code(session, WaterNode, data["code"])
    else:
        _owner(session, actor, existing.department_id)
    data["department_id"] = _owner(session, actor, data.get("department_id"))
    data["location"], _ = element(data["location"], field="location", kinds=("Point",), srid=srid)
    if data["kind"] == "valve":
        data["valve_open"] = True if data.get("valve_open") is None else data["valve_open"]
    elif data.get("valve_open") is not None:
        raise field_error("valve_open", "Only a valve opens and closes.")
    return _store(session, WaterNode, data, existing)


def _store(session: Session, model: type[W], data: dict[str, Any], existing: W | None) -> W:
    if existing is None:
        record = model(**data)
        session.add(record)
    else:
        record = existing
        for key, value in data.items():
            setattr(record, key, value)
    session.flush()
    return record


def create_pipe(
    *, session: Session, actor: Actor, data: dict[str, Any], existing: WaterPipe | None = None
) -> WaterPipe:
    """Register a pipe between two nodes of the company (or replace `existing`'s fields)."""
    authorize(actor, Action.WATER_MANAGE)
    data = dict(data)
    srid = data.pop("srid", WGS84_SRID)
    if existing is None:
        _fresh_code(session, WaterPipe, data["code"])
    else:
        _owner(session, actor, existing.department_id)
    data["department_id"] = _owner(session, actor, data.get("department_id"))
    if data["from_node_id"] == data["to_node_id"]:
        raise field_error("to_node_id", "A pipe joins two different nodes.")
    for end in ("from_node_id", "to_node_id"):
        try:
            load(session, actor, WaterNode, data[end])  # another company's node: 403
        except NotFound as exc:
            raise field_error(end, exc.detail) from exc
    data["route"], _ = element(data["route"], field="route", kinds=("LineString",), srid=srid)
    return _store(session, WaterPipe, data, existing)


def isolation(*, session: Session, actor: Actor, pipe_id: uuid.UUID) -> dict[str, Any]:
    """Which valves to close to isolate a pipe, what runs dry, and whether it works at all.

    The graph is the company's pipe network; an already closed valve bounds it like a closed
    one would. No valve between the pipe and a source: `isolable` is false and the sources
    reached are named (close at the source, or fit a valve).
    """
    pipe = load(session, actor, WaterPipe, pipe_id)
    pipes = {
        p.id: (p.from_node_id, p.to_node_id)
        for p in session.scalars(
            select(WaterPipe).where(network_filter(actor, WaterPipe.department_id))
        )
    }
    nodes = {
        n.id: n
        for n in session.scalars(
            select(WaterNode).where(network_filter(actor, WaterNode.department_id))
        )
    }
    valves = [i for i, n in nodes.items() if n.kind == "valve"]
    sources = [i for i, n in nodes.items() if n.kind == "source"]
    shut = [i for i in valves if nodes[i].valve_open is False]  # zone boundaries
    answer = isolate(pipes, valves, pipe.id, sources, shut)
    already = [nodes[v] for v in answer.valves if nodes[v].valve_open is False]

    def listed(ids: frozenset[Any]) -> list[WaterPipe]:
        query = select(WaterPipe).where(WaterPipe.id.in_(list(ids))).order_by(WaterPipe.code)
        return list(session.scalars(query))

    dry_pipes, cut_off = listed(answer.pipes), listed(answer.cut_off)
    dry = answer.pipes | answer.cut_off
    dry_nodes = {n for p in dry for n in pipes[p]} - set(answer.valves)
    return {
        "pipe": pipe,
        "isolable": answer.isolable,
        "valves": sorted((nodes[v] for v in answer.valves), key=lambda n: n.code),
        "already_closed": sorted(already, key=lambda n: n.code),
        "sources_reached": sorted((nodes[s] for s in answer.sources_reached), key=lambda n: n.code),
        "pipes": dry_pipes,
        "cut_off": cut_off,
        "hydrants_out": sorted(
            (nodes[n] for n in dry_nodes if nodes[n].kind == "hydrant"), key=lambda n: n.code
        ),
    }


def link_order_asset(session: Session, actor: Actor, order: Any, asset_id: uuid.UUID) -> None:
    """Record which pipe or node a (water) repair order is about."""
    if order.order_type != "water":
        raise field_error("water_asset_id", "Only a water repair order names a water asset.")
    pipe, node = session.get(WaterPipe, asset_id), session.get(WaterNode, asset_id)
    asset = pipe or node
    if asset is None or not sees_network(session, actor, asset.department_id):
        raise field_error("water_asset_id", f"No pipe or water node {asset_id}.")
    session.add(OrderAsset(order_id=order.id, pipe_id=pipe.id if pipe else None,
                           node_id=node.id if node else None))  # fmt: skip
    session.flush()


def asset_orders(session: Session, asset_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the repair orders about an asset."""
    return list(
        session.scalars(
            select(OrderAsset.order_id).where(
                (OrderAsset.pipe_id == asset_id) | (OrderAsset.node_id == asset_id)
            )
        )
    )
