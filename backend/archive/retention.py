"""Retention and supervised destruction of closed files (high voltage >= 5 y, low >= 3 y).

A closed file is due once its retention has run and no legal hold is open. The archive
proposes a destruction list (the papers set apart in a named place); a supervisor other
than the proposer approves it. Approval rechecks every file, then for each document records
what is destroyed (`archive_destroyed_documents`, append-only) and removes its bytes from
the blob store after the commit — unless another record still uses the same bytes. Nothing
else is deleted: the file, its versions and its document rows stay; the list is audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, select, true
from sqlalchemy.orm import Session

from backend.archive.documents import CustomerDocument
from backend.archive.meters import add_months
from backend.archive.records import Customer
from backend.archive.retention_models import (
    DestroyedDocument,
    DestructionItem,
    DestructionList,
    LegalHold,
    RetentionRule,
)
from backend.archive.service import get_customer
from backend.archive.vocab import HIGH_VOLTAGE, AccountStatus
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.db import utcnow
from backend.errors import Conflict, Forbidden, NotFound, OutOfScope, field_error
from backend.org.models import Department

DEFAULT_YEARS = {"high": 5, "low": 3}
MINIMUM_YEARS = DEFAULT_YEARS  # the seeds' floor: a rule may keep files longer, never shorter


def voltage_class(voltage_level: str) -> str:
    """`high` from 10 kV up, else `low`."""
    return "high" if voltage_level in HIGH_VOLTAGE else "low"


def years(session: Session) -> dict[str, int]:
    """Return the live retention (years) per voltage class."""
    found = dict(DEFAULT_YEARS)
    found.update({r.voltage_class: r.years for r in session.scalars(select(RetentionRule))})
    return found


def retain_until(customer: Customer, rules: dict[str, int]) -> datetime | None:
    """When a closed file's retention ends (None while the account is open)."""
    if customer.closed_at is None:
        return None
    closed = customer.closed_at
    months = rules[voltage_class(customer.voltage_level)] * 12
    return datetime.combine(add_months(closed.date(), months), closed.timetz())


def set_rule(session: Session, actor: Actor, voltage: str, value: int) -> RetentionRule:
    """Change a class's retention (never below the seeds' minimum)."""
    authorize(actor, Action.ARCHIVE_CONFIGURE)
    if value < MINIMUM_YEARS[voltage]:
        floor = MINIMUM_YEARS[voltage]
        raise field_error("years", f"{voltage}-voltage files are kept >= {floor} years.")
    row = session.get(RetentionRule, voltage)
    if row is None:
        row = RetentionRule(voltage_class=voltage, years=value)
        session.add(row)
    row.years = value
    session.flush()
    return row


def _held() -> Any:
    return exists().where(LegalHold.customer_id == Customer.id, LegalHold.released_at.is_(None))


def _listed() -> Any:
    """On a list that is proposed (waiting) or approved (done)."""
    return exists().where(
        DestructionItem.customer_id == Customer.id,
        DestructionItem.list_id.in_(
            select(DestructionList.id).where(DestructionList.status.in_(["proposed", "approved"]))
        ),
    )


def due_files(
    session: Session, *, scope: ColumnElement[bool] | None = None, now: datetime | None = None
) -> list[tuple[Customer, datetime]]:
    """Closed files whose retention has run, not held, not on a list; oldest first."""
    now, rules = now or utcnow(), years(session)
    query = select(Customer).where(
        scope if scope is not None else true(),
        Customer.status == AccountStatus.CLOSED,
        Customer.closed_at.is_not(None),
        ~_held(),
        ~_listed(),
    )
    found = []
    for customer in session.scalars(query):
        until = retain_until(customer, rules)
        if until is not None and until <= now:
            found.append((customer, until))
    return sorted(found, key=lambda pair: pair[1])


def propose(
    *, session: Session, actor: Actor, customer_ids: list[uuid.UUID], storage_location: str,
    note: str | None = None,
) -> DestructionList:  # fmt: skip
    """Put due files on a destruction list, their papers set apart in `storage_location`."""
    from backend.archive.access import customer_scope

    authorize(actor, Action.ARCHIVE_DESTRUCTION_PROPOSE)
    scope = customer_scope(actor, session)
    due = {c.id: (c, until) for c, until in due_files(session, scope=scope)}
    not_due = [str(i) for i in customer_ids if i not in due]
    if not_due:
        raise Conflict(
            "Only closed files past their retention, without a legal hold and on no other list, "
            "may be proposed.",
            not_due=not_due,
        )
    found = DestructionList(
        department_id=actor.department_id, storage_location=storage_location, note=note,
        status="proposed", proposed_by=actor.audit_name,
    )  # fmt: skip
    session.add(found)
    session.flush()
    for cid in dict.fromkeys(customer_ids):
        customer, until = due[cid]
        assert customer.closed_at is not None  # noqa: S101 - due files are closed
        session.add(DestructionItem(
            list_id=found.id, customer_id=cid, account_number=customer.account_number,
            closed_at=customer.closed_at, retain_until=until,
        ))  # fmt: skip
    session.flush()
    return found


def _load_list(session: Session, actor: Actor, list_id: uuid.UUID) -> DestructionList:
    found = session.get(DestructionList, list_id)
    if found is None:
        raise NotFound(f"Destruction list {list_id} does not exist.")
    department = session.get(Department, found.department_id)
    if department is None or not actor.sees_path(department.path):
        raise OutOfScope(f"Destruction list {list_id} is outside your data scope.")
    return found


def items(session: Session, list_id: uuid.UUID) -> list[DestructionItem]:
    """The files on a list."""
    query = select(DestructionItem).where(DestructionItem.list_id == list_id)
    return list(session.scalars(query.order_by(DestructionItem.id)))


