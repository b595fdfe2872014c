"""Red and black lists (红名单 / 黑名单): reason, who, when, until when; ended, never deleted.

An entry is active from `added_at` until `valid_until` (every entry is time-limited) or
until someone ends it early with a reason. Entries are audited (`audit_log`: who changed
what, before and after) and never deleted. A customer is on at most one list at a time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope
from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, load_in_scope
from backend.errors import Conflict, NotFound, field_error
from backend.risk.models import RiskListEntry

KINDS = ("red", "black")
MAX_DURATION = timedelta(days=3 * 366)


def active_clause(now: datetime) -> object:
    """WHERE clause: entries neither ended nor expired at `now`."""
    return RiskListEntry.ended_at.is_(None) & (RiskListEntry.valid_until > now)


def add(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, kind: str, reason: str,
    valid_until: datetime, now: datetime,
) -> RiskListEntry:  # fmt: skip
    """Put a customer on the red or black list until `valid_until`."""
    customer = load_in_scope(
        session, actor, Customer, customer_id, action=Action.RISK_LIST_MANAGE, lock=True
    )
    if not now < valid_until <= now + MAX_DURATION:
        raise field_error("valid_until", "A time in the future, at most three years ahead.")
    current = session.scalar(
        select(RiskListEntry).where(RiskListEntry.customer_id == customer.id, active_clause(now))
    )
    if current is not None:
        raise Conflict(
            f"The customer is on the {current.kind} list until {current.valid_until:%Y-%m-%d}; "
            "end that entry first.",
            entry_id=current.id,
        )
    entry = RiskListEntry(
        customer_id=customer.id, department_id=customer.department_id, kind=kind,
        reason=reason, added_by=actor.audit_name, added_at=now, valid_until=valid_until,
    )  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def end(
    *, session: Session, actor: Actor, entry_id: int, reason: str, now: datetime
) -> RiskListEntry:
    """End an active entry early, with a reason (the entry stays, audited)."""
    entry = session.get(RiskListEntry, entry_id)
    if entry is None:
        raise NotFound(f"List entry {entry_id} does not exist.")
    load_in_scope(session, actor, Customer, entry.customer_id, action=Action.RISK_LIST_MANAGE)
    if entry.ended_at is not None or entry.valid_until <= now:
        raise Conflict("The entry has ended already.", entry_id=entry.id)
    entry.ended_at, entry.ended_by, entry.end_reason = now, actor.audit_name, reason
    session.flush()
    return entry


def entries(
    *, actor: Actor, now: datetime, kind: str | None, include_ended: bool,
    customer_id: uuid.UUID | None = None,
) -> Select[tuple[RiskListEntry]]:  # fmt: skip
    """Entries of customers in scope, newest first; only active ones unless `include_ended`."""
    authorize(actor, Action.RISK_READ)
    in_scope = select(Customer.id).where(customer_scope(actor))
    query = select(RiskListEntry).where(RiskListEntry.customer_id.in_(in_scope))
    if kind is not None:
        query = query.where(RiskListEntry.kind == kind)
    if customer_id is not None:
        query = query.where(RiskListEntry.customer_id == customer_id)
    if not include_ended:
        query = query.where(active_clause(now))
    return query.order_by(RiskListEntry.added_at.desc(), RiskListEntry.id.desc())


def on_list(session: Session, customer_id: uuid.UUID, now: datetime) -> str | None:
    """The list a customer is on now (red, black) or None."""
    return session.scalar(
        select(RiskListEntry.kind).where(
            RiskListEntry.customer_id == customer_id, active_clause(now)
        )
    )
