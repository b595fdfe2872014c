"""Red and black lists, and the arrears early-warning worklist with its alerts."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive.records import Customer
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.db import utcnow
from backend.inputs import Blueprint, SelectPage, Timestamp
from backend.risk import lists, warnings
from backend.unit_of_work import request_session
from sync.fields import Integer

blp = Blueprint(
    "risk_lists", __name__, url_prefix="/api/v1",
    description="Red and black lists; arrears early warning",
)  # fmt: skip


class ListAddSchema(Schema):
    """Putting a customer on a list."""

    kind = fields.String(required=True, validate=validate.OneOf(lists.KINDS))
    reason = fields.String(required=True, validate=validate.Length(1, 500))
    valid_until = Timestamp(required=True)


class ListEndSchema(Schema):
    """Ending an entry early."""

    reason = fields.String(required=True, validate=validate.Length(1, 500))


class ListArgsSchema(Schema):
    """Which entries."""

    kind = fields.String(validate=validate.OneOf(lists.KINDS))
    customer_id = fields.UUID()
    include_ended = fields.Boolean(load_default=False)


class ListEntrySchema(Schema):
    """One list entry."""

    id = Integer()
    customer_id = fields.UUID()
    department_id = Integer()
    kind = fields.String()
    reason = fields.String()
    added_by = fields.String()
    added_at = Timestamp()
    valid_until = Timestamp()
    ended_by = fields.String(allow_none=True)
    ended_at = Timestamp(allow_none=True)
    end_reason = fields.String(allow_none=True)


class AlertArgsSchema(Schema):
    """Which alerts."""

    kind = fields.String(validate=validate.OneOf(warnings.KINDS))
    include_acknowledged = fields.Boolean(load_default=False)


class RiskAlertSchema(Schema):
    """One early warning."""

    id = Integer()
    customer_id = fields.UUID()
    department_id = Integer()
    kind = fields.String()
    source = fields.String()
    detail = fields.Dict()
    raised_at = Timestamp()
    acknowledged_by = fields.String(allow_none=True)
    acknowledged_at = Timestamp(allow_none=True)
    account_number = fields.String(
        allow_none=True, metadata={"description": "the customer's, as your role sees its file"}
    )
    customer_name = fields.String(
        allow_none=True, metadata={"description": "the customer's, as your role sees its file"}
    )


class WarningPage(SelectPage):  # type: ignore[misc]
    """Pages of alerts with their customers' account numbers and names."""

    @property
    def items(self) -> list[Any]:
        return warnings.worklist_rows(
            session=request_session(), actor=current_actor(), alerts=super().items
        )


@blp.route("/risk/list-entries")
class ListEntries(MethodView):
    """The lists."""

    @requires(Action.RISK_READ)
    @blp.arguments(ListArgsSchema, location="query")
    @blp.response(200, ListEntrySchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List active entries of your customers (all, with `include_ended`), newest first."""
        return lists.entries(
            actor=current_actor(), now=utcnow(), kind=args.get("kind"),
            customer_id=args.get("customer_id"), include_ended=args["include_ended"],
        )  # fmt: skip


@blp.route("/customers/<uuid:customer_id>/list-entries")
class CustomerListEntries(MethodView):
    """Putting a customer on a list."""

    @requires(Action.RISK_LIST_MANAGE, scope=(Customer, "customer_id"))
    @blp.arguments(ListAddSchema)
    @blp.response(201, ListEntrySchema)
    @blp.alt_response(409, description="The customer is on a list already")
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> Any:
        """Put the customer on the red or black list until `valid_until`, with a reason."""
        return lists.add(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            now=utcnow(), **data,
        )  # fmt: skip


@blp.route("/risk/list-entries/<int:entry_id>/end")
class ListEntryEnd(MethodView):
    """Ending an entry early."""

    @requires(Action.RISK_LIST_MANAGE)
    @blp.arguments(ListEndSchema)
    @blp.response(200, ListEntrySchema)
    @blp.alt_response(409, description="The entry has ended already")
    def post(self, data: dict[str, Any], entry_id: int) -> Any:
        """End the entry now, with a reason; it stays in the history."""
        return lists.end(
            session=request_session(), actor=current_actor(), entry_id=entry_id,
            reason=data["reason"], now=utcnow(),
        )  # fmt: skip


@blp.route("/risk/warnings")
class Warnings(MethodView):
    """The early-warning worklist."""

    @requires(Action.RISK_READ)
    @blp.arguments(AlertArgsSchema, location="query")
    @blp.response(200, RiskAlertSchema(many=True))
    @blp.paginate(WarningPage)
    def get(self, args: dict[str, Any]) -> Any:
        """Open alerts of your customers (with account number and name), newest first.

        Causes: the grade fell, the arrears grew, the payment pattern worsened.
        """
        return warnings.worklist(
            actor=current_actor(), kind=args.get("kind"),
            include_acknowledged=args["include_acknowledged"],
        )  # fmt: skip


@blp.route("/risk/warnings/<int:warning_id>/acknowledge")
class WarningAcknowledge(MethodView):
    """Handling an alert."""

    @requires(Action.RISK_ASSESS)
    @blp.response(200, RiskAlertSchema)
    @blp.alt_response(409, description="Acknowledged already")
    def post(self, warning_id: int) -> Any:
        """Mark the alert handled."""
        session, actor = request_session(), current_actor()
        alert = warnings.acknowledge(session=session, actor=actor, alert_id=warning_id)
        return warnings.worklist_rows(session=session, actor=actor, alerts=[alert])[0]
