"""Outages and maintenance on a line, a section or an area; what they cut; who was told."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, UUIDPrimaryKey, utcnow
from sync.changes import Synced


class Outage(UUIDPrimaryKey, Synced, Audited, Base):
    """A planned (maintenance) or unplanned (fault) outage; `status` follows `outages.MOVES`."""

    __tablename__ = "outages"
    # Active outages near a crew's work reach its handheld (`network.handheld`).
    __sync_entity__ = "outage"
    __sync_scope__ = ("department_id", None)
    __table_args__ = (Index("ix_outages_due", "status", "planned_end_at"),)

    number: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(12))  # planned | unplanned
    scope: Mapped[str] = mapped_column(String(8))  # line | section | area
    line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feeder_lines.id"), index=True)
    section: Mapped[str | None] = mapped_column(String(32))
    area_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("transformer_areas.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(String(400))
    starts_at: Mapped[datetime] = mapped_column()
    planned_end_at: Mapped[datetime] = mapped_column()
    restored_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # How it was restored: "automatic" (the worker, at the planned end) or "manual".
    restored_by: Mapped[str | None] = mapped_column(String(120))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutageArea(Base):
    """The propagation: one transformer area an outage cuts, until it is restored."""

    __tablename__ = "outage_areas"

    outage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outages.id"), primary_key=True)
    area_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("transformer_areas.id"), primary_key=True, index=True
    )
    customer_count: Mapped[int] = mapped_column(default=0)
    restored_at: Mapped[datetime | None] = mapped_column()


class OutageNotification(Base):
    """One message to an important or high-risk customer about an outage (one per kind).

    The outbox row itself: written with the outage, sent after commit by the worker.
    """

    __tablename__ = "outage_notifications"
    __table_args__ = (UniqueConstraint("outage_id", "customer_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outages.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # outage | restored
    important: Mapped[bool] = mapped_column(default=False)
    high_risk: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(String(500))
    channel: Mapped[str] = mapped_column(String(16))
    # pending (in the outbox) -> sent | failed (gave up); no_phone is never sent.
    status: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderOutageLink(Base):
    """A trouble call (repair order) covered by an active outage: no dispatch, no escalation."""

    __tablename__ = "order_outage_links"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    outage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outages.id"), index=True)
    area_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transformer_areas.id"))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutageSuggestion(Base):
    """A "probable outage": repeated calls under one area, or several areas of one line.

    Raised by the trouble-call grouping (`suggestions.group_call`) for the dispatcher to
    confirm (it then becomes an outage) or dismiss; at most one open suggestion per area or
    line. `status`: open -> confirmed | dismissed.
    """

    __tablename__ = "outage_suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[str] = mapped_column(String(8))  # area | line
    line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feeder_lines.id"), index=True)
    area_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transformer_areas.id"))
    call_count: Mapped[int] = mapped_column(default=0)
    first_call_at: Mapped[datetime] = mapped_column()
    last_call_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    outage_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("outages.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(String(400))


class OrderSuggestionLink(Base):
    """A trouble call grouped under a probable outage (held from dispatch while it is open)."""

    __tablename__ = "order_suggestion_links"

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("outage_suggestions.id"), index=True)
    area_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transformer_areas.id"))
    # True: the call came in while the suggestion was open and was not issued (the earlier
    # calls that raised it keep whatever dispatch they already had).
    held: Mapped[bool] = mapped_column(default=False)
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
