"""Meters in the field: seal and fault events, and remote-vs-manual reading anomalies."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, UUIDPrimaryKey, utcnow
from backend.inspection.models import Captured


class MeterEvent(Captured, Base):
    """A seal applied or removed, a fault found or cleared; append-only, applied to the meter."""

    __tablename__ = "meter_events"
    __sync_entity__ = "meter_event"

    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    seal_number: Mapped[str | None] = mapped_column(String(32))
    fault: Mapped[str | None] = mapped_column(String(32))
    photo_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    note: Mapped[str | None] = mapped_column(Text)
    # The meter version this event produced.
    meter_version_no: Mapped[int | None] = mapped_column()


class MeterAnomaly(UUIDPrimaryKey, Base):
    """A photographed manual reading and a remote one that disagree beyond the tolerance."""

    __tablename__ = "meter_anomalies"

    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    manual_reading_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    remote_reading_id: Mapped[uuid.UUID] = mapped_column()
    manual_value: Mapped[float] = mapped_column()
    remote_value: Mapped[float] = mapped_column()
    difference: Mapped[float] = mapped_column()
    tolerance: Mapped[float] = mapped_column()
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    task_id: Mapped[uuid.UUID | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="open")
