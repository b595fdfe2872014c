"""Repair work orders, their timing events, SLA breaches, alerts, availability and policies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.auth.audit import Audited
from backend.db import Base, UUIDPrimaryKey, utcnow
from backend.org.models import Crew, Department, Vehicle
from sync.changes import Synced


class WorkOrder(UUIDPrimaryKey, Synced, Audited, Base):
    """A repair order flowing call center -> repair center -> crew and vehicle.

    `department_id` is the department that currently owns the order (the call center until it
    is issued, then the repair center); with `crew_id` it decides who may pull it when syncing.
    """

    __tablename__ = "work_orders"
    __sync_entity__ = "work_order"
    __sync_scope__ = ("department_id", "crew_id")
    __table_args__ = (Index("ix_work_orders_vehicle_queue", "vehicle_id", "queue_position"),)

    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_type: Mapped[str] = mapped_column(String(16))  # electric | water
    status: Mapped[str] = mapped_column(String(24), index=True)
    priority: Mapped[int] = mapped_column(default=2)  # 1 urgent, 2 normal, 3 low
    region_code: Mapped[str] = mapped_column(String(32), index=True)
    caller_name: Mapped[str | None] = mapped_column(String(200))
    caller_phone: Mapped[str | None] = mapped_column(String(32))
    # The caller's account and premise in the customer archive (one UUID id type everywhere).
    customer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("customers.id"), index=True)
    premise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("premises.id"), index=True)
    # Integer references written before the archive existed, kept as they were (revision 1000).
    legacy_customer_no: Mapped[int | None] = mapped_column()
    legacy_premise_no: Mapped[int | None] = mapped_column()
    address: Mapped[str | None] = mapped_column(String(400))
    location: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    fault_type: Mapped[str] = mapped_column(String(64))
    specialty: Mapped[str] = mapped_column(String(32))
    voltage_level: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    # The crew's own note on the order, written from the handheld (synced as a scalar).
    crew_note: Mapped[str | None] = mapped_column(Text)

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    call_center_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    repair_center_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    queue_position: Mapped[int | None] = mapped_column()
    # Whether the crew shares the repair center's site: picks the DE limit.
    same_site: Mapped[bool | None] = mapped_column()
    # Incremented by every recall: timing points after the recalled tier count only from the
    # current round, so a misroute is charged to whoever misrouted.
    dispatch_round: Mapped[int] = mapped_column(default=0)

    follow_up_result: Mapped[str | None] = mapped_column(Text)
    follow_up_satisfied: Mapped[bool | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()

    crew: Mapped[Crew | None] = relationship()
    vehicle: Mapped[Vehicle | None] = relationship()
    call_center: Mapped[Department] = relationship(foreign_keys=[call_center_id])
    repair_center: Mapped[Department | None] = relationship(foreign_keys=[repair_center_id])


class TimingEvent(UUIDPrimaryKey, Synced, Audited, Base):
    """One timing point (A-H) or lifecycle event of an order; append-only (a trigger)."""

    __tablename__ = "timing_events"
    __sync_entity__ = "timing_event"
    __sync_scope__ = ("department_id", "crew_id")

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_orders.id"), index=True)
    # Idempotency key chosen by the sender (terminal, handheld, sync mutation): unique.
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    point: Mapped[str] = mapped_column(String(24))  # A..H or a lifecycle kind (recalled ...)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The device's own time when it was corrected (future clock, skew): kept for audit.
    device_time: Mapped[datetime | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(120))
    dispatch_round: Mapped[int] = mapped_column(default=0)
    backfilled: Mapped[bool] = mapped_column(default=False)
    clock_corrected: Mapped[bool] = mapped_column(default=False)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FaultRecord(UUIDPrimaryKey, Synced, Audited, Base):
    """What the crew found and did, filled in by the crew after finishing."""

    __tablename__ = "fault_records"
    __sync_entity__ = "fault_record"
    __sync_scope__ = ("department_id", "crew_id")

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_orders.id"), unique=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    cause: Mapped[str] = mapped_column(String(200))
    actions_taken: Mapped[str | None] = mapped_column(Text)
    equipment: Mapped[str | None] = mapped_column(String(200))
    materials: Mapped[list[str]] = mapped_column(default=list)
    restored_at: Mapped[datetime | None] = mapped_column()
    filled_by: Mapped[str] = mapped_column(String(120))
    filled_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaBreach(Base):
    """A segment that went over its limit, written once per order and segment; immutable."""

    __tablename__ = "sla_breaches"
    __table_args__ = (UniqueConstraint("order_id", "segment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_orders.id"), index=True)
    segment: Mapped[str] = mapped_column(String(4))
    duration_s: Mapped[float] = mapped_column()
    limit_s: Mapped[float] = mapped_column()
    responsible: Mapped[str | None] = mapped_column(String(24))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Alert(Audited, Base):
    """An acceptance escalation; the unique key makes the worker's inserts exactly-once.

    Audited: who acknowledged it and when is part of the record.
    """

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("order_id", "tier", "dispatch_round", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for the archive's chasing reminders (tier `archive`, see `archive_reminders`).
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    # repair_center (after C) | crew (after E) | archive (a file's deadline)
    tier: Mapped[str] = mapped_column(String(16))
    stage: Mapped[int] = mapped_column()  # 1: to the sender; 2: to the two supervisors
    dispatch_round: Mapped[int] = mapped_column(default=0)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    phones: Mapped[list[str]] = mapped_column(default=list)
    message: Mapped[str] = mapped_column(String(400))
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    # When the order was accepted, dispatched or recalled: nothing is overdue any more.
    settled_at: Mapped[datetime | None] = mapped_column()


class CrewStatus(Audited, Base):
    """Whether a crew (and its vehicle) takes orders now; audited, so history is kept."""

    __tablename__ = "crew_status"

    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id"), primary_key=True)
    available: Mapped[bool] = mapped_column(default=True)
    reason: Mapped[str | None] = mapped_column(String(200))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120))


class SlaPolicyRecord(Audited, Base):
    """SLA limits for one region and order type ("*" matches any), as `SlaPolicy.to_dict()`."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("region_code", "order_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(32))
    order_type: Mapped[str] = mapped_column(String(16))
    policy: Mapped[dict[str, Any]] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
