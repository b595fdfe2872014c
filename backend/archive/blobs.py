"""Blobs the archive holds (`sync.registry.BlobReference`), and who may read them.

A photo is readable by whoever may read its record (the sync scope: the crew or department
that took it, registered by the photo adapter's `blob_fields`), and also by whoever may read
the work order, inspection or customer file it documents: a call center agent sees the photos
of the orders it took. A document is readable with its customer file.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope, hidden_document_stages
from backend.archive.documents import CustomerDocument
from backend.archive.grants import record_reads
from backend.archive.models import Photo
from backend.archive.records import Customer, Premise
from backend.archive.retention_models import DestroyedDocument
from backend.auth import policy
from backend.auth.sync_access import backend_actor
from backend.dispatch.models import WorkOrder
from backend.inspection.models import Inspection
from sync.registry import BlobReference, Registry, SyncActor


def _visible_documents(session: Session, actor: SyncActor, sha256: str) -> Select[Any]:
    """The files (customer ids) whose readable, not destroyed documents hold this blob."""
    caller = backend_actor(actor)
    return (
        select(CustomerDocument.customer_id)
        .join(Customer, Customer.id == CustomerDocument.customer_id)
        .where(
            CustomerDocument.sha256 == sha256,
            CustomerDocument.stage.not_in(hidden_document_stages(caller)),
            CustomerDocument.id.not_in(select(DestroyedDocument.document_id)),
            customer_scope(caller, session),
        )
    )


def document_of_visible_file(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether a document of a customer file the caller may read holds this blob.

    A destroyed document grants nothing, even while another record keeps its bytes.
    """
    return session.scalar(_visible_documents(session, actor, sha256).limit(1)) is not None


def log_document_read(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Log a read of the files whose documents hold bytes served through `/blobs`.

    The same read as `/documents/{id}/content`, which logs it too. A blob that is no
    document (a handheld's photo, most of them) costs one indexed lookup.
    """
    if session.scalar(select(CustomerDocument.id).where(CustomerDocument.sha256 == sha256)) is None:
        return False
    files = sorted(set(session.scalars(_visible_documents(session, actor, sha256))), key=str)
    if files:
        record_reads(backend_actor(actor), files, "document bytes")
    return bool(files)


def photo_of_visible_file(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether a photo of a customer or premise the caller may read shows this blob."""
    premise_customer = select(Premise.customer_id).where(Premise.id == Photo.premise_id)
    visible = select(Customer.id).where(customer_scope(backend_actor(actor), session))
    query = select(Photo.id).where(
        Photo.sha256 == sha256,
        Photo.deleted.is_(False),
        or_(
            Photo.customer_id.in_(visible),
            premise_customer.scalar_subquery().in_(visible),
        ),
    )
    return session.scalar(query.limit(1)) is not None


def photo_of_visible_order(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether a photo of a work order the caller may see shows this blob."""
    query = (
        select(Photo.id)
        .join(WorkOrder, WorkOrder.id == Photo.order_id)
        .where(
            Photo.sha256 == sha256,
            Photo.deleted.is_(False),
            policy.order_filter(backend_actor(actor)),
        )
    )
    return session.scalar(query.limit(1)) is not None


def photo_of_visible_inspection(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether a photo of an inspection the caller may see shows this blob."""
    query = (
        select(Photo.id)
        .join(Inspection, Inspection.id == Photo.inspection_id)
        .where(
            Photo.sha256 == sha256,
            Photo.deleted.is_(False),
            Inspection.deleted.is_(False),
            policy.field_record_filter(backend_actor(actor), Inspection),
        )
    )
    return session.scalar(query.limit(1)) is not None


def register(registry: Registry) -> None:
    """Add the archive's blob references (documents' bytes also survive blob GC by this)."""
    registry.add_blob_reference(BlobReference("photo.order", Photo.sha256, photo_of_visible_order))
    registry.add_blob_reference(
        BlobReference("photo.inspection", Photo.sha256, photo_of_visible_inspection)
    )
    registry.add_blob_reference(
        BlobReference(
            "customer_document",
            CustomerDocument.sha256,
            document_of_visible_file,
            on_read=log_document_read,
        )
    )
    registry.add_blob_reference(BlobReference("photo.archive", Photo.sha256, photo_of_visible_file))
