"""Access requests (two-level approval), the read log, and paper-file loans."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive import grants, lending
from backend.archive.access_models import AccessRequest, PaperLoan
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.db import utcnow
from backend.inputs import Blueprint, Day, DbInteger, SelectPage, Timestamp
from backend.unit_of_work import request_session
from sync.fields import Integer

blp = Blueprint(
    "archive_access", __name__, url_prefix="/api/v1",
    description="Customer archive: access requests, read log, paper loans",
)  # fmt: skip

PURPOSE = validate.Length(1, 500)


class AccessRequestCreateSchema(Schema):
    """Which file, why, and for how long."""

    customer_id = fields.UUID(required=True)
    purpose = fields.String(required=True, validate=PURPOSE)
    valid_from = Timestamp(load_default=None, metadata={"description": "default: now"})
    valid_until = Timestamp(required=True, metadata={"description": "at most 90 days later"})


class AccessRequestSchema(Schema):
    """An access request and where it stands."""

    id = fields.UUID()
    customer_id = fields.UUID()
    requester_name = fields.String()
    requester_department_id = DbInteger()
    purpose = fields.String()
    valid_from = Timestamp()
    valid_until = Timestamp()
    status = fields.String(
        metadata={"enum": ["pending", "department_approved", "granted", "refused"]}
    )
    department_approver = fields.String(allow_none=True)
    department_approved_at = Timestamp(allow_none=True)
    archive_approver = fields.String(allow_none=True)
    archive_approved_at = Timestamp(allow_none=True)
    refused_by = fields.String(allow_none=True)
    refused_at = Timestamp(allow_none=True)
    refusal_reason = fields.String(allow_none=True)
    created_at = Timestamp()


class ArchiveDecisionSchema(Schema):
    """An approval (no body needed)."""


class RefusalSchema(Schema):
    """Why a request is refused."""

    reason = fields.String(required=True, validate=PURPOSE)


class ReadArgsSchema(Schema):
    """Read log filters."""

    customer_id = fields.UUID()
    reader = fields.String(validate=validate.Length(1, 120))
    by_grant = fields.Boolean(metadata={"description": "only reads opened by an access request"})


class FileReadSchema(Schema):
    """One read of a file."""

    id = Integer()
    customer_id = fields.UUID()
    reader = fields.String()
    reader_department_id = DbInteger(allow_none=True)
    what = fields.String()
    grant_id = fields.UUID(allow_none=True)
    why = fields.String()
    read_at = Timestamp()


class LoanCreateSchema(Schema):
    """Sign a paper file out: which, why, until when."""

    customer_id = fields.UUID(required=True)
    purpose = fields.String(required=True, validate=PURPOSE)
    due_on = Day(required=True)


class LoanArgsSchema(Schema):
    """Loan filters."""

    status = fields.String(
        validate=validate.OneOf(["requested", "approved", "out", "returned", "refused"])
    )


class LoanSchema(Schema):
    """A paper-file loan."""

    id = fields.UUID()
    customer_id = fields.UUID()
    borrower_name = fields.String()
    department_id = DbInteger()
    purpose = fields.String()
    due_on = Day()
    status = fields.String()
    approved_by = fields.String(allow_none=True)
    approved_at = Timestamp(allow_none=True)
    handed_out_by = fields.String(allow_none=True)
    handed_out_at = Timestamp(allow_none=True)
    returned_at = Timestamp(allow_none=True)
    received_by = fields.String(allow_none=True)
    created_at = Timestamp()
    overdue = fields.Boolean()


@blp.route("/archive/access-requests")
class AccessRequests(MethodView):
    """Requests to read files outside one's scope."""

    @requires(Action.ARCHIVE_ACCESS_READ)
    @blp.response(200, AccessRequestSchema(many=True))
    def get(self) -> list[AccessRequest]:
        """List your requests and those you may decide, newest first."""
        return grants.visible_requests(request_session(), current_actor())

    @requires(Action.ARCHIVE_ACCESS_REQUEST)
    @blp.arguments(AccessRequestCreateSchema)
    @blp.response(201, AccessRequestSchema)
    @blp.alt_response(409, description="The file is in your scope already")
    def post(self, data: dict[str, Any]) -> AccessRequest:
        """Ask to read a file outside your scope (identity, purpose, period)."""
        return grants.request_access(session=request_session(), actor=current_actor(), **data)


@blp.route("/archive/access-requests/<uuid:request_id>/approve-department")
class ApproveDepartment(MethodView):
    """Level 1: a department head of the requester."""

    @requires(Action.ARCHIVE_ACCESS_APPROVE_DEPARTMENT)
    @blp.arguments(ArchiveDecisionSchema)
    @blp.response(200, AccessRequestSchema)
    @blp.alt_response(409, description="Not waiting for this level, or decided already")
    def post(self, data: dict[str, Any], request_id: uuid.UUID) -> AccessRequest:
        """Approve as the requester's department head (not your own request)."""
        return grants.decide(
            session=request_session(), actor=current_actor(), request_id=request_id,
            approve=True, level="department",
        )  # fmt: skip


