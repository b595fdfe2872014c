"""Documents and photos of a customer file: attach, list, and read bytes and thumbnails."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive import documents_service as docs
from backend.archive.documents import CustomerDocument
from backend.archive.grants import record_reads
from backend.archive.records import Customer
from backend.archive.vocab import Stage
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import NotFound
from backend.inputs import Blueprint, Timestamp
from backend.unit_of_work import request_session
from sync.blobs.http import EXTENSIONS, send_blob
from sync.blobs.images import thumbnail_name
from sync.http import blob_storage

blp = Blueprint(
    "archive_documents", __name__, url_prefix="/api/v1", description="Customer documents"
)

STAGES = [s.value for s in Stage]


class DocumentCreateSchema(Schema):
    """A document: upload its bytes to PUT /api/v1/blobs/{sha256}, then attach it here."""

    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-fA-F]{64}$"))
    stage = fields.String(required=True, validate=validate.OneOf(STAGES))
    kind = fields.String(required=True, validate=validate.Length(1, 64))
    title = fields.String(required=True, validate=validate.Length(1, 200))
    media_type = fields.String(load_default=None, validate=validate.Length(max=100))
    premise_id = fields.UUID(load_default=None)
    business_at = Timestamp(
        load_default=None, metadata={"description": "When the business step happened"}
    )
    paper_shelf = fields.String(load_default=None, validate=validate.Length(max=32))
    paper_box = fields.String(load_default=None, validate=validate.Length(max=32))
    supersedes_id = fields.UUID(load_default=None)


class DocumentReadSchema(Schema):
    """A document of a file, with the state of its bytes."""

    id = fields.UUID()
    customer_id = fields.UUID()
    premise_id = fields.UUID(allow_none=True)
    stage = fields.String()
    kind = fields.String()
    title = fields.String()
    sha256 = fields.String()
    media_type = fields.String(allow_none=True)
    business_at = Timestamp(allow_none=True)
    paper_shelf = fields.String(allow_none=True)
    paper_box = fields.String(allow_none=True)
    supersedes_id = fields.UUID(allow_none=True)
    created_by = fields.String()
    created_at = Timestamp()
    blob = fields.String(
        metadata={"description": "stored, pending, missing, or destroyed (retention)"}
    )
    thumbnail = fields.Boolean()


class StageArgsSchema(Schema):
    """Filter by stage."""

    stage = fields.String(validate=validate.OneOf(STAGES))


def _views(documents: list[CustomerDocument]) -> list[dict[str, Any]]:
    blobs = docs.blob_states(request_session(), [d.sha256 for d in documents])
    gone = docs.destroyed_ids(request_session(), [d.id for d in documents])
    result = []
    for document in documents:
        blob = blobs.get(document.sha256)
        state = "missing" if blob is None else ("stored" if blob.complete else "pending")
        if document.id in gone:
            state = "destroyed"
        view = {c.key: getattr(document, c.key) for c in CustomerDocument.__table__.columns}
        result.append({**view, "blob": state, "thumbnail": bool(blob and blob.has_thumbnail)})
    return result


@blp.route("/customers/<uuid:customer_id>/documents")
class CustomerDocuments(MethodView):
    """Stage-tagged documents of a file; add-only (a correction supersedes)."""

    @requires(Action.ARCHIVE_READ, scope=(Customer, "customer_id"))
    @blp.arguments(StageArgsSchema, location="query")
    @blp.response(200, DocumentReadSchema(many=True))
    def get(self, args: dict[str, Any], customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """List a file's documents, oldest first."""
        found = docs.documents_of(
            session=request_session(), actor=current_actor(), customer_id=customer_id,
            stage=args.get("stage"),
        )  # fmt: skip
        record_reads(current_actor(), [customer_id], "documents")
        return _views(found)

    @requires(Action.DOCUMENT_ATTACH, scope=(Customer, "customer_id"))
    @blp.arguments(DocumentCreateSchema)
    @blp.response(201, DocumentReadSchema)
    def post(self, data: dict[str, Any], customer_id: uuid.UUID) -> dict[str, Any]:
        """Attach a document or photo to a file with its stage and paper location."""
        document = docs.attach(
            session=request_session(), actor=current_actor(), customer_id=customer_id, data=data
        )
        return _views([document])[0]


def _bytes(document_id: uuid.UUID, name: str, media_type: str | None) -> Response:
    document = docs.get_document(
        session=request_session(), actor=current_actor(), document_id=document_id
    )
    record_reads(current_actor(), [document.customer_id], f"document {document.stage}")
    gone = docs.destroyed_ids(request_session(), [document.id])
    if gone:
        raise NotFound(f"Document {document_id} was destroyed after its retention ran out.")
    blob = docs.blob_states(request_session(), [document.sha256]).get(document.sha256)
    storage = blob_storage()
    stored = name.format(sha=document.sha256)
    if blob is None or not blob.complete or not storage.exists(stored):
        raise NotFound(f"The bytes of document {document_id} have not arrived (or no thumbnail).")
    # As the blob door serves them: a PDF or an unknown type downloads (attachment) under a
    # sandboxing policy, never rendered on the API's own origin.
    served = media_type or blob.media_type or "application/octet-stream"
    extension = EXTENSIONS.get(served, "bin")
    name = f"{document.id}.{extension}"
    return send_blob(storage.read(stored), served, stored, name, logged=True)  # see the log


@blp.route("/documents/<uuid:document_id>/content")
class DocumentContent(MethodView):
    """A document's bytes."""

    @requires(Action.ARCHIVE_READ, scope=(CustomerDocument, "document_id"))
    @blp.response(
        200, {"format": "binary", "type": "string"}, content_type="application/octet-stream"
    )
    def get(self, document_id: uuid.UUID) -> Response:
        """Download a document."""
        return _bytes(document_id, "{sha}", None)


@blp.route("/documents/<uuid:document_id>/thumbnail")
class DocumentThumbnail(MethodView):
    """A photo's thumbnail (JPEG), made by the blob store on arrival."""

    @requires(Action.ARCHIVE_READ, scope=(CustomerDocument, "document_id"))
    @blp.response(200, {"format": "binary", "type": "string"}, content_type="image/jpeg")
    def get(self, document_id: uuid.UUID) -> Response:
        """Download a document's thumbnail."""
        return _bytes(document_id, thumbnail_name("{sha}"), "image/jpeg")
