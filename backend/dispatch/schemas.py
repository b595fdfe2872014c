"""Request and response schemas for work orders, timing events, alerts and availability."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from backend.dispatch.timing.sla import EventSource
from backend.inputs import (
    DbInteger,
    PointField,
    StreamTicketArgs,
    Timestamp,
    not_ahead_of_server,
)
from backend.org.models import Specialty
from sync.fields import Float, Integer

ORDER_TYPES = ["electric", "water"]
SPECIALTIES = [s.value for s in Specialty]
CREW_POINTS = ["E", "F", "G", "H", "finished"]


class WorkOrderCreateSchema(Schema):
    """A repair call taken by the call center; name a repair center to issue it at once."""

    id = fields.UUID(load_default=None)
    order_type = fields.String(required=True, validate=validate.OneOf(ORDER_TYPES))
    priority = Integer(load_default=2, validate=validate.Range(1, 3), strict=True)
    region_code = fields.String(load_default=None, validate=validate.Length(1, 32))
    caller_name = fields.String(load_default=None, validate=validate.Length(max=200))
    caller_phone = fields.String(load_default=None, validate=validate.Length(max=32))
    customer_id = fields.UUID(load_default=None, metadata={"description": "Archive account"})
    premise_id = fields.UUID(load_default=None, metadata={"description": "Archive premise"})
    address = fields.String(load_default=None, validate=validate.Length(max=400))
    location = PointField(load_default=None, allow_none=True)
    fault_type = fields.String(required=True, validate=validate.Length(1, 64))
    specialty = fields.String(required=True, validate=validate.OneOf(SPECIALTIES))
    voltage_level = fields.String(load_default=None, validate=validate.Length(max=16))
    description = fields.String(load_default=None, validate=validate.Length(max=4000))
    hung_up_at = Timestamp(required=True, metadata={"description": "Point A"})
    call_center_id = DbInteger(load_default=None, strict=True)
    repair_center_id = DbInteger(load_default=None, strict=True)
    issued_at = Timestamp(load_default=None, metadata={"description": "Point B"})
    water_asset_id = fields.UUID(
        load_default=None, metadata={"description": "Water orders: the pipe or node at fault"}
    )


class WorkOrderReadSchema(Schema):
    """A work order."""

    id = fields.UUID()
    number = fields.String()
    order_type = fields.String()
    status = fields.String()
    priority = Integer()
    region_code = fields.String()
    caller_name = fields.String(allow_none=True)
    caller_phone = fields.String(allow_none=True)
    customer_id = fields.UUID(allow_none=True)
    premise_id = fields.UUID(allow_none=True)
    address = fields.String(allow_none=True)
    location = PointField(allow_none=True)
    fault_type = fields.String()
    specialty = fields.String()
    voltage_level = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    department_id = DbInteger()
    call_center_id = DbInteger()
    repair_center_id = DbInteger(allow_none=True)
    crew_id = DbInteger(allow_none=True)
    vehicle_id = DbInteger(allow_none=True)
    queue_position = Integer(allow_none=True)
    same_site = fields.Boolean(allow_none=True)
    dispatch_round = Integer()
    follow_up_result = fields.String(allow_none=True)
    follow_up_satisfied = fields.Boolean(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()
    closed_at = Timestamp(allow_none=True)
    version = Integer()


class OrderFilterSchema(Schema):
    """Filters for the order list."""

    status = fields.String()
    crew_id = DbInteger()
    vehicle_id = DbInteger()
    repair_center_id = DbInteger()
    order_type = fields.String()
    open = fields.Boolean()


class IssueSchema(Schema):
    """Issue to a repair center."""

    repair_center_id = DbInteger(required=True, strict=True)
    issued_at = Timestamp(load_default=None)


class RepairCenterSchema(Schema):
    """A repair center an order may be issued to: just enough to choose it."""

    id = DbInteger()
    code = fields.String()
    name = fields.String()
    region_code = fields.String(allow_none=True)
    site = PointField(allow_none=True)


class DispatchSchema(Schema):
    """Dispatch to a crew and (optionally a named) vehicle of that crew."""

    crew_id = DbInteger(required=True, strict=True)
    vehicle_id = DbInteger(load_default=None, strict=True)


class RecallSchema(Schema):
    """Recall a misrouted order."""

    reason = fields.String(required=True, validate=validate.Length(1, 400))


class ReassignSchema(DispatchSchema):
    """Recall from the current crew and dispatch to another."""

    reason = fields.String(required=True, validate=validate.Length(1, 400))


class TimingEventCreateSchema(Schema):
    """A crew-side timing point; `event_id` makes retries idempotent."""

    event_id = fields.String(load_default=None, validate=validate.Length(1, 64))
    point = fields.String(required=True, validate=validate.OneOf(CREW_POINTS))
    occurred_at = Timestamp(required=True)
    source = fields.String(
        load_default=EventSource.MANUAL.value,
        validate=validate.OneOf([s.value for s in EventSource]),
    )
    details = fields.Dict(load_default=dict)


class TimingEventReadSchema(Schema):
    """A stored timing or lifecycle event."""

    id = fields.UUID()
    event_id = fields.String()
    point = fields.String()
    occurred_at = Timestamp()
    recorded_at = Timestamp()
    device_time = Timestamp(allow_none=True)
    source = fields.String()
    actor = fields.String()
    dispatch_round = Integer()
    backfilled = fields.Boolean()
    clock_corrected = fields.Boolean()
    crew_id = DbInteger(allow_none=True)
    details = fields.Dict()


class SegmentSchema(Schema):
    """One measured segment (or the A->H total)."""

    segment = fields.String()
    status = fields.String()
    started_at = Timestamp(allow_none=True)
    ended_at = Timestamp(allow_none=True)
    duration_s = Float(allow_none=True)
    limit_s = Float()
    percent_used = Float(allow_none=True)
    color = fields.String(allow_none=True)
    breached = fields.Boolean()
    clock_inconsistent = fields.Boolean()
    responsible = fields.String(allow_none=True)
    responsible_department_id = DbInteger(allow_none=True)


class TimelineSchema(Schema):
    """An order's computed timeline."""

    order_id = fields.UUID()
    same_site = fields.Boolean()
    points = fields.Dict(keys=fields.String(), values=Timestamp(allow_none=True))
    segments = fields.List(fields.Nested(SegmentSchema))
    total = fields.Nested(SegmentSchema)
    breaches = fields.List(fields.Dict())


