"""Credit rating services: model versions, assessments, rating on demand and on schedule.

Keyword-only functions with an explicit session and actor; they flush, the caller commits.
Models, assessments and ratings are append-only: a change is a new row, the history stays.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, true
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope
from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, load_in_scope
from backend.db import utcnow
from backend.errors import NotFound, Unprocessable
from backend.risk import credit_model, warnings
from backend.risk.default_models import DEFAULT_MODELS
from backend.risk.models import CreditAssessment, CreditModel, CreditRating

Progress = Callable[[int], None]


def model_problem(exc: credit_model.ModelErrors, detail: str) -> Unprocessable:
    """A 422 listing each problem of a model (or of picks against it) by its path."""
    return Unprocessable(
        detail,
        errors=[{"field": path, "in": "json", "messages": [m]} for path, m in exc.problems],
    )


def current_model(session: Session, size: str) -> CreditModel:
    """The latest version of a size's model (404 when none is installed)."""
    found = session.scalar(
        select(CreditModel).where(CreditModel.size == size).order_by(CreditModel.version.desc())
    )
    if found is None:
        raise NotFound(f"No credit model for {size} customers is installed.")
    return found


def model_version(session: Session, size: str, version: int) -> CreditModel:
    """One version of a size's model (404 when absent)."""
    found = session.scalar(
        select(CreditModel).where(CreditModel.size == size, CreditModel.version == version)
    )
    if found is None:
        raise NotFound(f"The {size} credit model has no version {version}.")
    return found


def models(session: Session) -> list[CreditModel]:
    """The current model of every size that has one."""
    latest = (
        select(CreditModel.size, func.max(CreditModel.version).label("v"))
        .group_by(CreditModel.size)
        .subquery()
    )
    return list(
        session.scalars(
            select(CreditModel)
            .join(latest, (CreditModel.size == latest.c.size) & (CreditModel.version == latest.c.v))
            .order_by(CreditModel.size)
        )
    )


def put_model(
    *, session: Session, actor: Actor, size: str, indicators: Any, reason: str
) -> CreditModel:
    """Check a model tree and store it as the size's next version (422 lists every problem)."""
    authorize(actor, Action.RISK_CONFIGURE)
    try:
        credit_model.validate(size, indicators)
    except credit_model.ModelErrors as exc:
        raise model_problem(
            exc, f"The {size} credit model is not valid; nothing was stored."
        ) from exc
    latest = session.scalar(select(func.max(CreditModel.version)).where(CreditModel.size == size))
    model = CreditModel(
        size=size,
        version=(latest or 0) + 1,
        indicators=indicators,
        reason=reason,
        created_by=actor.audit_name,
        created_at=utcnow(),
    )
    session.add(model)
    session.flush()
    return model


def install_defaults(session: Session, *, by: str = "system") -> int:
    """Install the shipped models as version 1 of each size that has none (idempotent)."""
    installed = 0
    for size, indicators in DEFAULT_MODELS.items():
        if session.scalar(select(CreditModel.id).where(CreditModel.size == size)) is None:
            credit_model.validate(size, indicators)
            session.add(
                CreditModel(
                    size=size, version=1, indicators=indicators, reason="shipped default",
                    created_by=by, created_at=utcnow(),
                )
            )  # fmt: skip
            installed += 1
    session.flush()
    return installed


def size_of(customer: Customer, *, large_kw: float = credit_model.LARGE_KW) -> str:
    """The model size that rates this customer."""
    return credit_model.customer_size(
        customer.customer_type, customer.contract_capacity_kw, large_kw=large_kw
    )


def latest_assessment(session: Session, customer_id: uuid.UUID) -> CreditAssessment | None:
    """The customer's most recent assessment, if any."""
    return session.scalar(
        select(CreditAssessment)
        .where(CreditAssessment.customer_id == customer_id)
        .order_by(CreditAssessment.assessed_at.desc(), CreditAssessment.id.desc())
    )


def latest_rating(session: Session, customer_id: uuid.UUID) -> CreditRating | None:
    """The customer's current rating (the newest), if rated."""
    return session.scalar(
        select(CreditRating)
        .where(CreditRating.customer_id == customer_id)
        .order_by(CreditRating.rated_at.desc(), CreditRating.id.desc())
    )


def _rate(
    session: Session, customer: Customer, *, by: str, trigger: str,
    assessment: CreditAssessment | None, large_kw: float,
) -> CreditRating:  # fmt: skip
    size = size_of(customer, large_kw=large_kw)
    model = current_model(session, size)
    # Picks of leaves the current model no longer has are ignored; the rest still count.
    known = {leaf["code"] for leaf in credit_model.leaves(model.indicators)}
    picks = {k: v for k, v in (assessment.picks if assessment else {}).items() if k in known}
    for leaf in credit_model.leaves(model.indicators):
        if picks.get(leaf["code"]) not in {c["code"] for c in leaf["criteria"]}:
            picks.pop(leaf["code"], None)
    result = credit_model.rate(model.indicators, picks)
    rating = CreditRating(
        customer_id=customer.id,
        department_id=customer.department_id,
        size=size,
        model_id=model.id,
        model_version=model.version,
        assessment_id=assessment.id if assessment else None,
        score=result.score,
        grade=result.grade,
        picks=result.picks,
        breakdown=result.breakdown,
        trigger=trigger,
        rated_by=by,
        rated_at=utcnow(),
    )
    session.add(rating)
    session.flush()
    warnings.after_rating(session, rating)  # a falling grade is an early warning
    return rating


