"""Customer files: current views, changes as versions, history and diffs, meters."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, json
from flask.views import MethodView

from backend.archive import map_layer, service, versions
from backend.archive import meters as meter_service
from backend.archive.access import ArchiveAction, require
from backend.archive.grants import record_reads
from backend.archive.records import HEADS, Customer, Meter, Premise
from backend.archive.schemas import (
    CloseSchema,
    CustomerChangeSchema,
    CustomerCreateSchema,
    CustomerReadSchema,
    DiffArgsSchema,
    DiffSchema,
    MeterChangeSchema,
    MeterCreateSchema,
    MeterReadSchema,
    MeterTypeSchema,
    PremiseChangeSchema,
    PremiseCreateSchema,
    PremiseReadSchema,
    ReadingSchema,
    SearchArgsSchema,
    VersionSchema,
)
from backend.archive.views import customer_view, meter_view, premise_view, version_view
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action, field_record_filter
from backend.errors import Conflict, NotFound
from backend.inputs import Blueprint, SelectPage
from backend.inspection.models import MeterReading
from backend.network.schemas import LayerArgsSchema, parse_bbox
from backend.spec import GEOJSON_COLLECTION, json_response
from backend.unit_of_work import database, request_session

blp = Blueprint(
    "archive", __name__, url_prefix="/api/v1", description="Customer archive (客户档案)"
)

# URL kinds -> archive entities, for the shared history endpoints.
KINDS = {"customers": "customer", "premises": "premise", "meters": "meter"}


def _change(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = {k: data.pop(k) for k in ("reason", "source", "base_version") if k in data}
    return data, meta


class CustomerPage(SelectPage):  # type: ignore[misc]
    """Pages of customers rendered through the field-level permissions."""

    @property
    def items(self) -> list[Any]:
        actor = current_actor()
        return [customer_view(request_session(), actor, c, full=False) for c in super().items]


@blp.route("/customers")
class Customers(MethodView):
    """Customer files in your scope."""

    @requires(Action.ARCHIVE_READ)
    @blp.arguments(SearchArgsSchema, location="query")
    @blp.response(200, CustomerReadSchema(many=True))
    @blp.paginate(CustomerPage)
    def get(self, args: dict[str, Any]) -> Any:
        """Find customers: fuzzy by name, account, phone, address, line; capacity range."""
        return service.find_customers(
            session=request_session(), actor=current_actor(), filters=args,
            dialect=database().dialect,
        )  # fmt: skip

    @requires(Action.ARCHIVE_EDIT)
    @blp.arguments(CustomerCreateSchema)
    @blp.response(201, CustomerReadSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Open a customer file (version 1), with premises."""
        session, actor = request_session(), current_actor()
        customer = service.open_customer(session=session, actor=actor, data=data)
        return customer_view(session, actor, customer)


@blp.route("/archive/layers/premises")
class PremiseLayer(MethodView):
    """Customers on the map: their premises' points, bbox-filtered, paged (GeoJSON)."""

    @requires(Action.ARCHIVE_READ)
    @blp.arguments(LayerArgsSchema, location="query")
    @blp.doc(responses={"200": json_response(GEOJSON_COLLECTION, "A page", "application/geo+json")})
    def get(self, args: dict[str, Any]) -> Response:
        """One page of the premises in your archive scope that have a point, with their customer's account, name and address."""  # noqa: E501
        body = map_layer.premise_features(
            session=request_session(), actor=current_actor(), dialect=database().dialect,
            bbox=parse_bbox(args.get("bbox")), page=args["page"], page_size=args["page_size"],
        )  # fmt: skip
        return Response(json.dumps(body), mimetype="application/geo+json")


