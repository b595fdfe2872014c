"""Inspections with a checklist, meter readings and GPS fixes; all synced with handhelds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, UUIDPrimaryKey, utcnow
from sync.changes import Synced


class Captured(UUIDPrimaryKey, Synced):
    """Columns of every record a crew captures: scope, author and both clocks.

    `occurred_at` is the device's time corrected by the batch's clock skew (never in the
    future); `recorded_at` is when the server stored it. When the device time was corrected,
    `clock_corrected` is set and `device_time` keeps what the device said.
    """

    __sync_scope__ = ("department_id", "crew_id")

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(120), default="system")
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    clock_corrected: Mapped[bool] = mapped_column(default=False)
    # The device's own time when `occurred_at` was corrected (skew) or clamped (future).
    device_time: Mapped[datetime | None] = mapped_column()


class Inspection(Captured, Audited, Base):
    """A minimal inspection: status, result, notes and a checklist of item -> answer."""

    __tablename__ = "inspections"
    __sync_entity__ = "inspection"

    status: Mapped[str] = mapped_column(String(16), default="draft")
    result: Mapped[str | None] = mapped_column(String(64))
    checklist: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    premise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("premises.id"), index=True)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"), index=True)
    # A premise id pushed before the archive existed (it named no stored premise), kept as text.
    legacy_premise_ref: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    # The plan task this inspection carries out (its checklist version decides the answers).
    task_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class MeterReading(Captured, Base):
    """One meter reading; append-only."""

    __tablename__ = "meter_readings"
    __sync_entity__ = "meter_reading"

    # The archive's meter (`meters.id`); checked when pushed, not a constraint, because
    # readings taken before the archive existed name meters it does not hold.
    meter_id: Mapped[uuid.UUID] = mapped_column(index=True)
    premise_id: Mapped[uuid.UUID | None] = mapped_column()
    value: Mapped[float] = mapped_column()
    reading_kind: Mapped[str] = mapped_column(String(32))
    read_at: Mapped[datetime] = mapped_column()
    # May name a blob that has not arrived yet: it shows as pending until it does.
    photo_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    # manual (taken on site, synced) or remote (the metering system's import).
    source: Mapped[str] = mapped_column(String(8), default="manual", server_default="manual")


class GpsFix(Captured, Base):
    """One position fix reported by a handheld; append-only."""

    __tablename__ = "gps_fixes"
    __sync_entity__ = "gps_fix"

    lat: Mapped[float] = mapped_column()
    lon: Mapped[float] = mapped_column()
    acc: Mapped[float | None] = mapped_column()
    ts: Mapped[datetime] = mapped_column(index=True)