def rate_customer(
    *, session: Session, actor: Actor, customer_id: uuid.UUID,
    large_kw: float = credit_model.LARGE_KW,
) -> CreditRating:  # fmt: skip
    """Re-rate one customer now with the current model and its latest assessment."""
    customer = load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_ASSESS)
    return _rate(
        session, customer, by=actor.audit_name, trigger="on_demand",
        assessment=latest_assessment(session, customer.id), large_kw=large_kw,
    )  # fmt: skip


def assess(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, picks: dict[str, str],
    notes: str | None, large_kw: float = credit_model.LARGE_KW,
) -> CreditRating:  # fmt: skip
    """Record what the rater found (criterion per leaf) and rate the customer on it."""
    customer = load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_ASSESS)
    model = current_model(session, size_of(customer, large_kw=large_kw))
    try:
        credit_model.check_picks(model.indicators, picks)
    except credit_model.ModelErrors as exc:
        raise model_problem(
            exc, f"The assessment does not fit the {model.size} model v{model.version}."
        ) from exc
    assessment = CreditAssessment(
        customer_id=customer.id, picks=picks, notes=notes, assessed_by=actor.audit_name,
        assessed_at=utcnow(),
    )  # fmt: skip
    session.add(assessment)
    session.flush()
    return _rate(
        session, customer, by=actor.audit_name, trigger="assessment", assessment=assessment,
        large_kw=large_kw,
    )  # fmt: skip


def customer_rating(
    *, session: Session, actor: Actor, customer_id: uuid.UUID
) -> CreditRating | None:
    """The current rating of a customer in scope; None when it has not been rated yet."""
    load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_READ)
    return latest_rating(session, customer_id)


def history(
    *, session: Session, actor: Actor, customer_id: uuid.UUID
) -> Select[tuple[CreditRating]]:
    """Every rating of a customer, newest first (the grade history)."""
    load_in_scope(session, actor, Customer, customer_id, action=Action.RISK_READ)
    return (
        select(CreditRating)
        .where(CreditRating.customer_id == customer_id)
        .order_by(CreditRating.rated_at.desc(), CreditRating.id.desc())
    )


def due_for_rating(
    session: Session, *, now: datetime, every: timedelta, actor: Actor | None = None,
    large_kw: float = credit_model.LARGE_KW,
) -> list[uuid.UUID]:  # fmt: skip
    """Active customers never rated, rated before `now - every`, by an older model or size."""
    last = (
        select(CreditRating.customer_id, func.max(CreditRating.id).label("last_id"))
        .group_by(CreditRating.customer_id)
        .subquery()
    )
    current = (
        select(CreditModel.size, func.max(CreditModel.version).label("v"))
        .group_by(CreditModel.size)
        .subquery()
    )
    rows = session.execute(
        select(
            Customer.id, Customer.customer_type, Customer.contract_capacity_kw,
            CreditRating.rated_at, CreditRating.size, CreditRating.model_version,
        )
        .outerjoin(last, last.c.customer_id == Customer.id)
        .outerjoin(CreditRating, CreditRating.id == last.c.last_id)
        .where(Customer.status == "active", customer_scope(actor) if actor else true())
        .order_by(Customer.id)
    ).all()  # fmt: skip
    versions: dict[str, int] = {
        size: v for size, v in session.execute(select(current.c.size, current.c.v))
    }
    due = []
    for customer_id, kind, kw, rated_at, size, version in rows:
        now_size = credit_model.customer_size(kind, kw, large_kw=large_kw)
        if (
            rated_at is None
            or rated_at <= now - every
            or size != now_size
            or versions.get(now_size) != version
        ):
            due.append(customer_id)
    return due


def rerate_due(
    session: Session, *, now: datetime, every: timedelta, by: str = "worker:credit-rating",
    trigger: str = "schedule", large_kw: float = credit_model.LARGE_KW,
    progress: Progress | None = None, limit: int | None = None,
) -> int:  # fmt: skip
    """The scheduled re-rating: rate every customer that is due; return how many were rated."""
    due: Iterable[uuid.UUID] = due_for_rating(session, now=now, every=every, large_kw=large_kw)
    rated = 0
    for customer_id in list(due)[:limit]:
        customer = session.get(Customer, customer_id)
        assert customer is not None  # noqa: S101 - just selected
        _rate(
            session, customer, by=by, trigger=trigger,
            assessment=latest_assessment(session, customer_id), large_kw=large_kw,
        )  # fmt: skip
        rated += 1
        if progress:
            progress(1)
    return rated
