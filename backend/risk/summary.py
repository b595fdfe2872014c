"""A customer's credit at a glance, for the archive's file view (credit readers only)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from backend.risk.credit_service import latest_rating


def credit_summary(session: Session, customer_id: uuid.UUID) -> dict[str, Any] | None:
    """Grade, score and model version of the current rating, and the risk class (or None)."""
    from backend.risk.payment_service import latest_class

    rating = latest_rating(session, customer_id)
    risk = latest_class(session, customer_id)
    if rating is None and risk is None:
        return None
    return {
        "grade": rating.grade if rating else None,
        "score": float(rating.score) if rating else None,
        "model_version": rating.model_version if rating else None,
        "rated_at": rating.rated_at.isoformat() if rating else None,
        "behaviour": risk.behaviour if risk else None,
        "risk_class": risk.risk_class if risk else None,
    }
