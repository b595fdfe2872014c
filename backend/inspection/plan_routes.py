"""Inspection plans, tasks, checklists, hazards, meters in the field, reminders and the report."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.views import MethodView
from sqlalchemy import Select, or_, select

from backend.archive.records import Meter
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action, authorize, can, department_filter, load_in_scope
from backend.inputs import Blueprint, SelectPage
from backend.inspection import checklists, hazards, meter_field, plans, reminders, reports
from backend.inspection.meter_models import MeterEvent
from backend.inspection.plan_models import Hazard, InspectionPlan, InspectionTask, Reminder
from backend.inspection.plan_schemas import (
    AnomalySchema,
    CancelSchema,
    ChecklistCreateSchema,
    ChecklistSchema,
    GenerationSchema,
    HazardArgsSchema,
    HazardCreateSchema,
    HazardResolveSchema,
    HazardSchema,
    InspectionSchema,
    MeterEventCreateSchema,
    MeterEventSchema,
    NoticeSchema,
    PlanCreateSchema,
    PlanSchema,
    ReminderSchema,
    RemoteImportResultSchema,
    RemoteImportSchema,
    TaskArgsSchema,
    TaskResultSchema,
    TaskSchema,
)
from backend.reports.routes import _render, report_response
from backend.reports.schemas import PeriodSchema
from backend.unit_of_work import request_session

blp = Blueprint(
    "inspection_plans", __name__, url_prefix="/api/v1",
    description="Inspection plans, tasks, checklists, hazards and meters in the field",
)  # fmt: skip


def _ctx() -> dict[str, Any]:
    return {"session": request_session(), "actor": current_actor()}


@blp.route("/inspection-checklists")
class Checklists(MethodView):
    """Checklists per equipment type (the newest version of each)."""

    @requires(Action.PLAN_READ)
    @blp.response(200, ChecklistSchema(many=True))
    def get(self) -> Any:
        """List the newest version of every equipment type's checklist."""
        return checklists.all_latest(request_session())


@blp.route("/inspection-checklists/<string:equipment_type>")
class ChecklistByType(MethodView):
    """One equipment type's checklist."""

    @requires(Action.PLAN_READ)
    @blp.response(200, ChecklistSchema)
    def get(self, equipment_type: str) -> Any:
        """Show the newest version."""
        found = request_session().scalar(
            select(checklists.ChecklistVersion)
            .where(checklists.ChecklistVersion.equipment_type == equipment_type)
            .order_by(checklists.ChecklistVersion.version.desc())
            .limit(1)
        )
        if found is None:
            from backend.errors import NotFound

            raise NotFound(f"No checklist for equipment type {equipment_type!r}.")
        return found

    @requires(Action.PLAN_MANAGE)
    @blp.arguments(ChecklistCreateSchema)
    @blp.response(201, ChecklistSchema)
    def post(self, data: dict[str, Any], equipment_type: str) -> Any:
        """Publish the next version (tasks already planned keep the version they were given)."""
        if len(equipment_type) > 32 or not equipment_type.replace("_", "").isalnum():
            from backend.errors import field_error

            raise field_error("equipment_type", "Letters, digits and _, at most 32.", "path")
        return checklists.publish(**_ctx(), equipment_type=equipment_type, data=data)


@blp.route("/inspection-checklists/<string:equipment_type>/versions/<int:version>")
class ChecklistVersionView(MethodView):
    """One version of a checklist (what a task was planned with)."""

    @requires(Action.PLAN_READ)
    @blp.response(200, ChecklistSchema)
    def get(self, equipment_type: str, version: int) -> Any:
        """Show one version."""
        return checklists.version_of(request_session(), equipment_type, version)


