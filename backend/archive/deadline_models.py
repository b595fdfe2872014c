"""Business steps of a file, the deadline rules per kind, and the chasing reminders sent."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, UUIDPrimaryKey, utcnow


class BusinessStep(UUIDPrimaryKey, Base):
    """A business step of an account completed (业扩 application, acceptance, a change ...).

    Append-only. Each step starts the clocks of its deadlines (documents digitised within
    48 h, handed over within a week, a change reflected in the file within 5 days).
    """

    __tablename__ = "archive_steps"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16), index=True)
    completed_at: Mapped[datetime] = mapped_column(index=True)
    note: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadlineRule(Audited, Base):
    """How long one kind of deadline runs and when it turns to warning (configurable)."""

    __tablename__ = "archive_deadline_rules"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    # From the starting event to the due time (0: the due date itself, e.g. a meter's).
    limit_hours: Mapped[int] = mapped_column()
    # `warning` this long before the due time; before that the item is `normal`.
    warning_hours: Mapped[int] = mapped_column()
    # Chasing repeats a reminder this often until the item is done.
    repeat_hours: Mapped[int] = mapped_column()


class Reminder(Base):
    """One chasing reminder raised for a deadline: exactly once per (item, stage, round).

    Stage 1 reminds the owning department (from the warning on), stage 2 escalates to its
    supervisors once overdue; `round` counts the repeats. The alert it raised carries the
    delivery (live feed, alert outbox) and is settled when the item is done.
    """

    __tablename__ = "archive_reminders"
    __table_args__ = (UniqueConstraint("kind", "subject_id", "stage", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    stage: Mapped[int] = mapped_column()
    round: Mapped[int] = mapped_column()
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), unique=True)
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
