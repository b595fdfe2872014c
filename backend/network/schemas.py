"""Request and response schemas of the network tree and its GeoJSON layers."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, missing, validate, validates_schema

from backend.archive.access import mask_phone
from backend.imports import ImportOutcomeSchema
from backend.inputs import BBOX_MAX_CHARS, DbInteger, Timestamp, bbox_degrees
from backend.network.geometry import geojson
from sync.fields import Float, Integer

OWNERSHIP = ("public", "dedicated")


class GeometryField(fields.Field):
    """A geometry in: GeoJSON geometry object or WKT text (in `srid`); out: GeoJSON."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return geojson(value)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict | str):
            raise ValidationError("A GeoJSON geometry object or WKT text.")
        if isinstance(value, str) and len(value) > 1_000_000:
            raise ValidationError("Geometry too large.")
        return value


def _no_defaults(schema: Schema) -> None:
    # A change names only what changes: no field is filled in by a default.
    for field in schema.fields.values():
        if field.name != "srid":
            field.load_default = missing


class SwitchPointSchema(Schema):
    """A switch on a line; opening it cuts `section` (default: its code)."""

    code = fields.String(required=True, validate=validate.Length(1, 32))
    name = fields.String(validate=validate.Length(max=120))
    lon = Float(validate=validate.Range(-180, 180), allow_nan=False)
    lat = Float(validate=validate.Range(-90, 90), allow_nan=False)
    section = fields.String(validate=validate.Length(1, 32))


class SubstationSchema(Schema):
    """A substation."""

    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(1, 32))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    voltage = fields.String(allow_none=True, validate=validate.Length(max=16))
    department_id = DbInteger(load_default=None)
    location = GeometryField(allow_none=True, load_default=None)
    srid = Integer(load_only=True, load_default=4326, validate=validate.Range(1024, 998999))


class LineSchema(Schema):
    """A feeder line: route (LineString), voltage, switch points."""

    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(1, 32))
    name = fields.String(required=True, validate=validate.Length(1, 120))
    voltage = fields.String(required=True, validate=validate.Length(1, 16))
    substation_id = fields.UUID(allow_none=True, load_default=None)
    department_id = DbInteger(load_default=None)
    region_code = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=32)
    )
    route = GeometryField(required=True)
    switch_points = fields.List(
        fields.Nested(SwitchPointSchema), load_default=list, validate=validate.Length(max=500)
    )
    srid = Integer(load_only=True, load_default=4326, validate=validate.Range(1024, 998999))
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class LineChangeSchema(LineSchema):
    """Changes to a line (any subset of its fields)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)
        _no_defaults(self)


class AreaSchema(Schema):
    """A transformer area (台区): its point and/or polygon, line, section and capacity."""

    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(1, 32))
    name = fields.String(required=True, validate=validate.Length(1, 120))
    line_id = fields.UUID(required=True)
    section = fields.String(allow_none=True, load_default=None, validate=validate.Length(1, 32))
    capacity_kva = Float(
        required=True, allow_nan=False, validate=validate.Range(min=0, min_inclusive=False)
    )
    ownership = fields.String(required=True, validate=validate.OneOf(OWNERSHIP))
    department_id = DbInteger(load_default=None)
    region_code = fields.String(
        allow_none=True, load_default=None, validate=validate.Length(max=32)
    )
    location = GeometryField(allow_none=True, load_default=None)
    boundary = GeometryField(allow_none=True, load_default=None)
    srid = Integer(load_only=True, load_default=4326, validate=validate.Range(1024, 998999))
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)


class AreaChangeSchema(AreaSchema):
    """Changes to a transformer area."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, **kwargs)
        _no_defaults(self)


class CountsSchema(Schema):
    """Customers under a node and how many are flagged."""

    customers = Integer()
    important = Integer()
    high_risk = Integer()


class AreaNodeSchema(CountsSchema):
    """One area of a line's tree."""

    area = fields.Nested(AreaSchema)


class LineTreeSchema(CountsSchema):
    """A line, its areas and the customers under them."""

    line = fields.Nested(LineSchema)
    area_count = Integer()
    areas = fields.List(fields.Nested(AreaNodeSchema))


