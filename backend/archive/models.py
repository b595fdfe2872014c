"""The customer archive: files (customers, premises, meters), versions, documents, photos."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.archive.access_models import AccessRequest, FileRead, PaperLoan
from backend.archive.deadline_models import BusinessStep, DeadlineRule, Reminder
from backend.archive.documents import CustomerDocument, ImportJob
from backend.archive.records import ArchiveVersion, Customer, Meter, MeterType, Premise
from backend.archive.retention_models import (
    DestroyedDocument,
    DestructionItem,
    DestructionList,
    LegalHold,
    RetentionRule,
)
from backend.db import Base
from backend.inspection.models import Captured

__all__ = [
    "AccessRequest",
    "FileRead",
    "PaperLoan",
    "ArchiveVersion",
    "BusinessStep",
    "DeadlineRule",
    "DestroyedDocument",
    "DestructionItem",
    "DestructionList",
    "LegalHold",
    "RetentionRule",
    "Reminder",
    "Customer",
    "CustomerDocument",
    "ImportJob",
    "Meter",
    "MeterType",
    "Photo",
    "Premise",
]


class Photo(Captured, Base):
    """A photo taken on site; append-only. The bytes are the blob `sha256`."""

    __tablename__ = "photos"
    __sync_entity__ = "photo"

    sha256: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"), index=True)
    premise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("premises.id"), index=True)
    caption: Mapped[str | None] = mapped_column(String(500))
    stage: Mapped[str | None] = mapped_column(String(32))
    taken_at: Mapped[datetime | None] = mapped_column()