@blp.route("/archive/access-requests/<uuid:request_id>/approve-archive")
class ApproveArchive(MethodView):
    """Level 2: the archive keeping the file; it grants the period."""

    @requires(Action.ARCHIVE_ACCESS_APPROVE_ARCHIVE)
    @blp.arguments(ArchiveDecisionSchema)
    @blp.response(200, AccessRequestSchema)
    @blp.alt_response(409, description="Not waiting for this level, or decided already")
    def post(self, data: dict[str, Any], request_id: uuid.UUID) -> AccessRequest:
        """Approve as the archive keeping the file (someone else than level 1)."""
        return grants.decide(
            session=request_session(), actor=current_actor(), request_id=request_id,
            approve=True, level="archive",
        )  # fmt: skip


@blp.route("/archive/access-requests/<uuid:request_id>/refuse")
class RefuseAccess(MethodView):
    """Either level may refuse."""

    @requires(Action.ARCHIVE_ACCESS_APPROVE_DEPARTMENT, Action.ARCHIVE_ACCESS_APPROVE_ARCHIVE)
    @blp.arguments(RefusalSchema)
    @blp.response(200, AccessRequestSchema)
    @blp.alt_response(409, description="Decided already")
    def post(self, data: dict[str, Any], request_id: uuid.UUID) -> AccessRequest:
        """Refuse a request at the level it waits for (approvers of either level)."""
        return grants.decide(
            session=request_session(), actor=current_actor(), request_id=request_id,
            approve=False, reason=data["reason"],
        )  # fmt: skip


@blp.route("/archive/reads")
class FileReads(MethodView):
    """The read log of the files in your scope."""

    @requires(Action.ARCHIVE_READ_LOG)
    @blp.arguments(ReadArgsSchema, location="query")
    @blp.response(200, FileReadSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self, args: dict[str, Any]) -> Any:
        """Who read which file, what, when and why (scope, or an access request)."""
        return grants.reads(request_session(), current_actor(), **args)


def _loan_view(loan: PaperLoan, now: datetime) -> dict[str, Any]:
    view = {c.key: getattr(loan, c.key) for c in PaperLoan.__table__.columns}
    return {**view, "overdue": loan.status == "out" and now >= lending.loan_due_at(loan)}


@blp.route("/archive/loans")
class Loans(MethodView):
    """Paper files signed out."""

    @requires(Action.ARCHIVE_LOAN_READ)
    @blp.arguments(LoanArgsSchema, location="query")
    @blp.response(200, LoanSchema(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """List loans: your own; approvers and the archive those of their scope."""
        session = request_session()
        query = lending.loans(session, current_actor(), status=args.get("status"))
        now = utcnow()
        return [_loan_view(loan, now) for loan in session.scalars(query.limit(1000))]

    @requires(Action.ARCHIVE_LOAN_REQUEST)
    @blp.arguments(LoanCreateSchema)
    @blp.response(201, LoanSchema)
    @blp.alt_response(409, description="The paper file is lent already")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Ask to sign out a file's paper (needs a supervisor's approval)."""
        loan = lending.request_loan(session=request_session(), actor=current_actor(), **data)
        return _loan_view(loan, utcnow())


def _step(name: str, action: Action, run: Any, doc: str) -> None:
    class LoanStep(MethodView):
        @requires(action)
        @blp.arguments(ArchiveDecisionSchema)
        @blp.response(200, LoanSchema)
        @blp.alt_response(409, description="The loan is not in the state this step needs")
        def post(self, data: dict[str, Any], loan_id: uuid.UUID) -> dict[str, Any]:
            loan = run(session=request_session(), actor=current_actor(), loan_id=loan_id)
            return _loan_view(loan, utcnow())

    LoanStep.post.__doc__ = doc
    LoanStep.__name__ = f"Loan{name.title().replace('-', '')}"
    blp.route(f"/archive/loans/<uuid:loan_id>/{name}")(LoanStep)


_step("approve", Action.ARCHIVE_LOAN_APPROVE,
      lambda **kw: lending.decide_loan(approve=True, **kw),
      "Approve a loan (a supervisor signs the file out; not your own).")  # fmt: skip
_step("refuse", Action.ARCHIVE_LOAN_APPROVE,
      lambda **kw: lending.decide_loan(approve=False, **kw), "Refuse a loan.")  # fmt: skip
_step("hand-out", Action.ARCHIVE_LOAN_HANDLE, lending.hand_out,
      "The archive hands the approved file over.")  # fmt: skip
_step("return", Action.ARCHIVE_LOAN_HANDLE, lending.take_back,
      "The archive takes the file back.")  # fmt: skip
