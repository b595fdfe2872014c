"""Blobs the archive references, readable by whoever may read the customer file."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope, hidden_document_stages
from backend.archive.documents import CustomerDocument
from backend.archive.models import Photo
from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor
from sync.registry import BlobReference, Registry, SyncActor


def _caller(actor: SyncActor) -> Actor:
    assert isinstance(actor.origin, Actor)  # noqa: S101 - backend.syncing always sets it
    return actor.origin


def document_of_visible_file(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether a document of a customer file the caller may read holds this blob."""
    caller = _caller(actor)
    query = (
        select(CustomerDocument.id)
        .join(Customer, Customer.id == CustomerDocument.customer_id)
        .where(
            CustomerDocument.sha256 == sha256,
            CustomerDocument.stage.not_in(hidden_document_stages(caller)),
            customer_scope(caller, session),
        )
    )
    return session.scalar(query.limit(1)) is not None


def photo_of_visible_file(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether a photo of a customer or premise the caller may read shows this blob."""
    premise_customer = select(Premise.customer_id).where(Premise.id == Photo.premise_id)
    visible = select(Customer.id).where(customer_scope(_caller(actor), session))
    query = select(Photo.id).where(
        Photo.sha256 == sha256,
        Photo.deleted.is_(False),
        or_(
            Photo.customer_id.in_(visible),
            premise_customer.scalar_subquery().in_(visible),
        ),
    )
    return session.scalar(query.limit(1)) is not None


def register(registry: Registry) -> None:
    """Add the archive's blob references (documents' bytes also survive blob GC by this)."""
    registry.add_blob_reference(
        BlobReference("customer_document", CustomerDocument.sha256, document_of_visible_file)
    )
    registry.add_blob_reference(BlobReference("photo.archive", Photo.sha256, photo_of_visible_file))
