"""Credit models (versioned indicator trees), assessments and ratings: all append-only."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, JSONType, utcnow


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
