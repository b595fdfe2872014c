"""Theft and violation cases (窃电/违约用电查处): procedure, steps, evidence gate, override."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.inputs import Blueprint, SelectPage
from backend.inspection import case_service as service
from backend.inspection import evidence
from backend.inspection.cases import InspectionCase
from backend.inspection.schemas import (
    CaseArgsSchema,
    CaseCreateSchema,
    CaseReadSchema,
    EvidenceSchema,
    OverrideSchema,
    ProcedureStepSchema,
    StepCompleteSchema,
)
from backend.inspection.views import case_view, procedure_view
from backend.unit_of_work import request_session

blp = Blueprint(
    "inspection", __name__, url_prefix="/api/v1", description="Inspections and cases (用电检查)"
)
SCOPE = (InspectionCase, "case_id")


def _threshold() -> int:
    return int(current_app.config["INSPECTION_REPEAT_OFFENDER_CASES"])


def _view(case: InspectionCase) -> dict[str, Any]:
    return case_view(request_session(), case, threshold=_threshold())


class CasePage(SelectPage):  # type: ignore[misc]
    """Pages of cases rendered as views."""

    @property
    def items(self) -> list[Any]:
        return [_view(c) for c in super().items]


@blp.route("/cases/procedure")
class Procedure(MethodView):
    """The lawful procedure, as data."""

    @requires(Action.CASE_READ)
    @blp.response(200, ProcedureStepSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List the case steps with their participants, deadlines and checklists."""
        return procedure_view()


@blp.route("/cases")
class Cases(MethodView):
    """Theft and violation cases in your departments."""

    @requires(Action.CASE_READ)
    @blp.arguments(CaseArgsSchema, location="query")
    @blp.response(200, CaseReadSchema(many=True))
    @blp.paginate(CasePage)
    def get(self, args: dict[str, Any]) -> Any:
        """List cases, newest first; filter by stage, kind, outcome, customer."""
        return service.find_cases(actor=current_actor(), filters=args)

    @requires(Action.CASE_OPEN)
    @blp.arguments(CaseCreateSchema)
    @blp.response(201, CaseReadSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Open a case at a customer's premise; discovery is the first step due."""
        case = service.open_case(session=request_session(), actor=current_actor(), data=data)
        return _view(case)


@blp.route("/cases/<uuid:case_id>")
class CaseById(MethodView):
    """One case."""

    @requires(Action.CASE_READ, scope=SCOPE)
    @blp.response(200, CaseReadSchema)
    def get(self, case_id: uuid.UUID) -> dict[str, Any]:
        """Show a case with its steps, the step due and its checklist."""
        return _view(
            service.get_case(session=request_session(), actor=current_actor(), case_id=case_id)
        )


@blp.route("/cases/<uuid:case_id>/steps")
class CaseSteps(MethodView):
    """Completing the step due."""

    @requires(Action.CASE_STEP, scope=SCOPE)
    @blp.arguments(StepCompleteSchema)
    @blp.response(200, CaseReadSchema)
    @blp.alt_response(409, description="Out of order, procedure items or evidence missing")
    def post(self, data: dict[str, Any], case_id: uuid.UUID) -> dict[str, Any]:
        """Complete the current step; enforcement actions pass the evidence gate first."""
        case = service.complete_step(
            session=request_session(), actor=current_actor(), case_id=case_id, data=data,
            rules=evidence.EvidenceRules.from_config(current_app.config),
        )  # fmt: skip
        return _view(case)


@blp.route("/cases/<uuid:case_id>/approve")
class CaseApproval(MethodView):
    """A supervisor's approval of the step awaiting it."""

    @requires(Action.CASE_APPROVE, scope=SCOPE)
    @blp.response(200, CaseReadSchema)
    @blp.alt_response(409, description="Nothing awaits approval")
    def post(self, case_id: uuid.UUID) -> dict[str, Any]:
        """Approve the step an inspector completed and move to the next."""
        case = service.approve_step(
            session=request_session(), actor=current_actor(), case_id=case_id
        )
        return _view(case)


@blp.route("/cases/<uuid:case_id>/evidence")
class CaseEvidence(MethodView):
    """The evidence gate's verdict."""

    @requires(Action.CASE_READ, scope=SCOPE)
    @blp.response(200, EvidenceSchema)
    def get(self, case_id: uuid.UUID) -> dict[str, Any]:
        """Tell whether enforcement may go ahead, and what evidence is missing."""
        session = request_session()
        case = service.get_case(session=session, actor=current_actor(), case_id=case_id)
        rules = evidence.EvidenceRules.from_config(current_app.config)
        return evidence.check(session, case, rules).as_dict()


@blp.route("/cases/<uuid:case_id>/evidence-override")
class CaseOverride(MethodView):
    """A supervisor's override of the evidence gate."""

    @requires(Action.EVIDENCE_OVERRIDE, scope=SCOPE)
    @blp.arguments(OverrideSchema)
    @blp.response(200, CaseReadSchema)
    def post(self, data: dict[str, Any], case_id: uuid.UUID) -> dict[str, Any]:
        """Let enforcement go ahead without complete evidence; the reason stays on the case."""
        case = service.override_gate(
            session=request_session(), actor=current_actor(), case_id=case_id, **data
        )
        return _view(case)
