"""Retention rules, files due for destruction, destruction lists, legal holds; quality."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, after_this_request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive import quality, retention
from backend.archive.access import customer_scope
from backend.archive.records import Customer
from backend.archive.retention_models import DestructionList, LegalHold
from backend.archive.tabular import write
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import NotFound
from backend.inputs import Blueprint, DbInteger, Timestamp
from backend.reports.export import XLSX_MEDIA_TYPE
from backend.unit_of_work import request_session
from sync.blobs.service import remove_files
from sync.fields import Integer
from sync.http import blob_storage

blp = Blueprint(
    "archive_retention", __name__, url_prefix="/api/v1",
    description="Customer archive: retention, destruction, legal holds, data quality",
)  # fmt: skip

CLASSES = ["high", "low"]


class RetentionRuleSchema(Schema):
    """Years a closed file of a voltage class is kept."""

    voltage_class = fields.String(dump_only=True)
    years = Integer(required=True, validate=validate.Range(1, 100))


class DueFileSchema(Schema):
    """A closed file whose retention has run."""

    customer_id = fields.UUID()
    account_number = fields.String()
    voltage_level = fields.String()
    department_id = DbInteger()
    closed_at = Timestamp()
    retain_until = Timestamp()


class DestructionCreateSchema(Schema):
    """The files to destroy, and where their papers wait meanwhile (kept apart)."""

    customer_ids = fields.List(fields.UUID(), required=True, validate=validate.Length(1, 1000))
    storage_location = fields.String(required=True, validate=validate.Length(1, 120))
    note = fields.String(load_default=None, validate=validate.Length(max=500))


class DestructionItemSchema(Schema):
    """A file on a list."""

    customer_id = fields.UUID()
    account_number = fields.String()
    closed_at = Timestamp()
    retain_until = Timestamp()


class DestroyedDocumentSchema(Schema):
    """What was destroyed, by whom, when."""

    customer_id = fields.UUID()
    document_id = fields.UUID()
    sha256 = fields.String()
    stage = fields.String()
    title = fields.String()
    bytes_removed = fields.Boolean()
    destroyed_by = fields.String()
    destroyed_at = Timestamp()


class DestructionListSchema(Schema):
    """A destruction list with its files (and, once approved, what it destroyed)."""

    id = fields.UUID()
    department_id = DbInteger()
    storage_location = fields.String()
    note = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["proposed", "approved", "refused"]})
    proposed_by = fields.String()
    proposed_at = Timestamp()
    decided_by = fields.String(allow_none=True)
    decided_at = Timestamp(allow_none=True)
    items = fields.List(fields.Nested(DestructionItemSchema))
    destroyed = fields.List(fields.Nested(DestroyedDocumentSchema))


class EmptySchema(Schema):
    """No body needed."""


class HoldCreateSchema(Schema):
    """Why the file must be kept."""

    reason = fields.String(required=True, validate=validate.Length(1, 500))


class HoldSchema(Schema):
    """A legal hold."""

    id = fields.UUID()
    customer_id = fields.UUID()
    reason = fields.String()
    placed_by = fields.String()
    placed_at = Timestamp()
    released_by = fields.String(allow_none=True)
    released_at = Timestamp(allow_none=True)


class QualitySchema(Schema):
    """Data-quality figures of one department's files."""

    class Meta:  # noqa: D106 - marshmallow options
        ordered = True

    department_id = DbInteger()
    department = fields.String()
    files = Integer()
    active = Integer()
    closed = Integer()
    incomplete = Integer(metadata={"description": "active files missing a stage"})
    missing_application = Integer()
    missing_contract = Integer()
    stale = Integer(metadata={"description": f"no version for {quality.STALE_DAYS} d"})
    deadlines_warning = Integer()
    deadlines_overdue = Integer()
    overdue_digitise = Integer()
    overdue_handover = Integer()
    overdue_new_file = Integer()
    overdue_changed_file = Integer()
    overdue_meter_calibration = Integer()
    overdue_meter_replacement = Integer()
    overdue_contract_expiry = Integer()
    overdue_loan_return = Integer()
    reads = Integer()
    reads_by_grant = Integer(metadata={"description": "reads outside scope by approval"})


class ReportArgsSchema(Schema):
    """Report format."""

    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


def _list_view(found: DestructionList) -> dict[str, Any]:
    session = request_session()
    view = {c.key: getattr(found, c.key) for c in DestructionList.__table__.columns}
    return {
        **view,
        "items": retention.items(session, found.id),
        "destroyed": retention.destroyed(session, found.id),
    }