class AreaCustomerSchema(Schema):
    """A customer under an area, with its flags."""

    id = fields.UUID()
    account_number = fields.String()
    name = fields.String()
    status = fields.String()
    important = fields.Boolean()
    high_risk = fields.Boolean()


class AreaCustomerArgsSchema(Schema):
    """Filters of an area's customers."""

    flagged_only = fields.Boolean(load_default=False)


class FlagSchema(Schema):
    """Important / high-risk marks on a customer."""

    customer_id = fields.UUID(dump_only=True)
    important = fields.Boolean()
    high_risk = fields.Boolean()
    note = fields.String(allow_none=True, validate=validate.Length(max=400))
    updated_at = Timestamp(dump_only=True)
    updated_by = fields.String(dump_only=True)


class LayerArgsSchema(Schema):
    """A layer page: optional bbox, page and page size."""

    bbox = fields.String(
        validate=validate.Length(max=BBOX_MAX_CHARS),
        metadata={"description": "west,south,east,north (WGS-84 degrees)"},
    )
    page = Integer(load_default=1, validate=validate.Range(1, 100_000))
    page_size = Integer(load_default=500, validate=validate.Range(1, 5000))

    @validates_schema
    def _check_bbox(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "bbox" in data:
            bbox_degrees(data["bbox"])


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """Return the bbox query argument as four floats (validated by `LayerArgsSchema`)."""
    return bbox_degrees(value) if value else None


OUTAGE_STATES = ("predicted", "confirmed", "partially_restored", "restored", "closed")


class OutageCreateSchema(Schema):
    """A new outage on a line, a line section or a transformer area."""

    kind = fields.String(required=True, validate=validate.OneOf(("planned", "unplanned")))
    scope = fields.String(required=True, validate=validate.OneOf(("line", "section", "area")))
    line_id = fields.UUID(load_default=None)
    section = fields.String(load_default=None, validate=validate.Length(1, 32))
    area_id = fields.UUID(load_default=None)
    status = fields.String(load_default="confirmed", validate=validate.OneOf(OUTAGE_STATES[:2]))
    reason = fields.String(required=True, validate=validate.Length(1, 400))
    starts_at = Timestamp(required=True)
    planned_end_at = Timestamp(required=True)


class OutageAreaSchema(Schema):
    """One area an outage cuts."""

    area_id = fields.UUID()
    customer_count = Integer()
    restored_at = Timestamp(allow_none=True)


class OutageSchema(Schema):
    """An outage and what it cuts."""

    id = fields.UUID()
    number = fields.String()
    kind = fields.String()
    scope = fields.String()
    line_id = fields.UUID()
    section = fields.String(allow_none=True)
    area_id = fields.UUID(allow_none=True)
    status = fields.String()
    reason = fields.String()
    starts_at = Timestamp()
    planned_end_at = Timestamp()
    restored_at = Timestamp(allow_none=True)
    restored_by = fields.String(allow_none=True)
    closed_at = Timestamp(allow_none=True)
    department_id = Integer()
    created_by = fields.String()
    created_at = Timestamp()
    areas = fields.List(fields.Nested(OutageAreaSchema))
    customer_count = Integer()


class OutageFilterSchema(Schema):
    """Outage list filters."""

    active_only = fields.Boolean(load_default=False)


class OutageMoveSchema(Schema):
    """Move an outage: `partially_restored` names the areas restored."""

    to = fields.String(required=True, validate=validate.OneOf(OUTAGE_STATES))
    area_ids = fields.List(fields.UUID(), load_default=None, validate=validate.Length(1, 10_000))


class OutageExtendSchema(Schema):
    """A new planned end."""

    planned_end_at = Timestamp(required=True)


class OutageCustomerSchema(AreaCustomerSchema):
    """A customer an outage cuts."""

    restored_at = Timestamp(allow_none=True)


class NotificationSchema(Schema):
    """One message to a flagged customer (the phone masked but for its last digits)."""

    id = Integer()
    customer_id = fields.UUID()
    kind = fields.String()
    important = fields.Boolean()
    high_risk = fields.Boolean()
    phone = fields.Function(lambda n: mask_phone(n.phone))
    message = fields.String()
    channel = fields.String()
    status = fields.String(metadata={"description": "pending (outbox), sent, failed, no_phone"})
    attempts = Integer()
    sent_at = Timestamp(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = Timestamp()


class RegionCodeSchema(Schema):
    """A region code and its service contact."""

    code = fields.String(required=True, validate=validate.Length(1, 32))
    name = fields.String(required=True, validate=validate.Length(1, 120))
    service_contact = fields.String(required=True, validate=validate.Length(1, 120))
    service_phone = fields.String(required=True, validate=validate.Length(1, 32))
    department_id = DbInteger(load_default=None, allow_none=True)
    updated_at = Timestamp(dump_only=True)


class RegionChangeSchema(RegionCodeSchema):
    """Changes to a region (not its code)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(partial=True, exclude=("code",), **kwargs)
        _no_defaults(self)


class QuickQueryArgsSchema(Schema):
    """The caller's account number, phone, name or address."""

    q = fields.String(required=True, validate=validate.Length(1, 200))


class _Ref(Schema):
    id = fields.UUID()
    code = fields.String()
    name = fields.String()


class PlaceSchema(Schema):
    """Where a customer is supplied from."""

    premise_id = fields.UUID()
    address = fields.String()
    line = fields.Nested(_Ref, allow_none=True)
    line_name = fields.String(allow_none=True)
    area = fields.Nested(_Ref, allow_none=True)


class OutageBriefSchema(Schema):
    """An outage as the desk tells it."""

    id = fields.UUID()
    number = fields.String()
    kind = fields.String()
    status = fields.String()
    reason = fields.String()
    starts_at = Timestamp()
    planned_end_at = Timestamp()


class _CustomerRef(Schema):
    id = fields.UUID()
    account_number = fields.String()
    name = fields.String()
    region_code = fields.String()


class QuickMatchSchema(Schema):
    """One customer the query matched, with the answer."""

    customer = fields.Nested(_CustomerRef)
    important = fields.Boolean()
    high_risk = fields.Boolean()
    repeat_offender = fields.Boolean(
        metadata={"description": "confirmed theft/violation cases reach the repeat threshold"}
    )
    places = fields.List(fields.Nested(PlaceSchema))
    out_now = fields.Boolean()
    outage = fields.Nested(OutageBriefSchema, allow_none=True)
    upcoming = fields.List(fields.Nested(OutageBriefSchema))
    service_contact = fields.Nested(RegionCodeSchema, allow_none=True)


class QuickAnswerSchema(Schema):
    """The quick query's answer (best match first)."""

    query = fields.String()
    at = Timestamp()
    matches = fields.List(fields.Nested(QuickMatchSchema))


class SuggestionCallSchema(Schema):
    """A call grouped under a suggestion."""

    order_id = fields.UUID()
    area_id = fields.UUID()
    held = fields.Boolean(metadata={"description": "waiting for the decision (not issued)"})
    linked_at = Timestamp()


class SuggestionSchema(Schema):
    """A probable outage raised by repeated calls, for the dispatcher to decide."""

    id = Integer()
    level = fields.String(metadata={"description": "area | line"})
    line_id = fields.UUID()
    area_id = fields.UUID(allow_none=True)
    call_count = Integer()
    first_call_at = Timestamp()
    last_call_at = Timestamp()
    status = fields.String(metadata={"description": "open | confirmed | dismissed"})
    outage_id = fields.UUID(allow_none=True)
    department_id = Integer()
    decided_by = fields.String(allow_none=True)
    decided_at = Timestamp(allow_none=True)
    note = fields.String(allow_none=True)
    calls = fields.List(fields.Nested(SuggestionCallSchema))


class SuggestionFilterSchema(Schema):
    """Suggestion list filters."""

    status = fields.String(
        load_default=None, validate=validate.OneOf(("open", "confirmed", "dismissed"))
    )


class SuggestionConfirmSchema(Schema):
    """Confirm a probable outage: it becomes an outage on its area or line."""

    kind = fields.String(
        load_default="unplanned", validate=validate.OneOf(("planned", "unplanned"))
    )
    reason = fields.String(required=True, validate=validate.Length(1, 400))
    starts_at = Timestamp(load_default=None, metadata={"description": "default: the first call"})
    planned_end_at = Timestamp(required=True)
    note = fields.String(load_default=None, validate=validate.Length(max=400))


class SuggestionDismissSchema(Schema):
    """Dismiss a probable outage (the held calls go back to the queue)."""

    note = fields.String(load_default=None, validate=validate.Length(max=400))


class SuggestionDecisionSchema(Schema):
    """A decided suggestion and, when confirmed, its outage."""

    suggestion = fields.Nested(SuggestionSchema)
    outage = fields.Nested(OutageSchema, allow_none=True)


NODE_KINDS = ("junction", "valve", "hydrant", "source", "monitoring_point")


class WaterNodeSchema(Schema):
    """A valve, hydrant, source, monitoring point or junction of the pipe network."""

    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(1, 32))
    kind = fields.String(required=True, validate=validate.OneOf(NODE_KINDS))
    name = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=120))
    location = GeometryField(required=True)
    valve_open = fields.Boolean(
        load_default=None, allow_none=True, metadata={"description": "valves only (default open)"}
    )
    attributes = fields.Dict(
        load_default=dict, metadata={"description": 'e.g. {"measures": ["pressure"]}'}
    )
    department_id = DbInteger(load_default=None)
    srid = Integer(load_only=True, load_default=4326, validate=validate.Range(1024, 998999))
    created_at = Timestamp(dump_only=True)


