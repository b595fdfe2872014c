"""Risk records: credit models, assessments, ratings, the billing table, risk classes, limits.

Append-only (database triggers) except the import jobs: a change is a new row.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, JSONType, UUIDPrimaryKey, utcnow
from backend.imports import ImportJobColumns
from sync.changes import Synced


class CreditModel(Base):
    """One version of the credit model of a customer size; a change appends a version."""

    __tablename__ = "credit_models"
    __table_args__ = (UniqueConstraint("size", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column()
    # The indicator tree (see backend/risk/credit_model.py): weights, criteria, defaults.
    indicators: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    reason: Mapped[str] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditAssessment(Base):
    """What a rater found for a customer: the criterion of each assessed leaf indicator."""

    __tablename__ = "credit_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    # {leaf indicator code: criterion code}; leaves not named take the model's default.
    picks: Mapped[dict[str, Any]] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    assessed_by: Mapped[str] = mapped_column(String(120))
    assessed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditRating(Base):
    """One rating of a customer (the grade history): score, grade, model version, breakdown."""

    __tablename__ = "credit_ratings"
    __table_args__ = (Index("ix_credit_ratings_customer_rated", "customer_id", "rated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    size: Mapped[str] = mapped_column(String(8))
    model_id: Mapped[int] = mapped_column(ForeignKey("credit_models.id"))
    model_version: Mapped[int] = mapped_column()
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("credit_assessments.id"))
    score: Mapped[Decimal] = mapped_column(Numeric(8, 4))
    grade: Mapped[str] = mapped_column(String(1), index=True)
    picks: Mapped[dict[str, Any]] = mapped_column()
    breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    # on_demand, assessment, schedule, seed
    trigger: Mapped[str] = mapped_column(String(16))
    rated_by: Mapped[str] = mapped_column(String(120))
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)


class BillingImport(ImportJobColumns, UUIDPrimaryKey, Base):
    """One import of the billing table: its progress, per-row errors and outcome."""

    __tablename__ = "billing_imports"


class BillingRecord(Base):
    """One month of one account from the billing system; a re-import appends a newer row.

    Fieldline is not the billing system: these rows are imported (CSV/XLSX). The newest row
    of a (customer, period) is the one that counts; older ones stay as history.
    """

    __tablename__ = "billing_records"
    __table_args__ = (Index("ix_billing_records_customer_period", "customer_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    period: Mapped[date] = mapped_column(index=True)  # the first day of the billed month
    billed: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    paid: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    paid_on: Mapped[date | None] = mapped_column()
    prepaid: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    litigation: Mapped[bool] = mapped_column(default=False)
    import_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billing_imports.id"))
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskClassRecord(Base):
    """A customer's payment behaviour and risk class as evaluated (appended when they change)."""

    __tablename__ = "risk_class_records"
    __table_args__ = (Index("ix_risk_class_records_customer", "customer_id", "evaluated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    behaviour: Mapped[str | None] = mapped_column(String(3))  # None: no billing months yet
    criterion: Mapped[int | None] = mapped_column()
    facts: Mapped[dict[str, Any]] = mapped_column()
    credit_grade: Mapped[str | None] = mapped_column(String(1))
    risk_class: Mapped[str] = mapped_column(String(3), index=True)
    window_from: Mapped[date] = mapped_column()
    window_to: Mapped[date] = mapped_column()
    evaluated_by: Mapped[str] = mapped_column(String(120))
    evaluated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CreditLimit(Base):
    """A credit limit set for a customer (the newest applies); appended, never changed."""

    __tablename__ = "credit_limits"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(String(500))
    risk_class: Mapped[str] = mapped_column(String(3))
    set_by: Mapped[str] = mapped_column(String(120))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


class RiskListEntry(Audited, Base):
    """A customer on the red or black list: reason, who, when, until when; ended, not deleted."""

    __tablename__ = "risk_list_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(5))  # red | black
    reason: Mapped[str] = mapped_column(String(500))
    added_by: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[datetime] = mapped_column(index=True)
    ended_by: Mapped[str | None] = mapped_column(String(120))
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(500))


class RiskAlert(Base):
    """An early warning about a customer: its grade fell, arrears aged, the pattern worsened."""

    __tablename__ = "risk_alerts"
    __table_args__ = (UniqueConstraint("customer_id", "kind", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # grade_fell | arrears_grew | pattern_changed
    # The record that showed it (`rating:<id>`, `class:<id>`): one alert per cause and record.
    source: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column()
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
    acknowledged_at: Mapped[datetime | None] = mapped_column()


class CollectionCase(UUIDPrimaryKey, Audited, Base):
    """One customer's arrears on the collection ladder; `stage` is the step now due."""

    __tablename__ = "collection_cases"

    number: Mapped[str] = mapped_column(String(32), unique=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # owed when the case was opened
    stage: Mapped[str] = mapped_column(String(24), index=True)  # a step, or "closed"
    stage_due_on: Mapped[date | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(String(24))
    opened_by: Mapped[str] = mapped_column(String(120))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class CollectionStep(Base):
    """One completed ladder step: outcome, details, who and when (append-only)."""

    __tablename__ = "collection_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(24))
    outcome: Mapped[str] = mapped_column(String(24))
    due_on: Mapped[date | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column()
    notes: Mapped[str | None] = mapped_column(Text)
    completed_by: Mapped[str] = mapped_column(String(120))
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectionVisit(UUIDPrimaryKey, Synced, Base):
    """The on-site collection visit as a crew's field task (synced to its handhelds)."""

    __tablename__ = "collection_visits"
    __sync_entity__ = "collection_visit"
    __sync_scope__ = ("department_id", "crew_id")

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("collection_cases.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    premise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("premises.id"))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id"), index=True)
    customer_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(400))
    amount_due: Mapped[float] = mapped_column()
    due_on: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(8), default="open")
    outcome: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
