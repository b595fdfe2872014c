"""Payment behaviour, risk classes CA1-CA5 and their policies, credit limits, credit checks."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate

from backend.archive.records import Customer
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action, load_in_scope
from backend.db import utcnow
from backend.inputs import Blueprint, Day, Timestamp
from backend.risk import payment, payment_service
from backend.risk.abc import add_months
from backend.risk.models import CreditLimit, RiskClassRecord
from backend.unit_of_work import request_session
from sync.fields import Decimal as DecimalField
from sync.fields import Float, Integer

blp = Blueprint(
    "risk_classes", __name__, url_prefix="/api/v1",
    description="Payment behaviour, risk classes CA1-CA5, credit limits",
)  # fmt: skip
CUSTOMER = (Customer, "customer_id")


def _money(value: Decimal) -> None:
    if not 0 <= value < 10**11:
        raise ValidationError("An amount from 0 to 99,999,999,999.99.")


MONEY = {"places": 2, "as_string": True, "validate": _money, "allow_nan": False}


def window() -> payment_service.Window:
    """The evaluation window: the last complete month and RISK_BEHAVIOUR_* settings."""
    config = current_app.config
    return payment_service.Window(
        as_of=add_months(utcnow().date(), -1),
        months=int(config.get("RISK_BEHAVIOUR_WINDOW_MONTHS", 12)),
        rules=payment.Rules(
            frequent=int(config.get("RISK_BEHAVIOUR_FREQUENT_MONTHS", 3)),
            growth_months=int(config.get("RISK_BEHAVIOUR_GROWTH_MONTHS", 3)),
        ),
    )


class PolicySchema(Schema):
    """What a risk class may do."""

    risk_class = fields.String()
    beyond_limit = fields.String(metadata={"description": "yes, monitored or no"})
    monitoring = fields.Boolean()
    prepay_only = fields.Boolean()
    guarantee = fields.Boolean()
    raise_limit = fields.Boolean()
    summary = fields.String()


class PoliciesSchema(Schema):
    """The policies and how behaviour and grade map to classes."""

    policies = fields.List(fields.Nested(PolicySchema))
    behaviour_class = fields.Dict(keys=fields.String(), values=fields.String())
    grade_class = fields.Dict(keys=fields.String(), values=fields.String())


class RiskClassSchema(Schema):
    """A customer's payment behaviour and risk class, with the facts and the policy."""

    customer_id = fields.UUID()
    behaviour = fields.String(allow_none=True)
    criterion = Integer(allow_none=True)
    facts = fields.Dict()
    credit_grade = fields.String(allow_none=True)
    risk_class = fields.String()
    policy = fields.Nested(PolicySchema)
    window_from = Day()
    window_to = Day()
    evaluated_by = fields.String()
    evaluated_at = Timestamp()


class LimitSetSchema(Schema):
    """A new credit limit and why."""

    amount = DecimalField(required=True, **MONEY)
    reason = fields.String(required=True, validate=validate.Length(1, 500))


class LimitSchema(Schema):
    """One credit limit as set."""

    amount = Float()
    reason = fields.String()
    risk_class = fields.String()
    set_by = fields.String()
    set_at = Timestamp()


class CheckSchema(Schema):
    """How much more the customer would carry on credit (a deferral, a new connection)."""

    amount = DecimalField(required=True, **MONEY)


class DecisionSchema(Schema):
    """The policy's answer."""

    allowed = fields.Boolean()
    monitored = fields.Boolean()
    reason = fields.String()
    risk_class = fields.String()
    credit_limit = Float()
    outstanding = Float()
    amount = Float()


def _policy(name: str) -> dict[str, Any]:
    return {"risk_class": name, **payment.POLICIES[name]}


