"""Outages over HTTP: set, list, move, extend; the areas, customers and notifications."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from sqlalchemy.orm import Session

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.inputs import Blueprint, SelectPage
from backend.network import outages, quick, regions, suggestions
from backend.network.outage_models import OutageSuggestion
from backend.network.schemas import (
    AreaCustomerArgsSchema,
    NotificationSchema,
    OutageCreateSchema,
    OutageCustomerSchema,
    OutageExtendSchema,
    OutageFilterSchema,
    OutageMoveSchema,
    OutageSchema,
    QuickAnswerSchema,
    QuickQueryArgsSchema,
    RegionChangeSchema,
    RegionCodeSchema,
    SuggestionConfirmSchema,
    SuggestionDecisionSchema,
    SuggestionDismissSchema,
    SuggestionFilterSchema,
    SuggestionSchema,
)
from backend.unit_of_work import database, request_session

blp = Blueprint("outages", __name__, url_prefix="/api/v1", description="Outages and maintenance")


def _ctx() -> dict[str, Any]:
    return {"session": request_session(), "actor": current_actor()}


class OutagePage(SelectPage):  # type: ignore[misc]
    """Pages of outages with their areas."""

    @property
    def items(self) -> list[Any]:
        return [outages.outage_view(request_session(), o) for o in super().items]


@blp.route("/outages")
class Outages(MethodView):
    """Outages and maintenance."""

    @requires(Action.OUTAGE_READ)
    @blp.arguments(OutageFilterSchema, location="query")
    @blp.response(200, OutageSchema(many=True))
    @blp.paginate(OutagePage)
    def get(self, args: dict[str, Any]) -> Any:
        """List your company's outages, latest start first."""
        return outages.list_outages(actor=current_actor(), **args)

    @requires(Action.OUTAGE_MANAGE)
    @blp.arguments(OutageCreateSchema)
    @blp.response(201, OutageSchema)
    @blp.alt_response(409, description="Another outage covers the line then")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Set an outage; it propagates to the areas it cuts and notifies flagged customers."""
        outage = outages.create_outage(**_ctx(), data=data)
        return outages.outage_view(request_session(), outage)


@blp.route("/outages/<uuid:outage_id>")
class OutageById(MethodView):
    """One outage."""

    @requires(Action.OUTAGE_READ)
    @blp.response(200, OutageSchema)
    def get(self, outage_id: uuid.UUID) -> dict[str, Any]:
        """Show an outage with the areas it cuts."""
        outage = outages.get_outage(**_ctx(), outage_id=outage_id)
        return outages.outage_view(request_session(), outage)


@blp.route("/outages/<uuid:outage_id>/transition")
class OutageMove(MethodView):
    """An outage's state."""

    @requires(Action.OUTAGE_MANAGE)
    @blp.arguments(OutageMoveSchema)
    @blp.response(200, OutageSchema)
    @blp.alt_response(409, description="The move is not allowed from the current state")
    def post(self, data: dict[str, Any], outage_id: uuid.UUID) -> dict[str, Any]:
        """Confirm, restore (all or some areas), or close an outage."""
        outage = outages.move(**_ctx(), outage_id=outage_id, **data)
        return outages.outage_view(request_session(), outage)


@blp.route("/outages/<uuid:outage_id>/extend")
class OutageExtend(MethodView):
    """An outage's planned end."""

    @requires(Action.OUTAGE_MANAGE)
    @blp.arguments(OutageExtendSchema)
    @blp.response(200, OutageSchema)
    @blp.alt_response(409, description="Not active, or would overlap another outage")
    def post(self, data: dict[str, Any], outage_id: uuid.UUID) -> dict[str, Any]:
        """Move the planned end (the automatic restore follows it)."""
        outage = outages.extend(**_ctx(), outage_id=outage_id, **data)
        return outages.outage_view(request_session(), outage)


class OutageCustomerPage(SelectPage):  # type: ignore[misc]
    """Pages of (customer, flags, restored_at) rows."""

    @property
    def items(self) -> list[Any]:
        statement = self.collection.offset(self.page_params.first_item).limit(
            self.page_params.page_size
        )
        return [
            {
                "id": c.id, "account_number": c.account_number, "name": c.name,
                "status": c.status, "important": bool(f and f.important),
                "high_risk": bool(f and f.high_risk), "restored_at": restored,
            }
            for c, f, restored in request_session().execute(statement)
        ]  # fmt: skip


@blp.route("/outages/<uuid:outage_id>/customers")
class OutageCustomers(MethodView):
    """The customers an outage cuts."""

    @requires(Action.OUTAGE_READ)
    @blp.arguments(AreaCustomerArgsSchema, location="query")
    @blp.response(200, OutageCustomerSchema(many=True))
    @blp.paginate(OutageCustomerPage)
    def get(self, args: dict[str, Any], outage_id: uuid.UUID) -> Any:
        """List the customers (of your archive scope) an outage cuts."""
        return outages.affected_customers(**_ctx(), outage_id=outage_id, **args)