class WaterNodeFilterSchema(Schema):
    """Node list filters."""

    kind = fields.String(load_default=None, validate=validate.OneOf(NODE_KINDS))


class WaterPipeSchema(Schema):
    """A pipe between two nodes."""

    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Length(1, 32))
    from_node_id = fields.UUID(required=True)
    to_node_id = fields.UUID(required=True)
    route = GeometryField(required=True)
    diameter_mm = Integer(required=True, strict=True, validate=validate.Range(10, 5000))
    material = fields.String(required=True, validate=validate.Length(1, 32))
    department_id = DbInteger(load_default=None)
    srid = Integer(load_only=True, load_default=4326, validate=validate.Range(1024, 998999))
    created_at = Timestamp(dump_only=True)
    orders = fields.List(fields.UUID(), dump_only=True, metadata={"description": "repair orders"})


class _NodeRef(Schema):
    id = fields.UUID()
    code = fields.String()
    kind = fields.String()
    name = fields.String(allow_none=True)
    location = GeometryField()
    valve_open = fields.Boolean(allow_none=True)


class _PipeRef(Schema):
    id = fields.UUID()
    code = fields.String()
    diameter_mm = Integer()
    material = fields.String()


class IsolationSchema(Schema):
    """The valves that isolate a pipe, and what goes dry."""

    pipe = fields.Nested(_PipeRef)
    isolable = fields.Boolean(
        metadata={"description": "false: a source feeds the segment past every valve"}
    )
    valves = fields.List(fields.Nested(_NodeRef), metadata={"description": "close these"})
    already_closed = fields.List(fields.Nested(_NodeRef))
    sources_reached = fields.List(fields.Nested(_NodeRef))
    pipes = fields.List(fields.Nested(_PipeRef), metadata={"description": "run dry"})
    cut_off = fields.List(
        fields.Nested(_PipeRef),
        metadata={"description": "beyond the closed valves, fed only through them: dry too"},
    )
    hydrants_out = fields.List(
        fields.Nested(_NodeRef), metadata={"description": "on the pipes above or cut off"}
    )


class NetworkImportFormSchema(Schema):
    """What the file holds and how to read it."""

    kind = fields.String(
        required=True,
        validate=validate.OneOf(
            ("lines", "areas", "water-nodes", "water-pipes", "customer-links", "region-codes")
        ),
    )
    srid = Integer(load_default=4326, validate=validate.Range(1024, 998999))
    dry_run = fields.Boolean(load_default=False)
    encoding = fields.String(load_default=None, validate=validate.OneOf(("utf-8", "gbk")))


class NetworkImportFileSchema(Schema):
    """The uploaded file (GeoJSON, CSV or XLSX)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class NetworkImportSchema(ImportOutcomeSchema):
    """The outcome: `committed`, `validated` (dry run) — or a 422 with `row_errors`.

    A row is the sheet row, or the feature number in a GeoJSON file.
    """

    kind = fields.String()
    status = fields.String()
    updated_rows = Integer()
    would_create = Integer()
    would_update = Integer()
