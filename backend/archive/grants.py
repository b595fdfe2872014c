"""Access requests with two-level approval, the grants they make, and the read log.

Reading a file outside one's scope needs a request (identity, purpose, period) approved
first by a department head of the requester (`archive.access.approve_department`), then by
the archive keeping the file (`archive.access.approve_archive`): two different people, and
never the requester. A granted request opens the file **for reading only** and only within
its period: `customer_scope` adds it for safe requests (GET/HEAD), so every read door —
REST views, document bytes and blobs, exports — honours it and no write goes through it.
Sync pulls never carry granted files: an offline copy would outlive the grant.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from flask import has_request_context, request
from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from backend.archive.access_models import AccessRequest, FileRead
from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, can
from backend.db import utcnow
from backend.errors import (
    Conflict,
    Forbidden,
    NotFound,
    OutOfScope,
    ServiceUnavailable,
    field_error,
)
from backend.org.models import Department

MAX_PERIOD = timedelta(days=90)
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Set while building the scope without grants (whose own scope is a file in?).
_SKIP: ContextVar[bool] = ContextVar("archive_grants_skip", default=False)


class Status:
    """Where a request stands."""

    PENDING = "pending"
    DEPARTMENT_APPROVED = "department_approved"
    GRANTED = "granted"
    REFUSED = "refused"


def _reading() -> bool:
    return has_request_context() and request.method in SAFE_METHODS


def granted_customer_ids(actor: Actor, now: datetime | None = None) -> Select[tuple[uuid.UUID]]:
    """Select the files the actor holds a grant for at `now`."""
    now = now or utcnow()
    return select(AccessRequest.customer_id).where(
        AccessRequest.requester_id == actor.id,
        AccessRequest.status == Status.GRANTED,
        AccessRequest.valid_from <= now,
        AccessRequest.valid_until > now,
    )


def grant_clause(actor: Actor) -> ColumnElement[bool] | None:
    """The scope a grant adds (a WHERE clause on customers), or None outside a safe request."""
    if actor.kind != "user" or not _reading():
        return None
    return Customer.id.in_(granted_customer_ids(actor))


def customer_scope_without_grants(actor: Actor, session: Session) -> ColumnElement[bool]:
    """The actor's own scope (departments, work, region) with grants left out."""
    from backend.archive import access

    token = _SKIP.set(True)
    try:
        return access.customer_scope(actor, session)
    finally:
        _SKIP.reset(token)


def scope_addition(actor: Actor) -> ColumnElement[bool] | None:
    """What `customer_scope` adds for a grant (None when nothing)."""
    if _SKIP.get():
        return None
    return grant_clause(actor)


# --- requests ----------------------------------------------------------------------------


def request_access(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, purpose: str,
    valid_until: datetime, valid_from: datetime | None = None,
) -> AccessRequest:  # fmt: skip
    """Ask to read a file outside one's scope for a purpose and a period."""
    authorize(actor, Action.ARCHIVE_ACCESS_REQUEST)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"Customer {customer_id} does not exist.")
    if session.scalar(
        select(Customer.id).where(
            Customer.id == customer_id, customer_scope_without_grants(actor, session)
        )
    ):
        raise Conflict(f"Account {customer.account_number} is in your scope already.")
    now = utcnow()
    valid_from = valid_from or now
    if valid_until <= valid_from:
        raise field_error("valid_until", "The period must end after it starts.")
    if valid_until - valid_from > MAX_PERIOD:
        raise field_error("valid_until", f"A grant lasts at most {MAX_PERIOD.days} days.")
    if valid_until <= now:
        raise field_error("valid_until", "The period is over already.")
    found = AccessRequest(
        customer_id=customer.id, requester_id=actor.id, requester_name=actor.audit_name,
        requester_department_id=actor.department_id, purpose=purpose, valid_from=valid_from,
        valid_until=valid_until, status=Status.PENDING, created_at=now,
    )  # fmt: skip
    session.add(found)
    session.flush()
    return found


def _department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    assert department is not None  # noqa: S101 - a foreign key
    return department


def _load(session: Session, request_id: uuid.UUID) -> AccessRequest:
    found = session.get(AccessRequest, request_id)
    if found is None:
        raise NotFound(f"Access request {request_id} does not exist.")
    return found


def may_decide(session: Session, actor: Actor, found: AccessRequest) -> str | None:
    """Return the level the actor may decide now ("department", "archive") or None."""
    if actor.kind != "user" or found.requester_id == actor.id:
        return None
    if found.status == Status.PENDING and can(actor, Action.ARCHIVE_ACCESS_APPROVE_DEPARTMENT):
        if actor.sees_path(_department(session, found.requester_department_id).path):
            return "department"
    if found.status == Status.DEPARTMENT_APPROVED and can(
        actor, Action.ARCHIVE_ACCESS_APPROVE_ARCHIVE
    ):
        customer = session.get(Customer, found.customer_id)
        assert customer is not None  # noqa: S101 - a foreign key
        if (
            actor.sees_path(_department(session, customer.department_id).path)
            and found.department_approver != actor.audit_name
        ):
            return "archive"
    return None


LEVEL_ACTIONS = {
    "department": Action.ARCHIVE_ACCESS_APPROVE_DEPARTMENT,
    "archive": Action.ARCHIVE_ACCESS_APPROVE_ARCHIVE,
}


