"""Request and response schemas of plans, tasks, checklists, hazards, meters and reminders."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from backend.archive.vocab import VOLTAGE_LEVELS, CustomerType
from backend.inputs import Timestamp, not_ahead_of_server
from backend.inspection.checklists import ITEM_KINDS
from backend.inspection.hazards import CATEGORIES, RESOLUTIONS, SEVERITIES
from backend.inspection.meter_field import EVENT_KINDS, FAULTS
from sync.entities import REGISTER_MAXIMUM
from sync.fields import Float, Integer

KEY = validate.Regexp(r"^[a-z][a-z0-9_]{0,63}$", error="lower-case letters, digits and _")
EQUIPMENT = fields.String(required=True, validate=KEY)
REASONS = ("campaign", "complaint", "meter_anomaly")


def _answers(value: dict[str, Any]) -> None:
    if len(value) > 100:
        raise ValidationError("At most 100 answers.")
    for key, answer in value.items():
        if len(key) > 64:
            raise ValidationError("Checklist keys are at most 64 characters.")
        if answer is not None and not isinstance(answer, bool | int | float | str):
            raise ValidationError(f"{key}: true/false, a number, a choice or text.")
        if isinstance(answer, str) and len(answer) > 400:
            raise ValidationError(f"{key}: at most 400 characters.")
        if isinstance(answer, float) and answer != answer:  # NaN
            raise ValidationError(f"{key}: a finite number.")


class EquipmentChecklistItemSchema(Schema):
    """One item of a checklist."""

    key = fields.String(required=True, validate=KEY)
    label = fields.String(required=True, validate=validate.Length(1, 400))
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    choices = fields.List(
        fields.String(validate=validate.Length(1, 40)), load_default=list,
        validate=validate.Length(max=20),
    )  # fmt: skip
    required = fields.Boolean(load_default=True)


class ChecklistCreateSchema(Schema):
    """The next version of an equipment type's checklist."""

    title = fields.String(required=True, validate=validate.Length(1, 200))
    items = fields.List(
        fields.Nested(EquipmentChecklistItemSchema), required=True, validate=validate.Length(1, 100)
    )


class ChecklistSchema(Schema):
    """One version of a checklist."""

    equipment_type = fields.String()
    version = Integer()
    title = fields.String()
    items = fields.List(fields.Nested(EquipmentChecklistItemSchema))
    created_by = fields.String()
    created_at = Timestamp()


class PlanCreateSchema(Schema):
    """A periodic or special inspection plan."""

    name = fields.String(required=True, validate=validate.Length(1, 200))
    kind = fields.String(required=True, validate=validate.OneOf(["periodic", "special"]))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REASONS))
    department_id = Integer(required=True, validate=validate.Range(1, 2**31 - 1))
    customer_types = fields.List(
        fields.String(validate=validate.OneOf([t.value for t in CustomerType])), load_default=list
    )
    voltage_levels = fields.List(
        fields.String(validate=validate.OneOf(VOLTAGE_LEVELS)), load_default=list
    )
    important_only = fields.Boolean(load_default=False)
    customer_ids = fields.List(fields.UUID(), load_default=list, validate=validate.Length(max=500))
    interval_days = Integer(load_default=None, allow_none=True, validate=validate.Range(1, 3660))
    due_days = Integer(load_default=14, validate=validate.Range(0, 365))
    equipment_type = EQUIPMENT
    inspector_ids = fields.List(
        Integer(validate=validate.Range(1, 2**31 - 1)), required=True,
        validate=validate.Length(1, 50),
    )  # fmt: skip


class PlanSchema(Schema):
    """A plan as stored."""

    id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    reason = fields.String(allow_none=True)
    department_id = Integer()
    customer_types = fields.List(fields.String())
    voltage_levels = fields.List(fields.String())
    important_only = fields.Boolean()
    customer_ids = fields.List(fields.String())
    interval_days = Integer(allow_none=True)
    due_days = Integer()
    equipment_type = fields.String()
    inspector_ids = fields.List(Integer())
    active = fields.Boolean()
    created_by = fields.String()
    created_at = Timestamp()
    last_generated_at = Timestamp(allow_none=True)


class TaskSchema(Schema):
    """An inspection task."""

    id = fields.UUID()
    number = fields.String()
    plan_id = fields.UUID(allow_none=True)
    kind = fields.String()
    reason = fields.String(allow_none=True)
    department_id = Integer()
    inspector_id = Integer()
    customer_id = fields.UUID()
    premise_id = fields.UUID()
    meter_id = fields.UUID(allow_none=True)
    equipment_type = fields.String()
    checklist_version = Integer()
    due_at = Timestamp()
    status = fields.String()
    inspection_id = fields.UUID(allow_none=True)
    hazard_id = fields.UUID(allow_none=True)
    anomaly_id = fields.UUID(allow_none=True)
    note = fields.String(allow_none=True)
    created_at = Timestamp()
    completed_at = Timestamp(allow_none=True)


class GenerationSchema(Schema):
    """What a generation run did."""

    plan_id = fields.UUID()
    premises = Integer()
    created = Integer()
    skipped = Integer()
    progress = Float(metadata={"description": "0..1; 1.0 when the reply arrives"})
    tasks = fields.List(fields.Nested(TaskSchema))


class TaskArgsSchema(Schema):
    """Filters of the task list."""

    status = fields.String(validate=validate.OneOf(["open", "in_progress", "done", "cancelled"]))
    kind = fields.String(validate=validate.OneOf(["periodic", "special"]))
    plan_id = fields.UUID()
    premise_id = fields.UUID()
    inspector_id = Integer(validate=validate.Range(1, 2**31 - 1))
    overdue = fields.Boolean()