def destroyed(session: Session, list_id: uuid.UUID) -> list[DestroyedDocument]:
    """The documents a list destroyed."""
    query = select(DestroyedDocument).where(DestroyedDocument.list_id == list_id)
    return list(session.scalars(query.order_by(DestroyedDocument.id)))


def decide(
    *, session: Session, actor: Actor, list_id: uuid.UUID, approve: bool
) -> tuple[DestructionList, list[str]]:
    """Approve (destroy) or refuse a list; returns the blob names to remove after the commit."""
    authorize(actor, Action.ARCHIVE_DESTRUCTION_APPROVE)
    found = _load_list(session, actor, list_id)
    if found.status != "proposed":
        raise Conflict(f"Destruction list {list_id} is {found.status} already.")
    if found.proposed_by == actor.audit_name:
        raise Forbidden("The destruction must be approved by someone else than its proposer.")
    now = utcnow()
    found.decided_by, found.decided_at = actor.audit_name, now
    if not approve:
        found.status = "refused"
        session.flush()
        return found, []
    listed = items(session, list_id)
    rules = years(session)
    blocked = []
    for item in listed:
        customer = session.get(Customer, item.customer_id)
        assert customer is not None  # noqa: S101 - a foreign key
        until = retain_until(customer, rules)
        held = session.scalar(
            select(LegalHold.id).where(
                LegalHold.customer_id == customer.id, LegalHold.released_at.is_(None)
            )
        )
        if held is not None or until is None or until > now:
            blocked.append(customer.account_number)
    if blocked:
        raise Conflict(
            "Some files may not be destroyed now (a legal hold, or retention extended).",
            blocked=blocked,
        )
    found.status = "approved"
    names = _destroy_documents(session, actor, found, [i.customer_id for i in listed], now)
    session.flush()
    return found, names


def _destroy_documents(
    session: Session, actor: Actor, found: DestructionList, customer_ids: list[uuid.UUID],
    now: datetime,
) -> list[str]:  # fmt: skip
    from sync.blobs.scope import references
    from sync.registry import registry
    from sync.store import BlobRecord
    from sync.store.tables import BlobUpload

    documents = list(
        session.scalars(
            select(CustomerDocument).where(
                CustomerDocument.customer_id.in_(customer_ids),
                CustomerDocument.id.not_in(select(DestroyedDocument.document_id)),
            )
        )
    )
    doomed_ids = {d.id for d in documents}
    hashes = {d.sha256 for d in documents}
    # Bytes another record still uses stay (content addressing shares them).
    kept = set(
        session.scalars(
            select(CustomerDocument.sha256).where(
                CustomerDocument.sha256.in_(hashes),
                CustomerDocument.id.not_in(doomed_ids),
                CustomerDocument.id.not_in(select(DestroyedDocument.document_id)),
            )
        )
    )
    for reference in references(registry):
        if reference.name == "customer_document":
            continue
        column = reference.column
        kept.update(session.scalars(select(column).where(column.in_(hashes))))
    for document in documents:
        session.add(DestroyedDocument(
            list_id=found.id, customer_id=document.customer_id, document_id=document.id,
            sha256=document.sha256, stage=document.stage, title=document.title,
            bytes_removed=document.sha256 not in kept, destroyed_by=actor.audit_name,
            destroyed_at=now,
        ))  # fmt: skip
    names = sorted(hashes - kept)
    if names:
        session.execute(delete(BlobUpload).where(BlobUpload.sha256.in_(names)))
        session.execute(delete(BlobRecord).where(BlobRecord.sha256.in_(names)))
    return names


def destroyed_document(session: Session, document_id: uuid.UUID) -> DestroyedDocument | None:
    """The destruction record of a document, if it was destroyed."""
    return session.scalar(
        select(DestroyedDocument).where(DestroyedDocument.document_id == document_id)
    )


def place_hold(*, session: Session, actor: Actor, customer_id: uuid.UUID, reason: str) -> LegalHold:
    """Put a file under legal hold: it is never due for destruction until released."""
    authorize(actor, Action.ARCHIVE_LEGAL_HOLD)
    customer = get_customer(session=session, actor=actor, customer_id=customer_id)
    hold = LegalHold(customer_id=customer.id, reason=reason, placed_by=actor.audit_name)
    session.add(hold)
    session.flush()
    return hold


def release_hold(*, session: Session, actor: Actor, hold_id: uuid.UUID) -> LegalHold:
    """Release a legal hold (kept, with who released it and when)."""
    authorize(actor, Action.ARCHIVE_LEGAL_HOLD)
    hold = session.get(LegalHold, hold_id)
    if hold is None:
        raise NotFound(f"Legal hold {hold_id} does not exist.")
    get_customer(session=session, actor=actor, customer_id=hold.customer_id)
    if hold.released_at is not None:
        raise Conflict(f"Legal hold {hold_id} was released already.")
    hold.released_by, hold.released_at = actor.audit_name, utcnow()
    session.flush()
    return hold


def holds_of(session: Session, customer_id: uuid.UUID) -> list[LegalHold]:
    """A file's legal holds, newest first."""
    query = select(LegalHold).where(LegalHold.customer_id == customer_id)
    return list(session.scalars(query.order_by(LegalHold.placed_at.desc())))


def lists(session: Session, actor: Actor) -> list[DestructionList]:
    """Destruction lists of one's scope, newest first."""
    from backend.auth.actor import visible_departments

    authorize(actor, Action.ARCHIVE_RETENTION_READ)
    query = select(DestructionList).where(
        and_(DestructionList.department_id.in_(visible_departments(actor)))
    )
    return list(session.scalars(query.order_by(DestructionList.proposed_at.desc())))
