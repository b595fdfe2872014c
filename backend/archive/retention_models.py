"""Retention of closed files: rules per voltage class, legal holds, destruction lists."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, UUIDPrimaryKey, utcnow


class RetentionRule(Audited, Base):
    """How many years a closed file of one voltage class is kept (high: >= 5, low: >= 3)."""

    __tablename__ = "archive_retention_rules"

    voltage_class: Mapped[str] = mapped_column(String(8), primary_key=True)  # high | low
    years: Mapped[int] = mapped_column()


class LegalHold(Audited, UUIDPrimaryKey, Base):
    """A file that must not be destroyed (litigation, theft case ...) until released."""

    __tablename__ = "archive_legal_holds"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    placed_by: Mapped[str] = mapped_column(String(120))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by: Mapped[str | None] = mapped_column(String(120))
    released_at: Mapped[datetime | None] = mapped_column()


class DestructionList(Audited, UUIDPrimaryKey, Base):
    """Closed files past retention, proposed for destruction: proposed -> approved | refused.

    The papers wait in `storage_location` (kept apart, "另柜存放") until a supervisor other
    than the proposer approves; approval destroys the documents' bytes and keeps the record.
    """

    __tablename__ = "archive_destruction_lists"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    storage_location: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(12), default="proposed", index=True)
    proposed_by: Mapped[str] = mapped_column(String(120))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column()


class DestructionItem(Base):
    """One file on a destruction list (append-only)."""

    __tablename__ = "archive_destruction_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("archive_destruction_lists.id"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    account_number: Mapped[str] = mapped_column(String(32))
    closed_at: Mapped[datetime] = mapped_column()
    retain_until: Mapped[datetime] = mapped_column()


class DestroyedDocument(Base):
    """What was destroyed, by whom, when: the record stays after the bytes are gone."""

    __tablename__ = "archive_destroyed_documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("archive_destruction_lists.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customer_documents.id"), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    bytes_removed: Mapped[bool] = mapped_column()  # False: other records still use the bytes
    destroyed_by: Mapped[str] = mapped_column(String(120))
    destroyed_at: Mapped[datetime] = mapped_column(default=utcnow)
