"""Field verification of the archive (seed 003): batches of customer files checked on site."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, JSONType, UUIDPrimaryKey, utcnow
from sync.changes import Synced


class VerificationBatch(UUIDPrimaryKey, Audited, Base):
    """A batch of files selected by area, class and data-quality flags."""

    __tablename__ = "verification_batches"

    number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    criteria: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    quality_before: Mapped[float] = mapped_column(default=0.0)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class VerificationItem(UUIDPrimaryKey, Synced, Base):
    """One file to verify: pulled by its assignee, corrected offline, reviewed, confirmed."""

    __tablename__ = "verification_items"
    __sync_entity__ = "verification_item"
    __sync_scope__ = ("department_id", None)

    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("verification_batches.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    premise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("premises.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # pending → checked (field) → validated | rejected (review) → confirmed (SMS)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # Field → corrected value, as found on site (a set: keys merge independently).
    corrections: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    flags_before: Mapped[list[str]] = mapped_column(default=list)
    flags_after: Mapped[list[str] | None] = mapped_column()
    checked_by: Mapped[str | None] = mapped_column(String(120))
    checked_at: Mapped[datetime | None] = mapped_column()
    reviewed_by: Mapped[str | None] = mapped_column(String(120))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    review_note: Mapped[str | None] = mapped_column(String(1000))
    # The archive versions the corrections became: [{entity, id, version_no}].
    applied_versions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    sms_status: Mapped[str | None] = mapped_column(String(16))
    sms_sent_at: Mapped[datetime | None] = mapped_column()
