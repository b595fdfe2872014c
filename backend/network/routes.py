"""The network tree over HTTP: substations, lines, transformer areas, flags, GeoJSON layers."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, json
from flask.views import MethodView

from backend.archive.records import Customer
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import NotFound, Unprocessable
from backend.inputs import Blueprint, SelectPage
from backend.network import importing, layers, service, tree
from backend.network.models import FeederLine, Substation, TransformerArea
from backend.network.schemas import (
    AreaChangeSchema,
    AreaCustomerArgsSchema,
    AreaCustomerSchema,
    AreaSchema,
    FlagSchema,
    LayerArgsSchema,
    LineChangeSchema,
    LineSchema,
    LineTreeSchema,
    NetworkImportFileSchema,
    NetworkImportFormSchema,
    NetworkImportSchema,
    SubstationSchema,
    parse_bbox,
)
from backend.spec import GEOJSON_COLLECTION, json_response
from backend.unit_of_work import database, request_session

blp = Blueprint(
    "network", __name__, url_prefix="/api/v1", description="Network: lines and transformer areas"
)


def _ctx() -> dict[str, Any]:
    return {"session": request_session(), "actor": current_actor()}


@blp.route("/network/substations")
class Substations(MethodView):
    """Substations."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, SubstationSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List the substations of your company."""
        return service.listing(current_actor(), Substation)

    @requires(Action.NETWORK_MANAGE)
    @blp.arguments(SubstationSchema)
    @blp.response(201, SubstationSchema)
    @blp.alt_response(409, description="Code taken")
    def post(self, data: dict[str, Any]) -> Substation:
        """Register a substation."""
        return service.create_substation(**_ctx(), data=data)


@blp.route("/network/lines")
class Lines(MethodView):
    """Feeder lines."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, LineSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List the feeder lines of your company."""
        return service.listing(current_actor(), FeederLine)

    @requires(Action.NETWORK_MANAGE)
    @blp.arguments(LineSchema)
    @blp.response(201, LineSchema)
    @blp.alt_response(409, description="Code taken")
    def post(self, data: dict[str, Any]) -> FeederLine:
        """Register a feeder line (route as GeoJSON or WKT in `srid`)."""
        return service.create_line(**_ctx(), data=data)


@blp.route("/network/lines/<uuid:line_id>")
class LineById(MethodView):
    """One feeder line."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, LineSchema)
    def get(self, line_id: uuid.UUID) -> FeederLine:
        """Show a line."""
        return service.load(request_session(), current_actor(), FeederLine, line_id)

    @requires(Action.NETWORK_MANAGE)
    @blp.arguments(LineChangeSchema)
    @blp.response(200, LineSchema)
    def patch(self, data: dict[str, Any], line_id: uuid.UUID) -> FeederLine:
        """Change a line."""
        return service.change_line(**_ctx(), line_id=line_id, changes=data)


@blp.route("/network/lines/<uuid:line_id>/tree")
class LineTree(MethodView):
    """A line's tree."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, LineTreeSchema)
    def get(self, line_id: uuid.UUID) -> dict[str, Any]:
        """Show a line's areas with their customer counts and flagged customers."""
        return tree.line_tree(**_ctx(), line_id=line_id)


@blp.route("/network/areas")
class Areas(MethodView):
    """Transformer areas (台区)."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, AreaSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List the transformer areas of your company."""
        return service.listing(current_actor(), TransformerArea)

    @requires(Action.NETWORK_MANAGE)
    @blp.arguments(AreaSchema)
    @blp.response(201, AreaSchema)
    @blp.alt_response(409, description="Code taken")
    def post(self, data: dict[str, Any]) -> TransformerArea:
        """Register a transformer area on a line (point, polygon or both)."""
        return service.create_area(**_ctx(), data=data)


