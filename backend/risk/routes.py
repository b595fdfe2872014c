"""Customer risk over HTTP: credit models, assessments, ratings and the grade history."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from backend.archive.records import Customer
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import NotFound
from backend.inputs import Blueprint, SelectPage
from backend.risk import credit_service
from backend.risk.credit_model import SIZES
from backend.risk.models import CreditModel, CreditRating
from backend.risk.schemas import (
    AssessmentSchema,
    CreditModelPutSchema,
    CreditModelSchema,
    CurrentCreditSchema,
    ModelArgsSchema,
    RatingSchema,
)
from backend.unit_of_work import request_session

blp = Blueprint("risk", __name__, url_prefix="/api/v1", description="Customer risk (客户信用)")
CUSTOMER = (Customer, "customer_id")


def _large_kw() -> float:
    return float(current_app.config.get("RISK_LARGE_KW", 100))


def _size(size: str) -> str:
    if size not in SIZES:
        raise NotFound(f"No customer size {size!r}; one of {', '.join(SIZES)}.")
    return size


def rating_view(rating: CreditRating) -> dict[str, Any]:
    """A rating as the API shows it (exact decimals stored, numbers shown)."""
    return {
        "id": rating.id,
        "customer_id": rating.customer_id,
        "size": rating.size,
        "model_version": rating.model_version,
        "assessment_id": rating.assessment_id,
        "score": float(rating.score),
        "grade": rating.grade,
        "picks": rating.picks,
        "breakdown": rating.breakdown,
        "trigger": rating.trigger,
        "rated_by": rating.rated_by,
        "rated_at": rating.rated_at,
    }


def current_credit_view(customer_id: uuid.UUID, rating: CreditRating | None) -> dict[str, Any]:
    """A customer's credit now: the rating's view, or an explicit unrated state (fields null)."""
    if rating is None:
        unrated = dict.fromkeys(CurrentCreditSchema().fields, None)
        return unrated | {"rated": False, "customer_id": customer_id}
    return rating_view(rating) | {"rated": True}


class RatingPage(SelectPage):  # type: ignore[misc]
    """Pages of ratings rendered as views."""

    @property
    def items(self) -> list[Any]:
        return [rating_view(r) for r in super().items]


@blp.route("/risk/credit-models")
class CreditModels(MethodView):
    """The current credit model of each customer size."""

    @requires(Action.RISK_READ)
    @blp.response(200, CreditModelSchema(many=True))
    def get(self) -> list[CreditModel]:
        """List the current model of each size (large, medium, small)."""
        return credit_service.models(request_session())


@blp.route("/risk/credit-models/<size>")
class CreditModelBySize(MethodView):
    """One size's model and its versions."""

    @requires(Action.RISK_READ)
    @blp.arguments(ModelArgsSchema, location="query")
    @blp.response(200, CreditModelSchema)
    def get(self, args: dict[str, Any], size: str) -> CreditModel:
        """Show the current model of a size, or `version=n`."""
        session = request_session()
        if args.get("version"):
            return credit_service.model_version(session, _size(size), args["version"])
        return credit_service.current_model(session, _size(size))

    @requires(Action.RISK_CONFIGURE)
    @blp.arguments(CreditModelPutSchema)
    @blp.response(201, CreditModelSchema)
    def put(self, data: dict[str, Any], size: str) -> CreditModel:
        """Store a new version of the model: weights sum to 1 per level, criteria 0-200."""
        return credit_service.put_model(
            session=request_session(), actor=current_actor(), size=_size(size), **data
        )


@blp.route("/customers/<uuid:customer_id>/credit")
class CustomerCredit(MethodView):
    """A customer's current credit rating."""

    @requires(Action.RISK_READ, scope=CUSTOMER)
    @blp.response(200, CurrentCreditSchema)
    def get(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Show the current grade, score, model version and breakdown (`rated: false` if none)."""
        rating = credit_service.customer_rating(
            session=request_session(), actor=current_actor(), customer_id=customer_id
        )
        return current_credit_view(customer_id, rating)


@blp.route("/customers/<uuid:customer_id>/credit/history")
class CustomerCreditHistory(MethodView):
    """Every rating of a customer."""

    @requires(Action.RISK_READ, scope=CUSTOMER)
    @blp.response(200, RatingSchema(many=True))
    @blp.paginate(RatingPage)
    def get(self, customer_id: uuid.UUID) -> Any:
        """List the customer's ratings, newest first (the grade history)."""
        return credit_service.history(
            session=request_session(), actor=current_actor(), customer_id=customer_id
        )


@blp.route("/customers/<uuid:customer_id>/credit/assessments")
class CustomerAssessments(MethodView):
    """Recording what a rater found."""

    @requires(Action.RISK_ASSESS, scope=CUSTOMER)
    @blp.arguments(AssessmentSchema)
    @blp.response(201, RatingSchema)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Record the criterion of each assessed leaf indicator and rate the customer on it."""
        rating = credit_service.assess(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            picks=data["indicators"], notes=data["notes"], large_kw=_large_kw(),
        )  # fmt: skip
        return rating_view(rating)


@blp.route("/customers/<uuid:customer_id>/credit/rate")
class CustomerRerate(MethodView):
    """Re-rating on demand."""

    @requires(Action.RISK_ASSESS, scope=CUSTOMER)
    @blp.response(201, RatingSchema)
    def post(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Rate the customer now with the current model and its latest assessment."""
        rating = credit_service.rate_customer(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            large_kw=_large_kw(),
        )  # fmt: skip
        return rating_view(rating)
