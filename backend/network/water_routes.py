"""Water assets over HTTP: nodes, pipes, and the valves that isolate a pipe."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.inputs import Blueprint, SelectPage
from backend.network import water
from backend.network.schemas import (
    IsolationSchema,
    WaterNodeFilterSchema,
    WaterNodeSchema,
    WaterPipeSchema,
)
from backend.network.water_models import WaterNode, WaterPipe
from backend.unit_of_work import request_session

blp = Blueprint(
    "water", __name__, url_prefix="/api/v1", description="Water: pipes, valves, isolation"
)


def _ctx() -> dict[str, Any]:
    return {"session": request_session(), "actor": current_actor()}


@blp.route("/water/nodes")
class Nodes(MethodView):
    """Valves, hydrants, sources, monitoring points, junctions."""

    @requires(Action.NETWORK_READ)
    @blp.arguments(WaterNodeFilterSchema, location="query")
    @blp.response(200, WaterNodeSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List the company's water nodes (optionally of one kind)."""
        return water.listing(current_actor(), WaterNode, **args)

    @requires(Action.WATER_MANAGE)
    @blp.arguments(WaterNodeSchema)
    @blp.response(201, WaterNodeSchema)
    @blp.alt_response(409, description="Code taken")
    def post(self, data: dict[str, Any]) -> WaterNode:
        """Register a water node."""
        return water.create_node(**_ctx(), data=data)


@blp.route("/water/nodes/<uuid:node_id>")
class NodeById(MethodView):
    """One water node."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, WaterNodeSchema)
    def get(self, node_id: uuid.UUID) -> WaterNode:
        """Show a water node."""
        return water.load(request_session(), current_actor(), WaterNode, node_id)


class PipePage(SelectPage):  # type: ignore[misc]
    """Pages of pipes with their orders."""

    @property
    def items(self) -> list[Any]:
        return [_pipe_view(p) for p in super().items]


def _pipe_view(pipe: WaterPipe) -> dict[str, Any]:
    view = {c.key: getattr(pipe, c.key) for c in WaterPipe.__table__.columns}
    return {**view, "orders": water.asset_orders(request_session(), pipe.id)}


@blp.route("/water/pipes")
class Pipes(MethodView):
    """Pipes."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, WaterPipeSchema(many=True))
    @blp.paginate(PipePage)
    def get(self) -> Any:
        """List the company's pipes."""
        return water.listing(current_actor(), WaterPipe)

    @requires(Action.WATER_MANAGE)
    @blp.arguments(WaterPipeSchema)
    @blp.response(201, WaterPipeSchema)
    @blp.alt_response(409, description="Code taken")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Register a pipe between two nodes (route as GeoJSON or WKT in `srid`)."""
        return _pipe_view(water.create_pipe(**_ctx(), data=data))


@blp.route("/water/pipes/<uuid:pipe_id>")
class PipeById(MethodView):
    """One pipe."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, WaterPipeSchema)
    def get(self, pipe_id: uuid.UUID) -> dict[str, Any]:
        """Show a pipe and the repair orders about it."""
        return _pipe_view(water.load(request_session(), current_actor(), WaterPipe, pipe_id))


@blp.route("/water/pipes/<uuid:pipe_id>/isolation")
class PipeIsolation(MethodView):
    """The valves to close for a pipe."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, IsolationSchema)
    def get(self, pipe_id: uuid.UUID) -> dict[str, Any]:
        """Valves to close to isolate the pipe, pipes and hydrants left dry, sources reached."""
        return water.isolation(**_ctx(), pipe_id=pipe_id)
