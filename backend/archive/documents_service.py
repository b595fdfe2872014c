"""Stage-tagged documents and photos of a customer file, stored as content-addressed blobs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.access import ArchiveAction, hidden_document_stages, require
from backend.archive.documents import CustomerDocument
from backend.archive.records import Premise
from backend.archive.service import get_customer
from backend.archive.vocab import AccountStatus
from backend.auth.actor import Actor
from backend.errors import Conflict, NotFound, field_error
from sync.store import BlobRecord


def attach(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, data: dict[str, Any]
) -> CustomerDocument:
    """Add a document to a file; the blob may still be uploading (it shows as pending)."""
    require(actor, ArchiveAction.ATTACH_DOCUMENT)
    customer = get_customer(session=session, actor=actor, customer_id=customer_id)
    if customer.status == AccountStatus.CLOSED and data["stage"] != "closure":
        raise Conflict(f"Account {customer.account_number} is closed; only closure documents.")
    premise_id = data.get("premise_id")
    if premise_id is not None:
        premise = session.get(Premise, premise_id)
        if premise is None or premise.customer_id != customer.id:
            raise field_error("premise_id", f"Premise {premise_id} is not in this file.")
    from backend.auth.sync_access import refuse_foreign_blob  # it imports the archive

    refuse_foreign_blob(session, actor, data["sha256"], "sha256")
    supersedes = data.get("supersedes_id")
    if supersedes is not None:
        earlier = session.get(CustomerDocument, supersedes)
        if earlier is None or earlier.customer_id != customer.id:
            raise field_error("supersedes_id", f"Document {supersedes} is not in this file.")
    document = CustomerDocument(
        **{**data, "sha256": data["sha256"].lower()},
        customer_id=customer.id,
        department_id=customer.department_id,
        created_by=actor.audit_name,
    )
    session.add(document)
    session.flush()
    return document


def documents_of(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, stage: str | None = None
) -> list[CustomerDocument]:
    """Return a file's documents, oldest first, optionally of one stage."""
    get_customer(session=session, actor=actor, customer_id=customer_id)
    statement = select(CustomerDocument).where(
        CustomerDocument.customer_id == customer_id,
        CustomerDocument.stage.not_in(hidden_document_stages(actor)),
    )
    if stage:
        statement = statement.where(CustomerDocument.stage == stage)
    return list(session.scalars(statement.order_by(CustomerDocument.created_at)))


def get_document(*, session: Session, actor: Actor, document_id: uuid.UUID) -> CustomerDocument:
    """Load a document of a file in the actor's scope."""
    document = session.get(CustomerDocument, document_id)
    if document is None or document.stage in hidden_document_stages(actor):
        raise NotFound(f"Document {document_id} does not exist.")
    get_customer(session=session, actor=actor, customer_id=document.customer_id)
    return document


def destroyed_ids(session: Session, document_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Return which of these documents a destruction list destroyed (their rows stay)."""
    from backend.archive.retention_models import DestroyedDocument

    if not document_ids:
        return set()
    query = select(DestroyedDocument.document_id).where(
        DestroyedDocument.document_id.in_(document_ids)
    )
    return set(session.scalars(query))


def blob_states(session: Session, hashes: list[str]) -> dict[str, BlobRecord]:
    """Return the blob rows of these hashes (missing: not uploaded yet)."""
    if not hashes:
        return {}
    rows = session.scalars(select(BlobRecord).where(BlobRecord.sha256.in_(set(hashes))))
    return {b.sha256: b for b in rows}
