"""The collection ladder over HTTP: cases, steps in order, visits sent to crews."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive.records import Customer
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.inputs import Blueprint, Day, SelectPage, Timestamp
from backend.inspection import evidence
from backend.risk import ladder
from backend.risk.class_routes import window
from backend.risk.models import CollectionCase, CollectionVisit
from backend.unit_of_work import request_session
from sync.entities import VISIT_OUTCOMES
from sync.fields import Float, Integer

blp = Blueprint(
    "risk_ladder", __name__, url_prefix="/api/v1", description="Collection ladder (催费)"
)
SCOPE = (CollectionCase, "collection_id")


class CollectionRungSchema(Schema):
    """One rung of the ladder, as data."""

    name = fields.String()
    title = fields.String()
    participant = fields.String()
    due_days = Integer()
    outcomes = fields.List(fields.String())


class CollectionStepSchema(Schema):
    """A completed step."""

    step = fields.String()
    outcome = fields.String()
    due_on = Day(allow_none=True)
    details = fields.Dict()
    notes = fields.String(allow_none=True)
    completed_by = fields.String()
    completed_at = Timestamp()


class CollectionVisitSchema(Schema):
    """A visit sent to a crew (the field task)."""

    id = fields.UUID()
    crew_id = Integer()
    status = fields.String()
    outcome = fields.String(allow_none=True, validate=validate.OneOf(VISIT_OUTCOMES))
    notes = fields.String(allow_none=True)
    address = fields.String()
    amount_due = Float()
    due_on = fields.String()
    created_by = fields.String()
    created_at = Timestamp()


class CollectionCaseSchema(Schema):
    """A collection case with its steps and visits."""

    id = fields.UUID()
    number = fields.String()
    customer_id = fields.UUID()
    department_id = Integer()
    amount = Float()
    stage = fields.String(metadata={"description": "the step due, or closed"})
    stage_due_on = Day(allow_none=True)
    next_participant = fields.String(allow_none=True)
    outcome = fields.String(allow_none=True)
    opened_by = fields.String()
    opened_at = Timestamp()
    closed_at = Timestamp(allow_none=True)
    steps = fields.List(fields.Nested(CollectionStepSchema))
    visits = fields.List(fields.Nested(CollectionVisitSchema))


class CollectionStepCompleteSchema(Schema):
    """Completing the step due."""

    step = fields.String(required=True, validate=validate.OneOf(ladder.ORDER))
    outcome = fields.String(required=True, validate=validate.Length(1, 24))
    notes = fields.String(load_default=None, validate=validate.Length(max=4000))
    deferred_until = Day(load_default=None)
    inspection_case_id = fields.UUID(load_default=None)


class CollectionVisitSendSchema(Schema):
    """Which crew visits."""

    crew_id = Integer(required=True, validate=validate.Range(1, 2**31 - 1))


class CollectionCaseArgsSchema(Schema):
    """Which cases."""

    stage = fields.String(validate=validate.OneOf([*ladder.ORDER, ladder.CLOSED]))
    due_before = Day()
    customer_id = fields.UUID(metadata={"description": "one customer's cases"})


def case_view(case: CollectionCase) -> dict[str, Any]:
    """A case with its steps and visits."""
    session = request_session()
    step = ladder.BY_NAME.get(case.stage)
    return {
        "id": case.id, "number": case.number, "customer_id": case.customer_id,
        "department_id": case.department_id, "amount": float(case.amount),
        "stage": case.stage, "stage_due_on": case.stage_due_on,
        "next_participant": step.participant if step else None, "outcome": case.outcome,
        "opened_by": case.opened_by, "opened_at": case.opened_at, "closed_at": case.closed_at,
        "steps": ladder.steps_of(session, case.id), "visits": ladder.visits_of(session, case.id),
    }  # fmt: skip


class CollectionCasePage(SelectPage):  # type: ignore[misc]
    """Pages of cases rendered as views."""

    @property
    def items(self) -> list[Any]:
        return [case_view(c) for c in super().items]


@blp.route("/risk/collection-ladder")
class Ladder(MethodView):
    """The ladder, as data."""

    @requires(Action.RISK_READ)
    @blp.response(200, CollectionRungSchema(many=True))
    def get(self) -> list[ladder.Step]:
        """List the steps in order: who acts next, when each is due, its outcomes."""
        return list(ladder.STEPS)


@blp.route("/customers/<uuid:customer_id>/collection-cases")
class CustomerCollection(MethodView):
    """Opening a case."""

    @requires(Action.RISK_COLLECT, scope=(Customer, "customer_id"))
    @blp.response(201, CollectionCaseSchema)
    @blp.alt_response(409, description="Nothing owed, or a case is open already")
    def post(self, customer_id: uuid.UUID) -> dict[str, Any]:
        """Open a case for what the customer owes; the deferral step is due today."""
        case = ladder.open_case(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            window=window(),
        )  # fmt: skip
        return case_view(case)


@blp.route("/risk/collection-cases")
class CollectionCases(MethodView):
    """Cases of your customers."""

    @requires(Action.RISK_READ)
    @blp.arguments(CollectionCaseArgsSchema, location="query")
    @blp.response(200, CollectionCaseSchema(many=True))
    @blp.paginate(CollectionCasePage)
    def get(self, args: dict[str, Any]) -> Any:
        """List cases by the date their step is due (filter by step, due before a day, customer)."""
        return ladder.find_cases(
            actor=current_actor(), stage=args.get("stage"), due_before=args.get("due_before"),
            customer_id=args.get("customer_id"),
        )  # fmt: skip


@blp.route("/risk/collection-cases/<uuid:collection_id>")
class CollectionCaseById(MethodView):
    """One case."""

    @requires(Action.RISK_READ, scope=SCOPE)
    @blp.response(200, CollectionCaseSchema)
    def get(self, collection_id: uuid.UUID) -> dict[str, Any]:
        """Show the case: the step due, who acts next, the steps done and the visits."""
        case = ladder.get_case(
            session=request_session(), actor=current_actor(), case_id=collection_id
        )
        return case_view(case)


@blp.route("/risk/collection-cases/<uuid:collection_id>/steps")
class CollectionCaseSteps(MethodView):
    """Completing the step due."""

    @requires(Action.RISK_COLLECT, scope=SCOPE)
    @blp.arguments(CollectionStepCompleteSchema)
    @blp.response(200, CollectionCaseSchema)
    @blp.alt_response(409, description="Out of order, refused by the policy or the evidence gate")
    def post(self, data: dict[str, Any], collection_id: uuid.UUID) -> dict[str, Any]:
        """Complete the step due; the deferral asks the CA policy, disconnection the evidence."""
        case = ladder.complete_step(
            session=request_session(), actor=current_actor(), case_id=collection_id,
            data=data, window=window(),
            rules=evidence.EvidenceRules.from_config(current_app.config),
        )  # fmt: skip
        return case_view(case)


@blp.route("/risk/collection-cases/<uuid:collection_id>/visit")
class CollectionCaseVisit(MethodView):
    """Sending the on-site visit to a crew."""

    @requires(Action.RISK_COLLECT, scope=SCOPE)
    @blp.arguments(CollectionVisitSendSchema)
    @blp.response(201, CollectionVisitSchema)
    @blp.alt_response(409, description="The visit is not the step due, or one is out already")
    def post(self, data: dict[str, Any], collection_id: uuid.UUID) -> CollectionVisit:
        """Send the visit to a crew: it reaches the crew's handhelds like other work."""
        return ladder.send_visit(
            session=request_session(), actor=current_actor(), case_id=collection_id,
            crew_id=data["crew_id"],
        )  # fmt: skip