def decide(
    *, session: Session, actor: Actor, request_id: uuid.UUID, approve: bool,
    level: str | None = None, reason: str | None = None,
) -> AccessRequest:  # fmt: skip
    """Approve at `level` or refuse (at the level due); never one's own, never both levels."""
    if level is not None:
        authorize(actor, LEVEL_ACTIONS[level])
    elif not any(can(actor, a) for a in LEVEL_ACTIONS.values()):
        authorize(actor, Action.ARCHIVE_ACCESS_APPROVE_DEPARTMENT)
    found = _load(session, request_id)
    if found.requester_id == actor.id:
        raise Forbidden("No one decides their own access request.")
    if found.status in (Status.GRANTED, Status.REFUSED):
        raise Conflict(f"Access request {request_id} is {found.status} already.")
    if found.department_approver == actor.audit_name:
        raise Forbidden("The second approval must come from someone else than the first.")
    due = "department" if found.status == Status.PENDING else "archive"
    if level is not None and level != due:
        raise Conflict(f"Access request {request_id} waits for the {due} approval.")
    if may_decide(session, actor, found) != due:
        whom = "requester's department head" if due == "department" else "archive keeping the file"
        raise OutOfScope(f"This request waits for the {whom}.")
    now = utcnow()
    if not approve:
        found.status, found.refused_by, found.refused_at = Status.REFUSED, actor.audit_name, now
        found.refusal_reason = reason
    elif due == "department":
        found.status = Status.DEPARTMENT_APPROVED
        found.department_approver, found.department_approved_at = actor.audit_name, now
    else:
        found.status = Status.GRANTED
        found.archive_approver, found.archive_approved_at = actor.audit_name, now
    session.flush()
    return found


def visible_requests(session: Session, actor: Actor) -> list[AccessRequest]:
    """One's own requests, and those one may decide (or decided)."""
    authorize(actor, Action.ARCHIVE_ACCESS_READ)
    query = select(AccessRequest).order_by(AccessRequest.created_at.desc()).limit(500)
    rows = list(session.scalars(query))
    return [
        r
        for r in rows
        if r.requester_id == actor.id
        or actor.audit_name in (r.department_approver, r.archive_approver, r.refused_by)
        or may_decide(session, actor, r) is not None
        or can(actor, Action.ARCHIVE_READ_LOG)
        and actor.sees_path(_department(session, r.requester_department_id).path)
    ]


# --- the read log ------------------------------------------------------------------------


def note_reads(session: Session, actor: Actor, customer_ids: list[Any], what: str) -> None:
    """Record that the actor read these files now, and why (its scope or its grant)."""
    if actor.kind == "system" or not customer_ids:
        return
    now = utcnow()
    grants: dict[Any, AccessRequest] = {}
    if actor.kind == "user":
        query = select(AccessRequest).where(
            AccessRequest.customer_id.in_(customer_ids),
            AccessRequest.requester_id == actor.id,
            AccessRequest.status == Status.GRANTED,
            AccessRequest.valid_from <= now,
            AccessRequest.valid_until > now,
        )
        grants = {row.customer_id: row for row in session.scalars(query)}
    own = set()
    if grants:
        own = set(
            session.scalars(
                select(Customer.id).where(
                    Customer.id.in_(list(grants)), customer_scope_without_grants(actor, session)
                )
            )
        )
    session.add_all(
        FileRead(
            customer_id=cid,
            reader=actor.audit_name,
            reader_department_id=actor.department_id,
            what=what,
            read_at=now,
            grant_id=grants[cid].id if cid in grants and cid not in own else None,
            why=(
                f"access request: {grants[cid].purpose}"[:500]
                if cid in grants and cid not in own
                else "in scope"
            ),
        )  # fmt: skip
        for cid in customer_ids
    )
    session.flush()


def record_reads(actor: Actor, customer_ids: list[Any], what: str) -> None:
    """Log reads from a request in a unit of work of its own.

    GET requests read through a read-only session (on SQLite it never takes the write lock),
    so the log is written beside it; a read that fails after this still counts as attempted.
    """
    from backend.unit_of_work import database

    try:
        with database().unit_of_work(actor=actor.audit_name) as session:
            note_reads(session, actor, customer_ids, what)
    except OperationalError as exc:  # SQLite: a long import holds the one writer
        # No unlogged read: refuse it rather than show the file without a trace.
        raise ServiceUnavailable("The read log is busy; try again shortly.") from exc


def reads(
    session: Session, actor: Actor, *, customer_id: uuid.UUID | None = None,
    reader: str | None = None, by_grant: bool | None = None,
) -> Select[tuple[FileRead]]:  # fmt: skip
    """Select the read log of files in the actor's scope, newest first."""
    authorize(actor, Action.ARCHIVE_READ_LOG)
    query = select(FileRead).where(
        FileRead.customer_id.in_(
            select(Customer.id).where(customer_scope_without_grants(actor, session))
        )
    )
    if customer_id is not None:
        query = query.where(FileRead.customer_id == customer_id)
    if reader:
        query = query.where(FileRead.reader == reader)
    if by_grant is not None:
        query = query.where(
            FileRead.grant_id.is_not(None) if by_grant else FileRead.grant_id.is_(None)
        )
    return query.order_by(FileRead.id.desc())