@blp.route("/customers/<uuid:customer_id>")
class CustomerById(MethodView):
    """One customer file: its current view is its latest version."""

    @requires(Action.ARCHIVE_READ, scope=(Customer, "customer_id"))
    @blp.response(200, CustomerReadSchema)
    def get(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Show a customer's current view with premises and meters (the read is logged)."""
        session, actor = request_session(), current_actor()
        customer = service.get_customer(session=session, actor=actor, customer_id=customer_id)
        record_reads(actor, [customer.id], "view")
        return customer_view(session, actor, customer)

    @requires(Action.ARCHIVE_EDIT, scope=(Customer, "customer_id"))
    @blp.arguments(CustomerChangeSchema)
    @blp.response(200, CustomerReadSchema)
    @blp.alt_response(409, description="Edited an older version, or the account is closed")
    def patch(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Change a customer: appends a version (who, when, why, source)."""
        session, actor = request_session(), current_actor()
        changes, meta = _change(data)
        customer = service.change_customer(
            session=session, actor=actor, customer_id=customer_id, changes=changes, **meta
        )
        return customer_view(session, actor, customer)

    # Who may edit the file is told to close it instead; anyone else may not change it at all.
    @requires(Action.ARCHIVE_EDIT, scope=(Customer, "customer_id"))
    @blp.response(204)
    @blp.alt_response(409, description="Customer files are never deleted")
    def delete(self, customer_id: uuid.UUID) -> None:
        """Refused: a customer file is never deleted; close the account instead."""
        service.get_customer(
            session=request_session(), actor=current_actor(), customer_id=customer_id
        )
        raise Conflict(
            "Customer files are never deleted; close the account (POST .../close), which "
            "appends a version."
        )


@blp.route("/customers/<uuid:customer_id>/close")
class CloseCustomer(MethodView):
    """Closing an account."""

    @requires(Action.ARCHIVE_CLOSE, scope=(Customer, "customer_id"))
    @blp.arguments(CloseSchema)
    @blp.response(200, CustomerReadSchema)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Close an account: a new version with status closed."""
        session, actor = request_session(), current_actor()
        customer = service.close_customer(
            session=session, actor=actor, customer_id=customer_id, **data
        )
        return customer_view(session, actor, customer)


@blp.route("/customers/<uuid:customer_id>/history")
class CustomerHistory(MethodView):
    """Every version of a file: the customer, its premises and meters."""

    @requires(Action.ARCHIVE_READ, scope=(Customer, "customer_id"))
    @blp.response(200, VersionSchema(many=True))
    def get(self, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """List a file's versions, oldest first."""
        session, actor = request_session(), current_actor()
        service.get_customer(session=session, actor=actor, customer_id=customer_id)
        record_reads(actor, [customer_id], "history")
        return [version_view(actor, v) for v in versions.history(session, customer_id=customer_id)]


@blp.route("/customers/<uuid:customer_id>/premises")
class CustomerPremises(MethodView):
    """Premises of a customer."""

    @requires(Action.ARCHIVE_EDIT, scope=(Customer, "customer_id"))
    @blp.arguments(PremiseCreateSchema)
    @blp.response(201, PremiseReadSchema)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Add a premise to a customer's file."""
        session, actor = request_session(), current_actor()
        customer = service.get_customer(session=session, actor=actor, customer_id=customer_id)
        return premise_view(
            service.add_premise(session=session, actor=actor, customer=customer, data=data)
        )


@blp.route("/premises/<uuid:premise_id>")
class PremiseById(MethodView):
    """One premise."""

    @requires(Action.ARCHIVE_READ, scope=(Premise, "premise_id"))
    @blp.response(200, PremiseReadSchema)
    def get(self, premise_id: uuid.UUID) -> dict[str, Any]:
        """Show a premise."""
        actor = current_actor()
        premise = service.get_premise(session=request_session(), actor=actor, premise_id=premise_id)
        record_reads(actor, [premise.customer_id], "premise")
        return premise_view(premise)

    @requires(Action.ARCHIVE_EDIT, scope=(Premise, "premise_id"))
    @blp.arguments(PremiseChangeSchema)
    @blp.response(200, PremiseReadSchema)
    def patch(self, data: dict[str, Any], premise_id: uuid.UUID) -> dict[str, Any]:
        """Correct a premise: appends a version."""
        session, actor = request_session(), current_actor()
        require(actor, ArchiveAction.EDIT_CUSTOMER)
        premise = service.get_premise(session=session, actor=actor, premise_id=premise_id)
        changes, meta = _change(data)
        return premise_view(
            service.change_premise(
                session=session, actor=actor, premise=premise, changes=changes, **meta
            )
        )


@blp.route("/premises/<uuid:premise_id>/meters")
class PremiseMeters(MethodView):
    """Meters at a premise."""

    @requires(Action.METER_EDIT, scope=(Premise, "premise_id"))
    @blp.arguments(MeterCreateSchema)
    @blp.response(201, MeterReadSchema)
    @blp.alt_response(
        409,
        description="A seal is on another in-service meter (`seal-taken`), or the number is "
        "another meter's (`meter-number-taken`)",
    )
    def post(self, data: dict[str, Any], premise_id: uuid.UUID) -> dict[str, Any]:
        """Install a meter at a premise."""
        session, actor = request_session(), current_actor()
        reason = data.pop("reason", None) or "meter installed"
        meter = meter_service.add_meter(
            session=session, actor=actor, premise_id=premise_id, data=data, reason=reason
        )
        return meter_view(session, meter)


@blp.route("/meters/<uuid:meter_id>")
class MeterById(MethodView):
    """One meter."""

    @requires(Action.ARCHIVE_READ, scope=(Meter, "meter_id"))
    @blp.response(200, MeterReadSchema)
    def get(self, meter_id: uuid.UUID) -> dict[str, Any]:
        """Show a meter with its replacement and calibration due dates."""
        session = request_session()
        meter = meter_service.get_meter(session=session, actor=current_actor(), meter_id=meter_id)
        record_reads(current_actor(), [meter.customer_id], "meter")
        return meter_view(session, meter)

    @requires(Action.METER_EDIT, scope=(Meter, "meter_id"))
    @blp.arguments(MeterChangeSchema)
    @blp.response(200, MeterReadSchema)
    @blp.alt_response(
        409, description="A seal on another in-service meter (`seal-taken`), or an old version"
    )
    def patch(self, data: dict[str, Any], meter_id: uuid.UUID) -> dict[str, Any]:
        """Change a meter (faults, seals, calibration): appends a version."""
        session, actor = request_session(), current_actor()
        meter = meter_service.get_meter(session=session, actor=actor, meter_id=meter_id)
        changes, meta = _change(data)
        meter_service.change_meter(
            session=session, actor=actor, meter=meter, changes=changes, **meta
        )
        return meter_view(session, meter)


@blp.route("/meters/<uuid:meter_id>/readings")
class MeterReadings(MethodView):
    """A meter's reading history."""

    # Readings are field records: the same role and rule as their sync pull (not every
    # reader of the file: the archivist and the call center read no field records).
    @requires(Action.FIELD_RECORD_READ, scope=(Meter, "meter_id"))
    @blp.response(200, ReadingSchema(many=True))
    def get(self, meter_id: uuid.UUID) -> Any:
        """List the meter's readings you may read (your crews' and your own), newest first."""
        session, actor = request_session(), current_actor()
        meter = meter_service.get_meter(session=session, actor=actor, meter_id=meter_id)
        record_reads(actor, [meter.customer_id], "readings")
        return meter_service.readings(session, meter_id, field_record_filter(actor, MeterReading))


@blp.route("/meter-types")
class MeterTypes(MethodView):
    """Meter types and their replacement / calibration intervals."""

    @requires(Action.ARCHIVE_READ)
    @blp.response(200, MeterTypeSchema(many=True))
    def get(self) -> Any:
        """List meter types."""
        return meter_service.meter_types(request_session())

    @requires(Action.ARCHIVE_CONFIGURE)
    @blp.arguments(MeterTypeSchema)
    @blp.response(200, MeterTypeSchema)
    def put(self, data: dict[str, Any]) -> Any:
        """Create or change a meter type's intervals."""
        return meter_service.set_meter_type(
            session=request_session(), actor=current_actor(), data=data
        )


def _record(kind: str, record_id: uuid.UUID) -> str:
    """Check the caller may read the record and return its entity name."""
    entity = KINDS.get(kind)
    if entity is None:
        raise NotFound(f"No archive records of kind {kind!r}.")
    session, actor = request_session(), current_actor()
    head = session.get(HEADS[entity], record_id)
    if head is None:
        raise NotFound(f"{entity} {record_id} does not exist.")
    customer_id = getattr(head, "customer_id", head.id)
    service.get_customer(session=session, actor=actor, customer_id=customer_id)
    record_reads(actor, [customer_id], "versions")
    return entity


@blp.route("/<string:kind>/<uuid:record_id>/versions")
class RecordVersions(MethodView):
    """The versions of one customer, premise or meter (kind: customers, premises, meters)."""

    @requires(Action.ARCHIVE_READ)
    @blp.response(200, VersionSchema(many=True))
    def get(self, kind: str, record_id: uuid.UUID) -> list[dict[str, Any]]:
        """List a record's versions, oldest first."""
        entity = _record(kind, record_id)
        found = versions.history(request_session(), entity=entity, record_id=record_id)
        return [version_view(current_actor(), v) for v in found]


@blp.route("/<string:kind>/<uuid:record_id>/versions/<int:number>")
class RecordVersion(MethodView):
    """One version; versions are never changed or deleted (no PUT, PATCH or DELETE)."""

    @requires(Action.ARCHIVE_READ)
    @blp.response(200, VersionSchema)
    def get(self, kind: str, record_id: uuid.UUID, number: int) -> dict[str, Any]:
        """Show one version."""
        entity = _record(kind, record_id)
        found = versions.version(request_session(), entity, record_id, number)
        return version_view(current_actor(), found)


@blp.route("/<string:kind>/<uuid:record_id>/diff")
class RecordDiff(MethodView):
    """What changed between two versions."""

    @requires(Action.ARCHIVE_READ)
    @blp.arguments(DiffArgsSchema, location="query")
    @blp.response(200, DiffSchema)
    def get(self, args: dict[str, Any], kind: str, record_id: uuid.UUID) -> dict[str, Any]:
        """Field-level diff between versions `from` and `to`."""
        entity, session, actor = _record(kind, record_id), request_session(), current_actor()
        before = version_view(actor, versions.version(session, entity, record_id, args["from_"]))
        after = version_view(actor, versions.version(session, entity, record_id, args["to"]))
        return {
            "entity": entity,
            "record_id": record_id,
            "from_": args["from_"],
            "to": args["to"],
            "changes": versions.diff(before["data"], after["data"]),
        }