@blp.route("/network/areas/<uuid:area_id>")
class AreaById(MethodView):
    """One transformer area."""

    @requires(Action.NETWORK_READ)
    @blp.response(200, AreaSchema)
    def get(self, area_id: uuid.UUID) -> TransformerArea:
        """Show a transformer area."""
        return service.load(request_session(), current_actor(), TransformerArea, area_id)

    @requires(Action.NETWORK_MANAGE)
    @blp.arguments(AreaChangeSchema)
    @blp.response(200, AreaSchema)
    def patch(self, data: dict[str, Any], area_id: uuid.UUID) -> TransformerArea:
        """Change a transformer area."""
        return service.change_area(**_ctx(), area_id=area_id, changes=data)


class AreaCustomerPage(SelectPage):  # type: ignore[misc]
    """Pages of (customer, flags) rows."""

    @property
    def items(self) -> list[Any]:
        statement = self.collection.offset(self.page_params.first_item).limit(
            self.page_params.page_size
        )
        return [
            {
                "id": c.id,
                "account_number": c.account_number,
                "name": c.name,
                "status": c.status,
                "important": bool(f and f.important),
                "high_risk": bool(f and f.high_risk),
            }
            for c, f in request_session().execute(statement)
        ]


@blp.route("/network/areas/<uuid:area_id>/customers")
class AreaCustomers(MethodView):
    """The customers under a transformer area."""

    @requires(Action.NETWORK_READ)
    @blp.arguments(AreaCustomerArgsSchema, location="query")
    @blp.response(200, AreaCustomerSchema(many=True))
    @blp.paginate(AreaCustomerPage)
    def get(self, args: dict[str, Any], area_id: uuid.UUID) -> Any:
        """List an area's customers, important and high-risk first."""
        return tree.area_customers(**_ctx(), area_id=area_id, **args)


@blp.route("/customers/<uuid:customer_id>/flags")
class CustomerFlags(MethodView):
    """Important / high-risk flags of a customer."""

    @requires(Action.CUSTOMER_FLAG_SET, scope=(Customer, "customer_id"))
    @blp.arguments(FlagSchema)
    @blp.response(200, FlagSchema)
    def put(self, data: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Mark a customer important and/or high-risk."""
        return tree.set_flags(**_ctx(), customer_id=customer_id, data=data)


@blp.route("/network/layers/<string:layer>")
class Layer(MethodView):
    """GeoJSON layers for QGIS (add as a vector layer from this URL, with the bearer token)."""

    @requires(Action.NETWORK_READ)
    @blp.arguments(LayerArgsSchema, location="query")
    @blp.doc(responses={"200": json_response(GEOJSON_COLLECTION, "A page", "application/geo+json")})
    def get(self, args: dict[str, Any], layer: str) -> Response:
        """One page of a layer (lines, areas, area-boundaries, substations, water-pipes, water-nodes) as GeoJSON."""  # noqa: E501
        if layer not in layers.LAYERS:
            raise NotFound(f"No layer {layer!r}; layers: {', '.join(layers.LAYERS)}.")
        body = layers.feature_collection(
            **_ctx(), dialect=database().dialect, layer=layer,
            bbox=parse_bbox(args.get("bbox")), page=args["page"], page_size=args["page_size"],
        )  # fmt: skip
        return Response(json.dumps(body), mimetype="application/geo+json")


@blp.route("/network/imports")
class NetworkImports(MethodView):
    """Imports of lines, areas, water assets and customers' areas."""

    @requires(Action.NETWORK_IMPORT)
    @blp.arguments(NetworkImportFormSchema, location="form")
    @blp.arguments(NetworkImportFileSchema, location="files")
    @blp.response(201, NetworkImportSchema)
    @blp.alt_response(422, description="Rows with errors: `row_errors`; nothing was written")
    def post(self, form: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        """Import a GeoJSON, CSV (WKT) or XLSX file: all rows or none; `dry_run` only checks."""
        upload = files["file"]
        name = (upload.filename or "upload")[:200]
        rows = importing.read_rows(upload.read(), name, form["encoding"])
        result = importing.run_import(
            **_ctx(), kind=form["kind"], rows=rows, srid=form["srid"], dry_run=form["dry_run"]
        )
        if result["status"] == "failed":
            raise Unprocessable(
                f"{len(result['errors'])} problem(s) in {name}; nothing was imported.",
                row_errors=result["errors"],
            )
        return result