@blp.route("/inspection-plans")
class Plans(MethodView):
    """Periodic and special inspection plans."""

    @requires(Action.PLAN_READ)
    @blp.response(200, PlanSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List the plans of your departments."""
        return plans.find_plans(actor=current_actor())

    @requires(Action.PLAN_MANAGE)
    @blp.arguments(PlanCreateSchema)
    @blp.response(201, PlanSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create a plan: periodic (class, voltage, interval) or special (reason, customers)."""
        return plans.create_plan(**_ctx(), data=data)


@blp.route("/inspection-plans/<uuid:plan_id>")
class PlanById(MethodView):
    """One plan."""

    @requires(Action.PLAN_READ, scope=(InspectionPlan, "plan_id"))
    @blp.response(200, PlanSchema)
    def get(self, plan_id: uuid.UUID) -> Any:
        """Show a plan."""
        return load_in_scope(request_session(), current_actor(), InspectionPlan, plan_id)


@blp.route("/inspection-plans/<uuid:plan_id>/generate")
class PlanGeneration(MethodView):
    """Generating a plan's due tasks."""

    @requires(Action.PLAN_MANAGE, scope=(InspectionPlan, "plan_id"))
    @blp.response(200, GenerationSchema)
    @blp.alt_response(409, description="The plan is inactive")
    def post(self, plan_id: uuid.UUID) -> Any:
        """Generate the tasks now due (running it again adds nothing new)."""
        return plans.generate(**_ctx(), plan_id=plan_id)


@blp.route("/inspection-tasks")
class Tasks(MethodView):
    """Inspection tasks: an inspector's own, or a planner's departments'."""

    @requires(Action.PLAN_READ)
    @blp.arguments(TaskArgsSchema, location="query")
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List tasks by due date; filter by status, plan, inspector, overdue."""
        return plans.find_tasks(actor=current_actor(), filters=args)


@blp.route("/inspection-tasks/<uuid:task_id>")
class TaskById(MethodView):
    """One task."""

    @requires(Action.PLAN_READ, scope=(InspectionTask, "task_id"))
    @blp.response(200, TaskSchema)
    def get(self, task_id: uuid.UUID) -> Any:
        """Show a task."""
        return plans.get_task(**_ctx(), task_id=task_id)


@blp.route("/inspection-tasks/<uuid:task_id>/result")
class TaskResult(MethodView):
    """A task's result over REST (handhelds push an inspection naming the task)."""

    @requires(Action.TASK_WORK, scope=(InspectionTask, "task_id"))
    @blp.arguments(TaskResultSchema)
    @blp.response(201, InspectionSchema)
    @blp.alt_response(409, description="The task is done or cancelled")
    def post(self, data: dict[str, Any], task_id: uuid.UUID) -> Any:
        """Submit the checklist answers (checked against the task's checklist version)."""
        return plans.submit_result(**_ctx(), task_id=task_id, data=data)


@blp.route("/inspection-tasks/<uuid:task_id>/cancel")
class TaskCancel(MethodView):
    """Cancelling a task."""

    @requires(Action.PLAN_MANAGE, scope=(InspectionTask, "task_id"))
    @blp.arguments(CancelSchema)
    @blp.response(200, TaskSchema)
    @blp.alt_response(409, description="The task is done or cancelled")
    def post(self, data: dict[str, Any], task_id: uuid.UUID) -> Any:
        """Cancel an open task, with a reason."""
        return plans.cancel_task(**_ctx(), task_id=task_id, reason=data["reason"])


@blp.route("/hazards")
class Hazards(MethodView):
    """Hazards found on inspections."""

    @requires(Action.PLAN_READ)
    @blp.arguments(HazardArgsSchema, location="query")
    @blp.response(200, HazardSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args: dict[str, Any]) -> Any:
        """List hazards, newest first; filter by status, severity, premise, customer."""
        return hazards.find_hazards(actor=current_actor(), filters=args)

    @requires(Action.TASK_WORK)
    @blp.arguments(HazardCreateSchema)
    @blp.response(201, HazardSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Record a hazard (severity, category, photo, position, reading) at a premise."""
        return hazards.record_hazard(**_ctx(), data=data)


@blp.route("/hazards/<uuid:hazard_id>")
class HazardById(MethodView):
    """One hazard."""

    @requires(Action.PLAN_READ, scope=(Hazard, "hazard_id"))
    @blp.response(200, HazardSchema)
    def get(self, hazard_id: uuid.UUID) -> Any:
        """Show a hazard with its notice and follow-up."""
        return load_in_scope(request_session(), current_actor(), Hazard, hazard_id)


@blp.route("/hazards/<uuid:hazard_id>/notice")
class HazardNotice(MethodView):
    """The hazard notice to the customer."""

    @requires(Action.HAZARD_NOTICE, scope=(Hazard, "hazard_id"))
    @blp.arguments(NoticeSchema)
    @blp.response(200, HazardSchema)
    @blp.alt_response(409, description="A notice was served already")
    def post(self, data: dict[str, Any], hazard_id: uuid.UUID) -> Any:
        """Serve the notice with a rectification deadline; the follow-up task is planned."""
        return hazards.serve_notice(**_ctx(), hazard_id=hazard_id, **data)


@blp.route("/hazards/<uuid:hazard_id>/resolve")
class HazardResolve(MethodView):
    """The follow-up's outcome."""

    @requires(Action.HAZARD_NOTICE, scope=(Hazard, "hazard_id"))
    @blp.arguments(HazardResolveSchema)
    @blp.response(200, HazardSchema)
    @blp.alt_response(409, description="No notice served yet, or resolved already")
    def post(self, data: dict[str, Any], hazard_id: uuid.UUID) -> Any:
        """Record whether the customer rectified the hazard by the deadline."""
        return hazards.resolve(**_ctx(), hazard_id=hazard_id, resolution=data["resolution"])


@blp.route("/meters/<uuid:meter_id>/events")
class MeterEvents(MethodView):
    """Seal and fault events of a meter."""

    @requires(Action.PLAN_READ)
    @blp.response(200, MeterEventSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, meter_id: uuid.UUID) -> Any:
        """List the meter's events, newest first."""
        meter_field.load_meter(request_session(), current_actor(), meter_id)
        return (
            select(MeterEvent)
            .where(MeterEvent.meter_id == meter_id)
            .order_by(MeterEvent.occurred_at.desc(), MeterEvent.id)
        )

    @requires(Action.METER_EVENT_RECORD, scope=(Meter, "meter_id"))
    @blp.arguments(MeterEventCreateSchema)
    @blp.response(201, MeterEventSchema)
    @blp.alt_response(409, description="The seal is on another in-service meter (`seal-taken`)")
    def post(self, data: dict[str, Any], meter_id: uuid.UUID) -> Any:
        """Record a seal applied/removed or a fault found/cleared (the meter gets a version)."""
        return meter_field.record_event(**_ctx(), meter_id=meter_id, data=data)


@blp.route("/meter-readings/remote")
class RemoteReadings(MethodView):
    """Remote readings from the metering system."""

    @requires(Action.REMOTE_READING_IMPORT)
    @blp.arguments(RemoteImportSchema)
    @blp.response(201, RemoteImportResultSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Store remote readings and reconcile them with the photographed manual ones."""
        rules = meter_field.ReconcileRules.from_config(current_app.config)
        return meter_field.import_remote(**_ctx(), readings=data["readings"], rules=rules)


@blp.route("/meter-anomalies")
class Anomalies(MethodView):
    """Remote-vs-manual divergences and the special inspections they raised."""

    @requires(Action.PLAN_READ)
    @blp.response(200, AnomalySchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List anomalies, newest first."""
        return meter_field.find_anomalies(**_ctx())


def _reminders() -> Select[tuple[Reminder]]:
    actor = current_actor()
    authorize(actor, Action.PLAN_READ)
    query = select(Reminder).where(Reminder.department_id.in_(department_filter(actor)))
    if not can(actor, Action.TASK_READ_ALL):
        query = query.where(or_(Reminder.recipient_id == actor.id, Reminder.recipient_id.is_(None)))
    return query.order_by(Reminder.created_at.desc(), Reminder.id.desc())


@blp.route("/inspection-reminders")
class Reminders(MethodView):
    """Reminders the worker derived (due soon, overdue)."""

    @requires(Action.PLAN_READ)
    @blp.response(200, ReminderSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List your reminders, newest first (an inspector: theirs and their station's)."""
        return _reminders()


@blp.route("/reports/inspections", methods=["GET"])
@requires(Action.INSPECTION_REPORT_READ)
@blp.arguments(PeriodSchema, location="query")
@blp.doc(
    responses={
        "200": report_response(
            "Tables summary, tasks, hazards, cases, repeat_offenders, field_verification"
        )
    }
)
def inspection_report(args: dict[str, Any]) -> Any:
    """Inspections due/done/overdue, hazards, cases, recoveries, offenders, verification.

    Tasks by inspector, open hazards by severity, cases by stage and outcome with back-billing
    and recoveries, repeat offenders, field-verification progress per batch.
    """
    tables = reports.inspection_report(
        **_ctx(), start=args["from_"], end=args["to"],
        threshold=int(current_app.config["INSPECTION_REPEAT_OFFENDER_CASES"]),
    )  # fmt: skip
    return _render("inspections", tables, args)


__all__ = ["blp", "reminders"]