class TaskResultSchema(Schema):
    """A task's result recorded over REST (a submitted inspection)."""

    checklist = fields.Dict(
        keys=fields.String(), values=fields.Raw(allow_none=True), load_default=dict,
        validate=_answers,
    )  # fmt: skip
    result = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class InspectionSchema(Schema):
    """An inspection as recorded."""

    id = fields.UUID()
    status = fields.String()
    result = fields.String(allow_none=True)
    checklist = fields.Dict()
    notes = fields.String(allow_none=True)
    premise_id = fields.UUID(allow_none=True)
    customer_id = fields.UUID(allow_none=True)
    task_id = fields.UUID(allow_none=True)
    created_by = fields.String()
    occurred_at = Timestamp()


class CancelSchema(Schema):
    """Why a task is cancelled."""

    reason = fields.String(required=True, validate=validate.Length(1, 1000))


class HazardCreateSchema(Schema):
    """A hazard found on site (REST; handhelds push the same fields)."""

    inspection_id = fields.UUID(load_default=None, allow_none=True)
    task_id = fields.UUID(load_default=None, allow_none=True)
    premise_id = fields.UUID(load_default=None, allow_none=True)
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    description = fields.String(required=True, validate=validate.Length(1, 4000))
    photo_sha256 = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$")
    )
    lat = Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    lon = Float(load_default=None, allow_none=True, validate=validate.Range(-180, 180))
    reading = Float(
        load_default=None, allow_none=True, validate=validate.Range(0, REGISTER_MAXIMUM)
    )


class HazardSchema(Schema):
    """A hazard with its notice and follow-up."""

    id = fields.UUID()
    number = fields.String()
    department_id = Integer()
    inspection_id = fields.UUID(allow_none=True)
    task_id = fields.UUID(allow_none=True)
    premise_id = fields.UUID()
    customer_id = fields.UUID()
    severity = fields.String()
    category = fields.String()
    description = fields.String()
    photo_sha256 = fields.String(allow_none=True)
    lat = Float(allow_none=True)
    lon = Float(allow_none=True)
    reading = Float(allow_none=True)
    status = fields.String()
    notice_number = fields.String(allow_none=True)
    notice_served_at = Timestamp(allow_none=True)
    notice_served_by = fields.String(allow_none=True)
    rectify_by = Timestamp(allow_none=True)
    follow_up_task_id = fields.UUID(allow_none=True)
    resolved_at = Timestamp(allow_none=True)
    resolution = fields.String(allow_none=True)
    created_by = fields.String()
    occurred_at = Timestamp()


class HazardArgsSchema(Schema):
    """Filters of the hazard list."""

    status = fields.String(
        validate=validate.OneOf(["open", "notified", "rectified", "unrectified"])
    )
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    premise_id = fields.UUID()
    customer_id = fields.UUID()


class NoticeSchema(Schema):
    """A hazard notice: the rectification deadline."""

    rectify_by = Timestamp(required=True)
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class HazardResolveSchema(Schema):
    """The follow-up's outcome."""

    resolution = fields.String(required=True, validate=validate.OneOf(RESOLUTIONS))


class MeterEventCreateSchema(Schema):
    """A seal applied or removed, a fault found or cleared."""

    kind = fields.String(required=True, validate=validate.OneOf(EVENT_KINDS))
    seal_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 32))
    fault = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(FAULTS))
    photo_sha256 = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$")
    )
    inspection_id = fields.UUID(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))
    occurred_at = Timestamp(load_default=None, allow_none=True, validate=not_ahead_of_server)


class MeterEventSchema(Schema):
    """A meter event as kept."""

    id = fields.UUID()
    meter_id = fields.UUID()
    kind = fields.String()
    seal_number = fields.String(allow_none=True)
    fault = fields.String(allow_none=True)
    photo_sha256 = fields.String(allow_none=True)
    inspection_id = fields.UUID(allow_none=True)
    note = fields.String(allow_none=True)
    meter_version_no = Integer(allow_none=True)
    created_by = fields.String()
    occurred_at = Timestamp()


class RemoteReadingSchema(Schema):
    """One remote reading from the metering system."""

    meter_id = fields.UUID(required=True)
    value = Float(required=True, validate=validate.Range(0, REGISTER_MAXIMUM))
    read_at = Timestamp(required=True, validate=not_ahead_of_server)


class RemoteImportSchema(Schema):
    """A batch of remote readings."""

    readings = fields.List(
        fields.Nested(RemoteReadingSchema), required=True, validate=validate.Length(1, 5000)
    )


class RemoteImportResultSchema(Schema):
    """What the import stored and raised."""

    stored = Integer()
    meters = Integer()
    anomalies = Integer()
    progress = Float()
    anomaly_ids = fields.List(fields.UUID())


class AnomalySchema(Schema):
    """A remote-vs-manual divergence."""

    id = fields.UUID()
    meter_id = fields.UUID()
    department_id = Integer()
    manual_reading_id = fields.UUID()
    remote_reading_id = fields.UUID()
    manual_value = Float()
    remote_value = Float()
    difference = Float()
    tolerance = Float()
    detected_at = Timestamp()
    task_id = fields.UUID(allow_none=True)
    status = fields.String()


class ReminderSchema(Schema):
    """A reminder the worker derived."""

    id = Integer()
    subject = fields.String()
    subject_id = fields.UUID()
    kind = fields.String()
    due_at = Timestamp()
    department_id = Integer()
    recipient_id = Integer(allow_none=True)
    message = fields.String()
    created_at = Timestamp()
