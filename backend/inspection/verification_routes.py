"""Field verification of the archive over HTTP: batches, items, review, SMS check, report."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action, load_in_scope
from backend.inputs import Blueprint, SelectPage, Timestamp
from backend.inspection import verification
from backend.inspection.verification_models import VerificationBatch, VerificationItem
from backend.reports.routes import _render, report_response
from backend.reports.schemas import ExportSchema
from backend.unit_of_work import request_session
from sync.fields import Float, Integer

blp = Blueprint(
    "field_verification", __name__, url_prefix="/api/v1",
    description="Field verification of customer files (seed 003)",
)  # fmt: skip


class VerificationBatchCreateSchema(Schema):
    """Which files to verify and who goes."""

    name = fields.String(required=True, validate=validate.Length(1, 200))
    department_id = Integer(required=True, validate=validate.Range(1, 2**31 - 1))
    customer_type = fields.String(
        load_default=None, allow_none=True,
        validate=validate.OneOf(["residential", "non_residential"]),
    )  # fmt: skip
    transformer_area_id = fields.UUID(load_default=None, allow_none=True)
    flags = fields.List(
        fields.String(validate=validate.OneOf(verification.FLAGS)), load_default=list
    )
    limit = Integer(load_default=None, validate=validate.Range(1, verification.MAX_BATCH))
    assignee_ids = fields.List(
        Integer(validate=validate.Range(1, 2**31 - 1)), required=True,
        validate=validate.Length(1, 50),
    )  # fmt: skip


class VerificationBatchSchema(Schema):
    """A batch."""

    id = fields.UUID()
    number = fields.String()
    name = fields.String()
    department_id = Integer()
    criteria = fields.Dict()
    status = fields.String()
    quality_before = Float()
    created_by = fields.String()
    created_at = Timestamp()
    closed_at = Timestamp(allow_none=True)


class VerificationItemSchema(Schema):
    """One file of a batch."""

    id = fields.UUID()
    batch_id = fields.UUID()
    customer_id = fields.UUID()
    premise_id = fields.UUID(allow_none=True)
    assignee_id = Integer(allow_none=True)
    status = fields.String()
    corrections = fields.Dict()
    notes = fields.String(allow_none=True)
    flags_before = fields.List(fields.String())
    flags_after = fields.List(fields.String(), allow_none=True)
    checked_by = fields.String(allow_none=True)
    checked_at = Timestamp(allow_none=True)
    reviewed_by = fields.String(allow_none=True)
    reviewed_at = Timestamp(allow_none=True)
    review_note = fields.String(allow_none=True)
    applied_versions = fields.List(fields.Dict())
    sms_status = fields.String(allow_none=True)
    sms_sent_at = Timestamp(allow_none=True)


class VerificationCheckSchema(Schema):
    """What was found on site (REST; handhelds push the same)."""

    corrections = fields.Dict(
        keys=fields.String(validate=validate.OneOf(verification.CORRECTABLE)),
        values=fields.String(allow_none=True, validate=validate.Length(max=400)),
        load_default=dict,
        metadata={
            "description": "Field → value as found on site. Keys: "
            + ", ".join(verification.CORRECTABLE)
            + ". Meter values: multiplier as a number or ratios ('300/5'), dates YYYY-MM-DD, "
            "seals comma-separated; `meter_id` names the meter when the premise has several."
        },
    )
    notes = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=4000))


class VerificationReviewSchema(Schema):
    """A supervisor's review."""

    approve = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=1000))


class VerificationConfirmSchema(Schema):
    """The SMS check's outcome."""

    sent = Integer()
    failed = Integer()
    no_phone = Integer()
    channel = fields.String()