@blp.route("/archive/retention-rules")
class RetentionRules(MethodView):
    """Retention per voltage class."""

    @requires(Action.ARCHIVE_RETENTION_READ)
    @blp.response(200, RetentionRuleSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List the years a closed file is kept, per voltage class."""
        live = retention.years(request_session())
        return [{"voltage_class": k, "years": v} for k, v in sorted(live.items())]


@blp.route("/archive/retention-rules/<string:voltage_class>")
class RetentionRuleByClass(MethodView):
    """One class's retention."""

    @requires(Action.ARCHIVE_CONFIGURE)
    @blp.arguments(RetentionRuleSchema)
    @blp.response(200, RetentionRuleSchema)
    def put(self, data: dict[str, Any], voltage_class: str) -> Any:
        """Set a class's retention (never below 5 years high, 3 years low voltage)."""
        if voltage_class not in CLASSES:
            raise NotFound(f"No voltage class {voltage_class!r}; classes: high, low.")
        return retention.set_rule(request_session(), current_actor(), voltage_class, data["years"])


@blp.route("/archive/retention/due")
class DueFiles(MethodView):
    """Closed files whose retention has run."""

    @requires(Action.ARCHIVE_RETENTION_READ)
    @blp.response(200, DueFileSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List files due for destruction (not held, on no list), oldest first."""
        session, actor = request_session(), current_actor()
        due = retention.due_files(session, scope=customer_scope(actor, session))
        return [
            {"customer_id": c.id, "account_number": c.account_number,
             "voltage_level": c.voltage_level, "department_id": c.department_id,
             "closed_at": c.closed_at, "retain_until": until}
            for c, until in due
        ]  # fmt: skip


@blp.route("/archive/destruction-lists")
class DestructionLists(MethodView):
    """Destruction lists."""

    @requires(Action.ARCHIVE_RETENTION_READ)
    @blp.response(200, DestructionListSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List the destruction lists of your scope, newest first."""
        return [_list_view(x) for x in retention.lists(request_session(), current_actor())]

    @requires(Action.ARCHIVE_DESTRUCTION_PROPOSE)
    @blp.arguments(DestructionCreateSchema)
    @blp.response(201, DestructionListSchema)
    @blp.alt_response(409, description="`not_due`: files not closed past retention, or held")
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Propose files past retention for destruction (their papers set apart)."""
        found = retention.propose(session=request_session(), actor=current_actor(), **data)
        return _list_view(found)


def _decide(list_id: uuid.UUID, approve: bool) -> dict[str, Any]:
    storage = blob_storage()
    found, names = retention.decide(
        session=request_session(), actor=current_actor(), list_id=list_id, approve=approve
    )
    if names:

        @after_this_request
        def remove_after_commit(response: Response) -> Response:
            # Runs when the response closes, after the request's commit (a rollback keeps them).
            if response.status_code < 400:
                response.call_on_close(lambda: remove_files(storage, names))
            return response

    return _list_view(found)


@blp.route("/archive/destruction-lists/<uuid:list_id>/approve")
class ApproveDestruction(MethodView):
    """A supervisor (not the proposer) approves: the documents are destroyed and recorded."""

    @requires(Action.ARCHIVE_DESTRUCTION_APPROVE)
    @blp.arguments(EmptySchema)
    @blp.response(200, DestructionListSchema)
    @blp.alt_response(409, description="Decided already, or `blocked`: held or still retained")
    def post(self, data: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """Approve a destruction list: the documents' bytes go, the record stays."""
        return _decide(list_id, True)


@blp.route("/archive/destruction-lists/<uuid:list_id>/refuse")
class RefuseDestruction(MethodView):
    """Refuse a list: its files become due again."""

    @requires(Action.ARCHIVE_DESTRUCTION_APPROVE)
    @blp.arguments(EmptySchema)
    @blp.response(200, DestructionListSchema)
    @blp.alt_response(409, description="Decided already")
    def post(self, data: dict[str, Any], list_id: uuid.UUID) -> dict[str, Any]:
        """Refuse a destruction list."""
        return _decide(list_id, False)


@blp.route("/customers/<uuid:customer_id>/legal-holds")
class CustomerHolds(MethodView):
    """Legal holds of a file."""

    @requires(Action.ARCHIVE_RETENTION_READ, scope=(Customer, "customer_id"))
    @blp.response(200, HoldSchema(many=True))
    def get(self, customer_id: uuid.UUID) -> list[LegalHold]:
        """List a file's legal holds, newest first."""
        return retention.holds_of(request_session(), customer_id)

    @requires(Action.ARCHIVE_LEGAL_HOLD, scope=(Customer, "customer_id"))
    @blp.arguments(HoldCreateSchema)
    @blp.response(201, HoldSchema)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> LegalHold:
        """Place a legal hold: the file is not destroyed while it holds."""
        return retention.place_hold(
            session=request_session(), actor=current_actor(), customer_id=customer_id, **data
        )


@blp.route("/archive/legal-holds/<uuid:hold_id>/release")
class ReleaseHold(MethodView):
    """Release a hold (kept, with who and when)."""

    @requires(Action.ARCHIVE_LEGAL_HOLD)
    @blp.arguments(EmptySchema)
    @blp.response(200, HoldSchema)
    @blp.alt_response(409, description="Released already")
    def post(self, data: dict[str, Any], hold_id: uuid.UUID) -> LegalHold:
        """Release a legal hold."""
        return retention.release_hold(
            session=request_session(), actor=current_actor(), hold_id=hold_id
        )


@blp.route("/archive/quality")
class Quality(MethodView):
    """Data-quality figures per department."""

    @requires(Action.ARCHIVE_QUALITY_READ)
    @blp.response(200, QualitySchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Files, incomplete files per stage, stale files, deadlines, reads by approval."""
        session, actor = request_session(), current_actor()
        return quality.figures(session, scope=customer_scope(actor, session))


@blp.route("/archive/quality/report")
class QualityReport(MethodView):
    """The same figures as a file."""

    @requires(Action.ARCHIVE_QUALITY_READ)
    @blp.arguments(ReportArgsSchema, location="query")
    @blp.doc(
        responses={
            "200": {
                "description": "One row per department as CSV (`format=csv`) or XLSX",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    )
    def get(self, args: dict[str, Any]) -> Response:
        """Download the data-quality report (CSV or XLSX)."""
        session, actor = request_session(), current_actor()
        rows = quality.figures(session, scope=customer_scope(actor, session))
        file_format = args["format"]
        media = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MEDIA_TYPE}
        return Response(
            write(rows, quality.COLUMNS, file_format),
            content_type=media[file_format],  # as is: `mimetype` would add a second charset
            headers={
                "Content-Disposition": f'attachment; filename="archive-quality.{file_format}"'
            },
        )
