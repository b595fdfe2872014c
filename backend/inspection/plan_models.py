"""Inspection plans, the tasks they generate, checklists as versioned data, hazards, reminders."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, JSONType, UUIDPrimaryKey, utcnow
from backend.inspection.models import Captured
from sync.changes import Synced


class ChecklistVersion(Base):
    """One version of the checklist of an equipment type; a change appends the next version."""

    __tablename__ = "inspection_checklists"
    __table_args__ = (UniqueConstraint("equipment_type", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    equipment_type: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column()
    title: Mapped[str] = mapped_column(String(200))
    # [{key, label, kind: yes_no | choice | number, choices, required}]
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InspectionPlan(UUIDPrimaryKey, Audited, Base):
    """A periodic plan (customers by class and voltage, every N days) or a special one."""

    __tablename__ = "inspection_plans"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # periodic | special
    # Why a special plan exists: campaign, complaint, meter_anomaly, hazard_follow_up.
    reason: Mapped[str | None] = mapped_column(String(32))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    customer_types: Mapped[list[str]] = mapped_column(default=list)
    voltage_levels: Mapped[list[str]] = mapped_column(default=list)
    important_only: Mapped[bool] = mapped_column(default=False)
    # A special plan's explicit customers (campaign lists, the complainant).
    customer_ids: Mapped[list[str]] = mapped_column(default=list)
    interval_days: Mapped[int | None] = mapped_column()
    due_days: Mapped[int] = mapped_column(default=14)
    equipment_type: Mapped[str] = mapped_column(String(32))
    # Inspectors (user ids) the tasks are spread over, in turn.
    inspector_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_generated_at: Mapped[datetime | None] = mapped_column()


class InspectionTask(UUIDPrimaryKey, Synced, Base):
    """One premise to inspect, for one inspector, by a due date; pulled by that inspector."""

    __tablename__ = "inspection_tasks"
    __sync_entity__ = "inspection_task"
    __sync_scope__ = ("department_id", None)

    number: Mapped[str] = mapped_column(String(32), unique=True)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("inspection_plans.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    premise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("premises.id"), index=True)
    meter_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("meters.id"))
    equipment_type: Mapped[str] = mapped_column(String(32))
    checklist_version: Mapped[int] = mapped_column()
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    # The hazard whose rectification this task checks, the anomaly that raised it.
    hazard_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    anomaly_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()


class Hazard(Captured, Base):
    """A hazard found on site: severity, photo, position, reading; then a notice and follow-up."""

    __tablename__ = "inspection_hazards"
    __sync_entity__ = "hazard"

    number: Mapped[str] = mapped_column(String(32), unique=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    premise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("premises.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    severity: Mapped[str] = mapped_column(String(16), index=True)
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    photo_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    lat: Mapped[float | None] = mapped_column()
    lon: Mapped[float | None] = mapped_column()
    reading: Mapped[float | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    notice_number: Mapped[str | None] = mapped_column(String(32))
    notice_served_at: Mapped[datetime | None] = mapped_column()
    notice_served_by: Mapped[str | None] = mapped_column(String(120))
    rectify_by: Mapped[datetime | None] = mapped_column()
    follow_up_task_id: Mapped[uuid.UUID | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolution: Mapped[str | None] = mapped_column(String(16))


class Reminder(Base):
    """One reminder the worker derived from the database (once per subject, kind and due)."""

    __tablename__ = "inspection_reminders"
    __table_args__ = (UniqueConstraint("subject", "subject_id", "kind", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))  # task | case | hazard
    subject_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))  # due_soon | overdue
    due_at: Mapped[datetime] = mapped_column()
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    message: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