@blp.route("/verification-batches")
class Batches(MethodView):
    """Batches of customer files to verify on site."""

    @requires(Action.VERIFICATION_READ)
    @blp.response(200, VerificationBatchSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List the batches of your departments."""
        return verification.find_batches(actor=current_actor())

    @requires(Action.VERIFICATION_MANAGE)
    @blp.arguments(VerificationBatchCreateSchema)
    @blp.response(201, VerificationBatchSchema)
    @blp.alt_response(409, description="No file matches")
    def post(self, data: dict[str, Any]) -> Any:
        """Select a batch (area, class, data-quality flags) and assign it to field staff."""
        return verification.create_batch(
            session=request_session(), actor=current_actor(), data=data
        )


@blp.route("/verification-batches/<uuid:batch_id>/items")
class BatchItems(MethodView):
    """The files of a batch."""

    @requires(Action.VERIFICATION_READ, scope=(VerificationBatch, "batch_id"))
    @blp.response(200, VerificationItemSchema(many=True))
    def get(self, batch_id: uuid.UUID) -> Any:
        """List the batch's files (field staff: the ones assigned to them)."""
        session, actor = request_session(), current_actor()
        batch = load_in_scope(session, actor, VerificationBatch, batch_id)
        return verification.items_of(session, actor, batch)


@blp.route("/verification-items/<uuid:item_id>/check")
class ItemCheck(MethodView):
    """Recording what was found on site."""

    @requires(
        Action.VERIFICATION_WORK, scope=(VerificationItem, "item_id"),
        before_body=lambda item_id: verification.may_check(
            session=request_session(), actor=current_actor(), item_id=item_id
        ),
    )  # fmt: skip
    @blp.arguments(VerificationCheckSchema)
    @blp.response(200, VerificationItemSchema)
    @blp.alt_response(409, description="The file is validated or confirmed already")
    def post(self, data: dict[str, Any], item_id: uuid.UUID) -> Any:
        """Record corrections (validated by the rules) and mark the file checked."""
        session, actor = request_session(), current_actor()
        item = verification.load_item(session, actor, item_id, Action.VERIFICATION_WORK)
        return verification.check_item(session=session, actor=actor, item=item, values=data)


@blp.route("/verification-items/<uuid:item_id>/review")
class ItemReview(MethodView):
    """A supervisor's review of a checked file."""

    @requires(Action.VERIFICATION_REVIEW, scope=(VerificationItem, "item_id"))
    @blp.arguments(VerificationReviewSchema)
    @blp.response(200, VerificationItemSchema)
    @blp.alt_response(409, description="The file is not checked")
    def post(self, data: dict[str, Any], item_id: uuid.UUID) -> Any:
        """Approve (corrections become archive versions) or send back with a note.

        Approved corrections are versions with source `field_verification`.
        """
        return verification.review_item(
            session=request_session(), actor=current_actor(), item_id=item_id, **data
        )


@blp.route("/verification-batches/<uuid:batch_id>/confirm")
class BatchConfirm(MethodView):
    """The customer SMS check."""

    @requires(Action.VERIFICATION_MANAGE, scope=(VerificationBatch, "batch_id"))
    @blp.response(200, VerificationConfirmSchema)
    def post(self, batch_id: uuid.UUID) -> Any:
        """Text each validated file's customer through the SMS sender; record the outcome."""
        return verification.confirm_batch(
            session=request_session(), actor=current_actor(), batch_id=batch_id
        )


@blp.route("/verification-batches/<uuid:batch_id>/report", methods=["GET"])
@requires(Action.VERIFICATION_READ, scope=(VerificationBatch, "batch_id"))
@blp.arguments(ExportSchema, location="query")
@blp.doc(responses={"200": report_response("Tables summary, items, fields")})
def batch_report(args: dict[str, Any], batch_id: uuid.UUID) -> Any:
    """Corrections made and the data-quality change of a batch (JSON, CSV, XLSX)."""
    session = request_session()
    batch = load_in_scope(session, current_actor(), VerificationBatch, batch_id)
    return _render(f"verification-{batch.number}", verification.report(session, batch), args)