class FaultRecordSchema(Schema):
    """What the crew found and did."""

    id = fields.UUID(dump_only=True)
    order_id = fields.UUID(dump_only=True)
    cause = fields.String(required=True, validate=validate.Length(1, 200))
    actions_taken = fields.String(load_default=None, validate=validate.Length(max=4000))
    equipment = fields.String(load_default=None, validate=validate.Length(max=200))
    materials = fields.List(fields.String(validate=validate.Length(1, 200)), load_default=list)
    restored_at = Timestamp(load_default=None, validate=not_ahead_of_server)
    filled_by = fields.String(dump_only=True)
    filled_at = Timestamp(dump_only=True)
    version = Integer(dump_only=True)


class FollowUpSchema(Schema):
    """The customer follow-up call."""

    result = fields.String(required=True, validate=validate.Length(1, 2000))
    satisfied = fields.Boolean(required=True)


class QueueSchema(Schema):
    """A vehicle's open orders in working order."""

    order_ids = fields.List(fields.UUID(), required=True)


class CandidateVehicleSchema(Schema):
    """One of the crew's vehicles, with its distance to the fault (None: no recent position)."""

    id = DbInteger()
    plate = fields.String()
    distance_m = Float(allow_none=True)
    eta_min = Float(allow_none=True)


class CandidateSchema(Schema):
    """A crew that may take the order; distance and ETA are those of its nearest vehicle."""

    crew_id = DbInteger()
    crew_name = fields.String()
    department_id = DbInteger()
    load = Integer()
    same_site = fields.Boolean()
    distance_m = Float(
        allow_none=True, metadata={"description": "metres to the fault; null: no recent fix"}
    )
    eta_min = Float(
        allow_none=True, metadata={"description": "estimated driving minutes; null: no recent fix"}
    )
    vehicles = fields.List(fields.Nested(CandidateVehicleSchema))


class AvailabilitySchema(Schema):
    """Stand down (with a reason) or back on standby."""

    available = fields.Boolean(required=True)
    reason = fields.String(load_default=None, validate=validate.Length(1, 200))


class CrewStatusSchema(Schema):
    """A crew's availability."""

    crew_id = DbInteger()
    available = fields.Boolean()
    reason = fields.String(allow_none=True)
    since = Timestamp(
        allow_none=True, metadata={"description": "null until the crew first reports"}
    )
    changed_by = fields.String()


class AlertSchema(Schema):
    """An acceptance escalation, or an archive deadline's reminder (tier `archive`)."""

    id = Integer()
    order_id = fields.UUID(allow_none=True, metadata={"description": "null for tier archive"})
    tier = fields.String()
    stage = Integer()
    dispatch_round = Integer()
    department_id = DbInteger()
    phones = fields.List(fields.String())
    message = fields.String()
    due_at = Timestamp()
    created_at = Timestamp()
    acknowledged_at = Timestamp(allow_none=True)
    acknowledged_by = fields.String(allow_none=True)
    settled_at = Timestamp(allow_none=True)


class AlertFilterSchema(Schema):
    """Alert list filters."""

    open = fields.Boolean(load_default=False)


class StreamArgsSchema(StreamTicketArgs):
    """Live feed options."""

    after = DbInteger(load_default=None)
    max_seconds = Float(load_default=300.0, validate=validate.Range(0, 3600))
    poll_seconds = Float(load_default=1.0, validate=validate.Range(0.05, 60))


class SlaPolicySchema(Schema):
    """SLA limits (minutes) and responsible parties; see `SlaPolicy.to_dict`."""

    version = Integer(load_default=1)
    limits_minutes = fields.Dict(keys=fields.String(), values=Float(), required=True)
    responsible = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class SlaPolicyReadSchema(SlaPolicySchema):
    """A stored policy."""

    region_code = fields.String()
    order_type = fields.String()


def dump_segment(segment: Any, department_id: int | None) -> dict[str, Any]:
    """Turn an engine `SegmentResult` into the wire form."""
    return {
        "segment": segment.segment,
        "status": str(segment.status),
        "started_at": segment.started_at,
        "ended_at": segment.ended_at,
        "duration_s": segment.duration.total_seconds() if segment.duration is not None else None,
        "limit_s": segment.limit.total_seconds(),
        "percent_used": round(segment.percent_used, 2)
        if segment.percent_used is not None
        else None,
        "color": str(segment.color) if segment.color else None,
        "breached": segment.breached,
        "clock_inconsistent": segment.clock_inconsistent,
        "responsible": str(segment.responsible) if segment.responsible else None,
        "responsible_department_id": department_id,
    }
