"""Request and response schemas of inspection cases."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from backend.inputs import Timestamp
from backend.inspection.procedure import CASE_KINDS, ENFORCEMENT_ACTIONS, ORDER, OUTCOMES
from sync.fields import Decimal, Integer


def _money(value: Any) -> None:
    # A function, not validate.Range: a range on a string-typed amount is invalid OpenAPI.
    if not 0 <= value < 10**11:
        raise ValidationError("An amount from 0 to 99,999,999,999.99.")


MONEY = {"as_string": True, "places": 2, "validate": _money, "allow_nan": False}


def _answers(value: dict[str, Any]) -> None:
    if len(value) > 50:
        raise ValidationError("At most 50 checklist answers.")
    for key, answer in value.items():
        if len(key) > 64:
            raise ValidationError("Checklist keys are at most 64 characters.")
        if not isinstance(answer, bool) and not (isinstance(answer, str) and len(answer) <= 40):
            raise ValidationError(f"{key}: an answer is true/false or a choice (text).")


class CaseCreateSchema(Schema):
    """A new theft or violation case."""

    kind = fields.String(required=True, validate=validate.OneOf(CASE_KINDS))
    customer_id = fields.UUID(required=True)
    premise_id = fields.UUID(required=True)
    inspection_id = fields.UUID(load_default=None, allow_none=True)
    summary = fields.String(required=True, validate=validate.Length(1, 4000))
    inspected_at = Timestamp(load_default=None, allow_none=True)


class CaseArgsSchema(Schema):
    """Filters of the case list."""

    stage = fields.String(validate=validate.OneOf([*ORDER, "closed"]))
    kind = fields.String(validate=validate.OneOf(CASE_KINDS))
    outcome = fields.String(validate=validate.OneOf(OUTCOMES))
    customer_id = fields.UUID()


class StepCompleteSchema(Schema):
    """Completing the case's current step: its checklist and the fields the step records."""

    step = fields.String(required=True, validate=validate.OneOf(ORDER))
    checklist = fields.Dict(
        keys=fields.String(), values=fields.Raw(), load_default=dict, validate=_answers
    )
    notes = fields.String(load_default=None, validate=validate.Length(max=4000))
    outcome = fields.String(load_default=None, validate=validate.OneOf(OUTCOMES))
    back_billing_amount = Decimal(load_default=None, **MONEY)
    recovered_amount = Decimal(load_default=None, **MONEY)
    actions = fields.List(
        fields.String(validate=validate.OneOf(ENFORCEMENT_ACTIONS)),
        load_default=list,
        validate=validate.Length(max=3),
    )


class OverrideSchema(Schema):
    """A supervisor's override of the evidence gate."""

    reason = fields.String(required=True, validate=validate.Length(1, 1000))


class StepSchema(Schema):
    """One recorded step."""

    step = fields.String()
    checklist = fields.Dict()
    details = fields.Dict()
    notes = fields.String(allow_none=True)
    completed_by = fields.String()
    completed_at = Timestamp()
    approved_by = fields.String(allow_none=True)
    approved_at = Timestamp(allow_none=True)


class ChecklistItemSchema(Schema):
    """One procedural item of a step."""

    key = fields.String()
    label = fields.String()
    choices = fields.List(fields.String())
    required = fields.Boolean()


class ProcedureStepSchema(Schema):
    """One step of the procedure, as data."""

    name = fields.String()
    participant = fields.String()
    due_days = Integer()
    approval = fields.Boolean()
    fields_ = fields.List(fields.String(), data_key="fields")
    items = fields.List(fields.Nested(ChecklistItemSchema))


class OverrideReadSchema(Schema):
    """The supervisor's override of the evidence gate, when there is one."""

    by = fields.String()
    at = Timestamp()
    reason = fields.String()


class OffenderSchema(Schema):
    """The customer's case history."""

    cases = Integer()
    confirmed_cases = Integer()
    repeat_offender = fields.Boolean()


class CaseReadSchema(Schema):
    """A case with its steps, the next step due and who acts on it."""

    id = fields.UUID()
    number = fields.String()
    kind = fields.String()
    department_id = Integer()
    customer_id = fields.UUID()
    premise_id = fields.UUID()
    inspection_id = fields.UUID(allow_none=True)
    summary = fields.String()
    stage = fields.String()
    awaiting_approval = fields.Boolean()
    next_participant = fields.String(allow_none=True)
    stage_due_at = Timestamp(allow_none=True)
    outcome = fields.String(allow_none=True)
    back_billing_amount = Decimal(as_string=True, allow_none=True)
    recovered_amount = Decimal(as_string=True, allow_none=True)
    enforcement_actions = fields.List(fields.String())
    inspected_at = Timestamp()
    opened_by = fields.String()
    opened_at = Timestamp()
    closed_at = Timestamp(allow_none=True)
    override = fields.Nested(OverrideReadSchema, allow_none=True)
    customer_history = fields.Nested(OffenderSchema)
    pending_items = fields.List(fields.Nested(ChecklistItemSchema))
    steps = fields.List(fields.Nested(StepSchema))


class EvidenceSchema(Schema):
    """The evidence gate's verdict on a case."""

    ok = fields.Boolean()
    missing = fields.List(fields.String())
    photos = fields.List(fields.Dict())
    readings = Integer()
    overridden = fields.Boolean()
