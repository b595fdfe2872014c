"""Lending paper files (借阅): sign-out with supervisor approval, due date, return, chasing.

requested -> approved (a supervisor, not the borrower) -> out (the archive hands it over)
-> returned (the archive takes it back); a request may be refused. A file already approved
or out cannot be lent again (409; a partial unique index holds it in the database too).
An overdue loan is a deadline (`loan_return`) the chasing worker follows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.archive.access_models import PaperLoan
from backend.archive.records import Customer
from backend.archive.service import get_customer
from backend.auth.actor import Actor, visible_departments
from backend.auth.policy import Action, authorize, can
from backend.db import utcnow
from backend.errors import Conflict, Forbidden, NotFound, OutOfScope, field_error
from backend.org.models import Department

MAX_LOAN = timedelta(days=60)
OUT = ("approved", "out")


def _load(session: Session, loan_id: uuid.UUID) -> PaperLoan:
    loan = session.get(PaperLoan, loan_id)
    if loan is None:
        raise NotFound(f"Loan {loan_id} does not exist.")
    return loan


def _in_scope(session: Session, actor: Actor, loan: PaperLoan) -> bool:
    department = session.get(Department, loan.department_id)
    customer = session.get(Customer, loan.customer_id)
    owner = session.get(Department, customer.department_id) if customer else None
    return loan.borrower_id == actor.id or any(
        d is not None and actor.sees_path(d.path) for d in (department, owner)
    )


def request_loan(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, purpose: str, due_on: date
) -> PaperLoan:
    """Ask to sign out a file's paper (it must be in one's read scope)."""
    authorize(actor, Action.ARCHIVE_LOAN_REQUEST)
    customer = get_customer(session=session, actor=actor, customer_id=customer_id)
    today = utcnow().date()
    if due_on <= today or due_on - today > MAX_LOAN:
        raise field_error("due_on", f"Due within 1 to {MAX_LOAN.days} days from today.")
    _refuse_if_out(session, customer)
    loan = PaperLoan(
        customer_id=customer.id, borrower_id=actor.id, borrower_name=actor.audit_name,
        department_id=actor.department_id, purpose=purpose, due_on=due_on, status="requested",
    )  # fmt: skip
    session.add(loan)
    session.flush()
    return loan


def _refuse_if_out(session: Session, customer: Customer, but: uuid.UUID | None = None) -> None:
    query = select(PaperLoan).where(PaperLoan.customer_id == customer.id, PaperLoan.status.in_(OUT))
    found = session.scalars(query).first()
    if found is not None and found.id != but:
        raise Conflict(
            f"The paper file of account {customer.account_number} is {found.status} "
            f"(loan {found.id}, due {found.due_on}); it cannot be lent twice.",
            loan_id=str(found.id),
        )


def _move(session: Session, loan: PaperLoan, to: str, allowed_from: tuple[str, ...]) -> None:
    if loan.status not in allowed_from:
        raise Conflict(f"Loan {loan.id} is {loan.status}; it cannot become {to}.")
    loan.status = to
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent approval of another loan of the file
        raise Conflict("The paper file is lent already.") from exc


def decide_loan(*, session: Session, actor: Actor, loan_id: uuid.UUID, approve: bool) -> PaperLoan:
    """A supervisor approves (signs out) or refuses a loan; never their own."""
    authorize(actor, Action.ARCHIVE_LOAN_APPROVE)
    loan = _load(session, loan_id)
    if not _in_scope(session, actor, loan):
        raise OutOfScope(f"Loan {loan_id} is outside your data scope.")
    if loan.borrower_id == actor.id:
        raise Forbidden("No one approves their own loan.")
    customer = session.get(Customer, loan.customer_id)
    assert customer is not None  # noqa: S101 - a foreign key
    if approve:
        _refuse_if_out(session, customer, but=loan.id)
        loan.approved_by, loan.approved_at = actor.audit_name, utcnow()
    _move(session, loan, "approved" if approve else "refused", ("requested",))
    return loan


def hand_out(*, session: Session, actor: Actor, loan_id: uuid.UUID) -> PaperLoan:
    """The archive hands an approved file over to the borrower."""
    authorize(actor, Action.ARCHIVE_LOAN_HANDLE)
    loan = _load(session, loan_id)
    if not _in_scope(session, actor, loan):
        raise OutOfScope(f"Loan {loan_id} is outside your data scope.")
    loan.handed_out_by, loan.handed_out_at = actor.audit_name, utcnow()
    _move(session, loan, "out", ("approved",))
    return loan


def take_back(*, session: Session, actor: Actor, loan_id: uuid.UUID) -> PaperLoan:
    """The archive receives the file back."""
    authorize(actor, Action.ARCHIVE_LOAN_HANDLE)
    loan = _load(session, loan_id)
    if not _in_scope(session, actor, loan):
        raise OutOfScope(f"Loan {loan_id} is outside your data scope.")
    loan.received_by, loan.returned_at = actor.audit_name, utcnow()
    _move(session, loan, "returned", ("out",))
    return loan


def loans(session: Session, actor: Actor, *, status: str | None = None) -> Select[Any]:
    """Select one's own loans, and those of files or borrowers in one's scope."""
    authorize(actor, Action.ARCHIVE_LOAN_READ)
    visible = visible_departments(actor)
    query = select(PaperLoan).where(
        or_(
            PaperLoan.borrower_id == actor.id,
            PaperLoan.department_id.in_(visible),
            PaperLoan.customer_id.in_(
                select(Customer.id).where(Customer.department_id.in_(visible))
            ),
        )
    )
    if not can(actor, Action.ARCHIVE_LOAN_APPROVE) and not can(actor, Action.ARCHIVE_LOAN_HANDLE):
        query = query.where(PaperLoan.borrower_id == actor.id)
    if status:
        query = query.where(PaperLoan.status == status)
    return query.order_by(PaperLoan.created_at.desc())


def loan_due_at(loan: PaperLoan) -> datetime:
    """Return when a loan falls due: the end of its due day (UTC, as every deadline).

    One rule for the loans list's `overdue` and the deadline worklist.
    """
    return datetime.combine(loan.due_on + timedelta(days=1), time(), tzinfo=UTC)


def open_loan_items(
    session: Session, scope: ColumnElement[bool], rule: Any, now: datetime
) -> list[Any]:
    """Deadline items of the loans out (due at the end of their due day)."""
    from backend.archive.deadlines import Item, Kind, status_at

    query = (
        select(PaperLoan, Customer)
        .join(Customer, Customer.id == PaperLoan.customer_id)
        .where(scope, PaperLoan.status == "out")
    )
    found = []
    for loan, customer in session.execute(query):
        due_at = loan_due_at(loan)
        found.append(Item(
            kind=Kind.LOAN_RETURN, subject_id=str(loan.id), customer_id=customer.id,
            account_number=customer.account_number, department_id=customer.department_id,
            started_at=loan.handed_out_at or loan.created_at, due_at=due_at,
            status=status_at(due_at, rule.warning, now),
            detail=f"paper file lent to {loan.borrower_name}, due back {loan.due_on}",
        ))  # fmt: skip
    return found
