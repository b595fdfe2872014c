"""Records that make a blob readable beyond their own sync scope (`sync.registry.BlobReference`).

A photo is readable by whoever may read its record (the sync scope: the crew or department
that took it, registered by the photo adapter's `blob_fields`), and also by whoever may read
the work order or inspection it documents: a call center agent sees the photos of the orders
it took. Other domains register their own (archive documents, ...).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.models import Photo
from backend.auth import policy
from backend.auth.actor import Actor
from backend.dispatch.models import WorkOrder
from backend.inspection.models import Inspection
from sync.registry import BlobReference, Registry, SyncActor
from sync.store.feed import scope_clause


def _caller(actor: SyncActor) -> Actor:
    assert isinstance(actor.origin, Actor)  # noqa: S101 - sync_actor always sets it
    return actor.origin


def photo_of_visible_order(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether a photo of a work order the caller may see shows this blob."""
    query = (
        select(Photo.id)
        .join(WorkOrder, WorkOrder.id == Photo.order_id)
        .where(
            Photo.sha256 == sha256,
            Photo.deleted.is_(False),
            policy.order_filter(_caller(actor)),
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
            scope_clause(actor, Inspection.department_id, Inspection.crew_id),
        )
    )
    return session.scalar(query.limit(1)) is not None


def register(registry: Registry) -> None:
    """Add the photo references to the registry (at app creation)."""
    registry.add_blob_reference(BlobReference("photo.order", Photo.sha256, photo_of_visible_order))
    registry.add_blob_reference(
        BlobReference("photo.inspection", Photo.sha256, photo_of_visible_inspection)
    )
