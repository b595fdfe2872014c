"""Deadlines of customer files: the worklist, the rules, and business steps with their gates."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive import deadlines, gates
from backend.archive.access import ArchiveAction, customer_scope, require
from backend.archive.deadline_models import DeadlineRule
from backend.archive.records import Customer
from backend.archive.service import get_customer
from backend.archive.vocab import Stage
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import NotFound
from backend.inputs import Blueprint, DbInteger, Timestamp
from backend.unit_of_work import request_session
from sync.fields import Integer

blp = Blueprint(
    "archive_deadlines", __name__, url_prefix="/api/v1",
    description="Customer archive: deadlines, chasing and gates",
)  # fmt: skip

KINDS = [k.value for k in deadlines.Kind]
STATUSES = [s.value for s in deadlines.Status]
STAGES = [s.value for s in Stage]


class DeadlineArgsSchema(Schema):
    """Worklist filters."""

    kind = fields.String(validate=validate.OneOf(KINDS))
    status = fields.String(validate=validate.OneOf(STATUSES))
    department_id = DbInteger()


class DeadlineItemSchema(Schema):
    """One open deadline of one file."""

    kind = fields.String(metadata={"enum": KINDS})
    subject_id = fields.String(metadata={"description": "the step, customer or meter"})
    customer_id = fields.UUID()
    account_number = fields.String()
    department_id = DbInteger()
    started_at = Timestamp()
    due_at = Timestamp()
    status = fields.String(metadata={"enum": STATUSES})
    detail = fields.String()


class DeadlineRuleSchema(Schema):
    """How long one kind of deadline runs, its warning and how often chasing repeats."""

    kind = fields.String(dump_only=True)
    limit_hours = Integer(required=True, validate=validate.Range(0, 24 * 366 * 5))
    warning_hours = Integer(required=True, validate=validate.Range(0, 24 * 366))
    repeat_hours = Integer(required=True, validate=validate.Range(1, 24 * 366))


class StepCreateSchema(Schema):
    """A business step done: it must pass its gate (the documents it needs)."""

    stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    completed_at = Timestamp(load_default=None, metadata={"description": "default: now"})
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class ArchiveStepSchema(Schema):
    """A recorded business step."""

    id = fields.UUID()
    customer_id = fields.UUID()
    department_id = DbInteger()
    stage = fields.String()
    completed_at = Timestamp()
    note = fields.String(allow_none=True)
    recorded_by = fields.String()
    recorded_at = Timestamp()


@blp.route("/archive/deadlines")
class Deadlines(MethodView):
    """The worklist: open deadlines of the files in your scope."""

    @requires(Action.ARCHIVE_DEADLINE_READ)
    @blp.arguments(DeadlineArgsSchema, location="query")
    @blp.response(200, DeadlineItemSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """List open deadlines (normal, warning, overdue), soonest due first."""
        session, actor = request_session(), current_actor()
        require(actor, ArchiveAction.READ_DEADLINES)
        scope = customer_scope(actor, session)
        if args.get("department_id") is not None:
            scope = scope & (Customer.department_id == args["department_id"])
        kinds = {args["kind"]} if args.get("kind") else None
        items = deadlines.open_items(session, scope=scope, kinds=kinds)
        if args.get("status"):
            items = [i for i in items if i.status == args["status"]]
        return [i.as_dict() for i in items]


@blp.route("/archive/deadline-rules")
class DeadlineRules(MethodView):
    """The limits per kind of deadline."""

    @requires(Action.ARCHIVE_DEADLINE_READ)
    @blp.response(200, DeadlineRuleSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List the rules (limit, warning, repeat) of every kind."""
        live = deadlines.rules(request_session())
        return [
            {"kind": kind, "limit_hours": rule.limit.total_seconds() // 3600,
             "warning_hours": rule.warning.total_seconds() // 3600,
             "repeat_hours": rule.repeat.total_seconds() // 3600}
            for kind, rule in live.items()
        ]  # fmt: skip


@blp.route("/archive/deadline-rules/<string:deadline_kind>")
class DeadlineRuleByKind(MethodView):
    """One kind's limits."""

    @requires(Action.ARCHIVE_CONFIGURE)
    @blp.arguments(DeadlineRuleSchema)
    @blp.response(200, DeadlineRuleSchema)
    def put(self, data: dict[str, Any], deadline_kind: str) -> DeadlineRule:
        """Set one kind's limit, warning and repeat (hours); items follow at once."""
        if deadline_kind not in KINDS:
            raise NotFound(f"No deadline kind {deadline_kind!r}; kinds: {', '.join(KINDS)}.")
        return deadlines.set_rule(request_session(), deadline_kind, data)


@blp.route("/customers/<uuid:customer_id>/steps")
class CustomerSteps(MethodView):
    """Business steps of a file: each starts its deadlines; some need documents first."""

    @requires(Action.ARCHIVE_READ, scope=(Customer, "customer_id"))
    @blp.response(200, ArchiveStepSchema(many=True))
    def get(self, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """List a file's steps in the order they happened."""
        session = request_session()
        get_customer(session=session, actor=current_actor(), customer_id=customer_id)
        return [gates.step_view(s) for s in gates.steps_of(session, customer_id)]

    @requires(Action.ARCHIVE_STEP_RECORD, scope=(Customer, "customer_id"))
    @blp.arguments(StepCreateSchema)
    @blp.response(201, ArchiveStepSchema)
    @blp.alt_response(409, description="gate-closed: `missing` lists the stages without documents")
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Record a completed step (refused while the documents it needs are missing)."""
        step = gates.record_step(
            session=request_session(), actor=current_actor(), customer_id=customer_id, **data
        )
        return gates.step_view(step)
