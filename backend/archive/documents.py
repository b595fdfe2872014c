"""Stage-tagged documents of a customer file, and import jobs."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UUIDPrimaryKey, utcnow
from backend.imports import ImportJobColumns


class CustomerDocument(UUIDPrimaryKey, Base):
    """A scanned document or photo in a file; add-only (a correction is a new document).

    The bytes are the content-addressed blob `sha256` (thumbnails come from the blob store).
    `business_at` is when the business step happened, so deadline rules (digitised within
    48 h, handed over within a week) can be computed from the rows.
    """

    __tablename__ = "customer_documents"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    premise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("premises.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16), index=True)
    kind: Mapped[str] = mapped_column(String(64))  # e.g. "application form", "ID card"
    title: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media_type: Mapped[str | None] = mapped_column(String(100))
    business_at: Mapped[datetime | None] = mapped_column()
    paper_shelf: Mapped[str | None] = mapped_column(String(32))
    paper_box: Mapped[str | None] = mapped_column(String(32))
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customer_documents.id"))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ImportJob(ImportJobColumns, UUIDPrimaryKey, Base):
    """One import of a customer file batch: its progress, per-row errors and outcome."""

    __tablename__ = "archive_import_jobs"

    updated_rows: Mapped[int] = mapped_column(default=0)
