"""Request and response schemas of customer risk."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from backend.inputs import Timestamp
from backend.risk.credit_model import SIZES
from sync.fields import Float, Integer


def _picks(value: dict[str, Any]) -> None:
    if len(value) > 200:
        raise ValidationError("At most 200 indicators.")
    for key, pick in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= 48:
            raise ValidationError("Indicator codes are 1-48 characters.")
        if not isinstance(pick, str) or not 0 < len(pick) <= 48:
            raise ValidationError(f"{key}: a criterion code of 1-48 characters.")


class CreditModelPutSchema(Schema):
    """A new version of a size's model: the indicator tree (checked as a whole) and why."""

    indicators = fields.List(fields.Dict(), required=True, validate=validate.Length(1, 20))
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class CreditModelSchema(Schema):
    """One version of a credit model."""

    size = fields.String(validate=validate.OneOf(SIZES))
    version = Integer()
    indicators = fields.List(fields.Dict())
    reason = fields.String()
    created_by = fields.String()
    created_at = Timestamp()


class ModelArgsSchema(Schema):
    """Which version of a model (the current one by default)."""

    version = Integer(validate=validate.Range(1, 2**31 - 1))


class AssessmentSchema(Schema):
    """What the rater found: the criterion of each leaf indicator they assessed."""

    indicators = fields.Dict(required=True, validate=_picks)
    notes = fields.String(load_default=None, validate=validate.Length(max=2000))


class BreakdownLineSchema(Schema):
    """One indicator of a rating: its own deduction (0-200) and the points it took off."""

    code = fields.String()
    name = fields.String()
    level = Integer()
    weight = Float()
    deduction = Float()
    points = Float()
    criterion = fields.String()
    criterion_name = fields.String()


class RatingSchema(Schema):
    """One credit rating: score, grade, the model version that produced it, the breakdown."""

    id = Integer()
    customer_id = fields.UUID()
    size = fields.String()
    model_version = Integer()
    assessment_id = Integer(allow_none=True)
    score = Float()
    grade = fields.String()
    picks = fields.Dict(keys=fields.String(), values=fields.String())
    breakdown = fields.List(fields.Nested(BreakdownLineSchema))
    trigger = fields.String()
    rated_by = fields.String()
    rated_at = Timestamp()


class CurrentCreditSchema(Schema):
    """A customer's credit now: its newest rating, or `rated: false` and the rating fields null."""

    rated = fields.Boolean(metadata={"description": "false until the customer is first rated"})
    customer_id = fields.UUID()
    id = Integer(allow_none=True)
    size = fields.String(allow_none=True)
    model_version = Integer(allow_none=True)
    assessment_id = Integer(allow_none=True)
    score = Float(allow_none=True)
    grade = fields.String(allow_none=True)
    picks = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    breakdown = fields.List(fields.Nested(BreakdownLineSchema), allow_none=True)
    trigger = fields.String(allow_none=True)
    rated_by = fields.String(allow_none=True)
    rated_at = Timestamp(allow_none=True)
