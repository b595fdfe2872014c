"""Classification reviews (重要/特殊/一般, every ~2 months) and tiers with owners."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive.records import Customer
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.db import utcnow
from backend.inputs import Blueprint, Day
from backend.risk import classification as reviews
from backend.unit_of_work import request_session
from sync.fields import Float, Integer

blp = Blueprint(
    "risk_classification", __name__, url_prefix="/api/v1",
    description="Customer classification reviews and tiers",
)  # fmt: skip


class ClassifySchema(Schema):
    """A review's outcome."""

    classification = fields.String(required=True, validate=validate.OneOf(reviews.CLASSIFICATIONS))
    tier = fields.String(load_default="ordinary", validate=validate.OneOf(reviews.TIERS))
    account_owner = fields.String(load_default=None, validate=validate.Length(1, 120))
    reason = fields.String(required=True, validate=validate.Length(1, 500))
    base_version = Integer(load_default=None, validate=validate.Range(1, 2**31 - 1))


class ClassificationSchema(Schema):
    """A customer's classification as its file now says."""

    customer_id = fields.UUID()
    classification = fields.String()
    tier = fields.String()
    account_owner = fields.String(allow_none=True)
    classified_on = Day(allow_none=True)
    version_no = Integer()


class ReviewArgsSchema(Schema):
    """Whose reviews, and how far ahead."""

    department_id = Integer(validate=validate.Range(1, 2**31 - 1))
    within_days = Integer(load_default=14, validate=validate.Range(0, 366))


class ReviewRowSchema(Schema):
    """One customer due for review."""

    customer_id = fields.UUID()
    account_number = fields.String()
    name = fields.String()
    department_id = Integer()
    department = fields.String(allow_none=True)
    classification = fields.String()
    tier = fields.String()
    account_owner = fields.String(allow_none=True)
    classified_on = Day(allow_none=True)
    review_due_on = Day()
    status = fields.String(metadata={"description": "overdue or due"})
    yearly_revenue = Float()
    suggested_tier = fields.String()


def _settings() -> tuple[int, Decimal]:
    config = current_app.config
    return (
        int(config.get("RISK_REVIEW_DAYS", 61)),
        Decimal(str(config.get("RISK_KEY_REVENUE", "200000"))),
    )


@blp.route("/risk/classification-reviews")
class Reviews(MethodView):
    """The review due list, per department."""

    @requires(Action.RISK_READ)
    @blp.arguments(ReviewArgsSchema, location="query")
    @blp.response(200, ReviewRowSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Customers whose review is overdue or due within `within_days`, by department."""
        session, today = request_session(), utcnow().date()
        review_days, key_revenue = _settings()
        query = reviews.due_query(
            current_actor(), today=today, review_days=review_days,
            within_days=args["within_days"], department_id=args.get("department_id"),
        )  # fmt: skip
        customers = list(session.scalars(query.limit(5000)))
        return reviews.review_rows(
            session, customers, today=today, review_days=review_days, key_revenue=key_revenue
        )


@blp.route("/customers/<uuid:customer_id>/classification")
class CustomerClassification(MethodView):
    """Recording a review."""

    @requires(Action.RISK_CLASSIFY, scope=(Customer, "customer_id"))
    @blp.arguments(ClassifySchema)
    @blp.response(201, ClassificationSchema)
    @blp.alt_response(409, description="`base_version` is not the file's current version")
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Record the outcome as a new version of the file (classification, tier, owner)."""
        customer = reviews.classify(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            today=utcnow().date(), **data,
        )  # fmt: skip
        return {
            "customer_id": customer.id, "classification": customer.classification,
            "tier": customer.tier, "account_owner": customer.account_owner,
            "classified_on": customer.classified_on, "version_no": customer.version_no,
        }  # fmt: skip