@blp.route("/outages/<uuid:outage_id>/notifications")
class OutageNotifications(MethodView):
    """Messages to important and high-risk customers."""

    @requires(Action.OUTAGE_READ)
    @blp.response(200, NotificationSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, outage_id: uuid.UUID) -> Any:
        """List the notifications written for an outage."""
        return outages.notifications(**_ctx(), outage_id=outage_id)


@blp.route("/quick-query")
class QuickQuery(MethodView):
    """The call center's one-call answer."""

    @requires(Action.QUICK_QUERY)
    @blp.arguments(QuickQueryArgsSchema, location="query")
    @blp.response(200, QuickAnswerSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """By account, phone, name or address: line, area, outage now, until when, contact."""
        return quick.quick_query(**_ctx(), dialect=database().dialect, q=args["q"])


@blp.route("/region-codes")
class RegionCodes(MethodView):
    """Region codes and their service contacts."""

    @requires(Action.REGION_READ)
    @blp.response(200, RegionCodeSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List region codes."""
        return regions.listing(actor=current_actor())

    @requires(Action.REGION_MANAGE)
    @blp.arguments(RegionCodeSchema)
    @blp.response(201, RegionCodeSchema)
    @blp.alt_response(409, description="The code exists (codes are case-insensitive)")
    def post(self, data: dict[str, Any]) -> Any:
        """Add a region code."""
        return regions.create(**_ctx(), data=data)


@blp.route("/region-codes/<string:code>")
class RegionCodeByCode(MethodView):
    """One region code."""

    @requires(Action.REGION_READ)
    @blp.response(200, RegionCodeSchema)
    def get(self, code: str) -> Any:
        """Resolve a code: any case, or a partial code that names one region."""
        return regions.get(**_ctx(), code=code)

    @requires(Action.REGION_MANAGE)
    @blp.arguments(RegionChangeSchema)
    @blp.response(200, RegionCodeSchema)
    def patch(self, data: dict[str, Any], code: str) -> Any:
        """Change a region's name or service contact."""
        return regions.change(**_ctx(), code=code, changes=data)

    @requires(Action.REGION_MANAGE)
    @blp.response(204)
    def delete(self, code: str) -> None:
        """Remove a region code."""
        regions.delete(**_ctx(), code=code)


def suggestion_view(session: Session, suggestion: OutageSuggestion) -> dict[str, Any]:
    """A suggestion with the calls grouped under it."""
    view = {c.key: getattr(suggestion, c.key) for c in OutageSuggestion.__table__.columns}
    return {**view, "calls": suggestions.linked_calls(session, suggestion)}


class SuggestionPage(SelectPage):  # type: ignore[misc]
    """Pages of suggestions with their calls."""

    @property
    def items(self) -> list[Any]:
        return [suggestion_view(request_session(), s) for s in super().items]


@blp.route("/outage-suggestions")
class Suggestions(MethodView):
    """Probable outages raised by repeated calls."""

    @requires(Action.OUTAGE_READ)
    @blp.arguments(SuggestionFilterSchema, location="query")
    @blp.response(200, SuggestionSchema(many=True))
    @blp.paginate(SuggestionPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List your company's probable-outage suggestions, latest call first."""
        return suggestions.listing(actor=current_actor(), **args)


@blp.route("/outage-suggestions/<int:suggestion_id>")
class SuggestionById(MethodView):
    """One suggestion."""

    @requires(Action.OUTAGE_READ)
    @blp.response(200, SuggestionSchema)
    def get(self, suggestion_id: int) -> dict[str, Any]:
        """Show a suggestion with its calls."""
        suggestion = suggestions.get_suggestion(**_ctx(), suggestion_id=suggestion_id)
        return suggestion_view(request_session(), suggestion)


@blp.route("/outage-suggestions/<int:suggestion_id>/confirm")
class SuggestionConfirm(MethodView):
    """Confirm a probable outage."""

    @requires(Action.OUTAGE_MANAGE)
    @blp.arguments(SuggestionConfirmSchema)
    @blp.response(200, SuggestionDecisionSchema)
    @blp.alt_response(409, description="Decided already, or another outage covers the line")
    def post(self, data: dict[str, Any], suggestion_id: int) -> dict[str, Any]:
        """Make it an outage on its area or line; the held calls join the outage."""
        suggestion, outage = suggestions.confirm(**_ctx(), suggestion_id=suggestion_id, data=data)
        session = request_session()
        return {"suggestion": suggestion_view(session, suggestion),
                "outage": outages.outage_view(session, outage)}  # fmt: skip


@blp.route("/outage-suggestions/<int:suggestion_id>/dismiss")
class SuggestionDismiss(MethodView):
    """Dismiss a probable outage."""

    @requires(Action.OUTAGE_MANAGE)
    @blp.arguments(SuggestionDismissSchema)
    @blp.response(200, SuggestionDecisionSchema)
    @blp.alt_response(409, description="Decided already")
    def post(self, data: dict[str, Any], suggestion_id: int) -> dict[str, Any]:
        """No outage: the held calls go back to the call center's queue."""
        suggestion = suggestions.dismiss(**_ctx(), suggestion_id=suggestion_id, **data)
        return {"suggestion": suggestion_view(request_session(), suggestion), "outage": None}