def class_view(record: RiskClassRecord) -> dict[str, Any]:
    """A risk class record with its policy."""
    return {
        "customer_id": record.customer_id, "behaviour": record.behaviour,
        "criterion": record.criterion, "facts": record.facts,
        "credit_grade": record.credit_grade, "risk_class": record.risk_class,
        "policy": _policy(record.risk_class), "window_from": record.window_from,
        "window_to": record.window_to, "evaluated_by": record.evaluated_by,
        "evaluated_at": record.evaluated_at,
    }  # fmt: skip


def limit_view(limit: CreditLimit) -> dict[str, Any]:
    """A credit limit as the API shows it."""
    return {
        "amount": float(limit.amount), "reason": limit.reason, "risk_class": limit.risk_class,
        "set_by": limit.set_by, "set_at": limit.set_at,
    }  # fmt: skip


@blp.route("/risk/policies")
class Policies(MethodView):
    """CA1-CA5 as data."""

    @requires(Action.RISK_READ)
    @blp.response(200, PoliciesSchema)
    def get(self) -> dict[str, Any]:
        """List each risk class's policy and how behaviour and credit grade map to classes."""
        return {
            "policies": [_policy(name) for name in payment.CLASSES],
            "behaviour_class": dict(payment.BEHAVIOUR_CLASS),
            "grade_class": dict(payment.GRADE_CLASS),
        }


@blp.route("/customers/<uuid:customer_id>/risk-class")
class CustomerRiskClass(MethodView):
    """A customer's payment behaviour and risk class."""

    @requires(Action.RISK_READ, scope=CUSTOMER)
    @blp.response(200, RiskClassSchema)
    def get(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Show the current behaviour (AAA-C), the criterion met, the class and its policy."""
        session = request_session()
        customer = load_in_scope(
            session, current_actor(), Customer, customer_id, action=Action.RISK_READ
        )
        record = payment_service.latest_class(session, customer.id)
        if record is None:
            record = payment_service.evaluate(  # not stored: a GET writes nothing
                session, customer, window=window(), by=current_actor().audit_name, persist=False
            )
        return class_view(record)

    @requires(Action.RISK_ASSESS, scope=CUSTOMER)
    @blp.response(201, RiskClassSchema)
    def post(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Evaluate now from the billing table and the current credit grade."""
        record = payment_service.evaluate_customer(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            window=window(),
        )  # fmt: skip
        return class_view(record)


@blp.route("/customers/<uuid:customer_id>/credit-limit")
class CustomerCreditLimit(MethodView):
    """The customer's credit limit."""

    @requires(Action.RISK_READ, scope=CUSTOMER)
    @blp.response(200, LimitSchema(many=True))
    def get(self, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """List the limits set, newest (the one that applies) first."""
        from sqlalchemy import select

        session = request_session()
        load_in_scope(session, current_actor(), Customer, customer_id, action=Action.RISK_READ)
        limits = session.scalars(
            select(CreditLimit)
            .where(CreditLimit.customer_id == customer_id)
            .order_by(CreditLimit.set_at.desc(), CreditLimit.id.desc())
        )
        return [limit_view(x) for x in limits]

    @requires(Action.RISK_LIMIT_SET, scope=CUSTOMER)
    @blp.arguments(LimitSetSchema)
    @blp.response(201, LimitSchema)
    @blp.alt_response(409, description="The risk class's policy refuses it (`risk-policy`)")
    def put(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Set a new limit; raising a CA5 (prepay-only) customer's limit is refused."""
        limit = payment_service.set_limit(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            window=window(), **data,
        )  # fmt: skip
        return limit_view(limit)


@blp.route("/customers/<uuid:customer_id>/credit-check")
class CustomerCreditCheck(MethodView):
    """Asking the policy before extending credit."""

    @requires(Action.RISK_READ, scope=CUSTOMER)
    @blp.arguments(CheckSchema)
    @blp.response(200, DecisionSchema)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """May the customer carry `amount` more on credit? CA4: within the limit; CA5: never."""
        return payment_service.credit_check(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            amount=data["amount"], window=window(),
        )  # fmt: skip
