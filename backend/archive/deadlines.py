"""Deadlines of customer files: normal / warning / overdue, derived from the rows each time.

Nothing is stored about an item's state: each question (the worklist, the chasing worker,
the quality figures) recomputes the open items from the events in the database — business
steps, documents, versions, meters' due dates, contract expiry, paper loans — so a restart
loses nothing. The limits are the `archive_deadline_rules` rows (seeded with the seeds'
numbers, changed through `PUT /archive/deadline-rules/{kind}`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, true
from sqlalchemy.orm import Session

from backend.archive.deadline_models import BusinessStep, DeadlineRule
from backend.archive.documents import CustomerDocument
from backend.archive.meters import READING_REASON, add_months
from backend.archive.records import ArchiveVersion, Customer, Meter, MeterType
from backend.archive.vocab import AccountStatus, Source, Stage
from backend.db import utcnow


class Kind(StrEnum):
    """What is due (seed 003: 48 h, one week, five days; meters and contracts)."""

    DIGITISE = "digitise"  # a step's documents scanned within 48 h
    HANDOVER = "handover"  # a step's paper handed over to the archive (shelf/box) within a week
    NEW_FILE = "new_file"  # a new customer's file complete within a week
    CHANGED_FILE = "changed_file"  # a changed customer's file updated within 5 days
    METER_CALIBRATION = "meter_calibration"
    METER_REPLACEMENT = "meter_replacement"
    CONTRACT_EXPIRY = "contract_expiry"
    LOAN_RETURN = "loan_return"  # a paper file lent out, back by the end of its due day


class Status(StrEnum):
    """An item's state at a moment."""

    NORMAL = "normal"
    WARNING = "warning"
    OVERDUE = "overdue"


# (kind, limit hours, warning hours before the due time, repeat hours); the migration seeds
# these rows and tests hold the seeds' numbers.
DEFAULT_RULES: tuple[tuple[str, int, int, int], ...] = (
    (Kind.DIGITISE, 48, 24, 24),
    (Kind.HANDOVER, 7 * 24, 2 * 24, 24),
    (Kind.NEW_FILE, 7 * 24, 2 * 24, 24),
    (Kind.CHANGED_FILE, 5 * 24, 2 * 24, 24),
    (Kind.METER_CALIBRATION, 0, 30 * 24, 7 * 24),
    (Kind.METER_REPLACEMENT, 0, 30 * 24, 7 * 24),
    (Kind.CONTRACT_EXPIRY, 0, 60 * 24, 7 * 24),
    (Kind.LOAN_RETURN, 0, 2 * 24, 24),
)

# A new customer's file is complete with these stages' documents (the gate of `new_file`).
NEW_FILE_STAGES = (Stage.APPLICATION, Stage.CONTRACT)


@dataclass(frozen=True)
class Rule:
    """The live limits of one kind."""

    limit: timedelta
    warning: timedelta
    repeat: timedelta


@dataclass(frozen=True)
class Item:
    """One open deadline of one file."""

    kind: str
    subject_id: str  # the step, customer, meter or loan it is about
    customer_id: uuid.UUID
    account_number: str
    department_id: int
    started_at: datetime
    due_at: datetime
    status: Status
    detail: str

    def as_dict(self) -> dict[str, Any]:
        """The worklist's JSON."""
        return {**self.__dict__, "customer_id": str(self.customer_id)}


def rules(session: Session) -> dict[str, Rule]:
    """Return the live rule of each kind (defaults for kinds without a row)."""
    found = {
        kind: Rule(timedelta(hours=h), timedelta(hours=w), timedelta(hours=r))
        for kind, h, w, r in DEFAULT_RULES
    }
    for row in session.scalars(select(DeadlineRule)):
        found[row.kind] = Rule(
            timedelta(hours=row.limit_hours),
            timedelta(hours=row.warning_hours),
            timedelta(hours=max(row.repeat_hours, 1)),
        )
    return found


def status_at(due_at: datetime, warning: timedelta, now: datetime) -> Status:
    """Normal until `warning` before the due time, then warning, overdue from the due time."""
    if now >= due_at:
        return Status.OVERDUE
    if now >= due_at - warning:
        return Status.WARNING
    return Status.NORMAL


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _document_exists(stage: Any, *extra: ColumnElement[bool]) -> Any:
    return exists().where(
        CustomerDocument.customer_id == BusinessStep.customer_id,
        CustomerDocument.stage == stage,
        *extra,
    )


def open_items(
    session: Session,
    *,
    now: datetime | None = None,
    scope: ColumnElement[bool] | None = None,
    kinds: set[str] | None = None,
) -> list[Item]:
    """Return every deadline not yet met, with its status at `now`, soonest due first.

    `scope` is a WHERE clause on `customers` (the caller's data scope); closed accounts owe
    nothing but their loans.
    """
    now = now or utcnow()
    live = rules(session)
    scope = scope if scope is not None else true()
    wanted = kinds or {k.value for k in Kind}
    items: list[Item] = []

    def add(kind: str, subject: Any, customer: Customer, start: datetime, detail: str,
            due: datetime | None = None) -> None:  # fmt: skip
        rule = live[kind]
        start = _aware(start)
        due_at = due if due is not None else start + rule.limit
        items.append(Item(
            kind=kind, subject_id=str(subject), customer_id=customer.id,
            account_number=customer.account_number, department_id=customer.department_id,
            started_at=start, due_at=due_at, status=status_at(due_at, rule.warning, now),
            detail=detail,
        ))  # fmt: skip

    active = and_(scope, Customer.status == AccountStatus.ACTIVE)
    steps = select(BusinessStep, Customer).join(Customer, Customer.id == BusinessStep.customer_id)
    if Kind.DIGITISE in wanted:
        query = steps.where(active, ~_document_exists(BusinessStep.stage))
        for step, customer in session.execute(query):
            add(Kind.DIGITISE, step.id, customer, step.completed_at,
                f"{step.stage} step done: scan its documents")  # fmt: skip
    if Kind.HANDOVER in wanted:
        on_shelf = CustomerDocument.paper_shelf.is_not(None)
        query = steps.where(active, ~_document_exists(BusinessStep.stage, on_shelf))
        for step, customer in session.execute(query):
            add(Kind.HANDOVER, step.id, customer, step.completed_at,
                f"{step.stage} step done: hand its paper to the archive (shelf, box)")  # fmt: skip
    if Kind.CHANGED_FILE in wanted:
        updated = exists().where(
            ArchiveVersion.customer_id == BusinessStep.customer_id,
            ArchiveVersion.version_no > 1,
            ArchiveVersion.changed_at >= BusinessStep.completed_at,
            ArchiveVersion.reason != READING_REASON,  # a reading updates no file
        )
        query = steps.where(active, BusinessStep.stage == Stage.CHANGE, ~updated)
        for step, customer in session.execute(query):
            add(Kind.CHANGED_FILE, step.id, customer, step.completed_at,
                "customer changed: update the file (a new version)")  # fmt: skip
    if Kind.NEW_FILE in wanted:
        items += _new_files(session, active, live[Kind.NEW_FILE], now)
    if wanted & {Kind.METER_CALIBRATION, Kind.METER_REPLACEMENT}:
        items += _meters(session, active, live, now, wanted)
    if Kind.CONTRACT_EXPIRY in wanted:
        horizon = (now + live[Kind.CONTRACT_EXPIRY].warning).date()
        query = select(Customer).where(
            active, Customer.contract_expires_on.is_not(None),
            Customer.contract_expires_on <= horizon,
        )  # fmt: skip
        for customer in session.scalars(query):
            expires = customer.contract_expires_on
            assert expires is not None  # noqa: S101 - filtered above
            add(Kind.CONTRACT_EXPIRY, customer.id, customer, _midnight(expires),
                f"contract {customer.contract_number or ''} expires {expires}: renew it",
                due=_midnight(expires))  # fmt: skip
    if Kind.LOAN_RETURN in wanted:  # lent files are chased even after the account closed
        from backend.archive.lending import open_loan_items  # lending builds on this module

        items += open_loan_items(session, scope, live[Kind.LOAN_RETURN], now)
    return sorted(items, key=lambda i: (i.due_at, i.kind, i.subject_id))


def _new_files(session: Session, active: Any, rule: Rule, now: datetime) -> list[Item]:
    """Files opened by hand (not imported) still missing a required stage's documents."""
    first = (
        select(ArchiveVersion.record_id, ArchiveVersion.changed_at)
        .where(
            ArchiveVersion.entity == "customer",
            ArchiveVersion.version_no == 1,
            ArchiveVersion.source != Source.IMPORT,
        )
        .subquery()
    )
    missing = [
        ~exists().where(CustomerDocument.customer_id == Customer.id, CustomerDocument.stage == s)
        for s in NEW_FILE_STAGES
    ]
    query = (
        select(Customer, first.c.changed_at)
        .join(first, first.c.record_id == Customer.id)
        .where(active, or_(*missing))
    )
    found = []
    for customer, opened_at in session.execute(query):
        have = set(
            session.scalars(
                select(CustomerDocument.stage).where(CustomerDocument.customer_id == customer.id)
            )
        )
        lacking = [s.value for s in NEW_FILE_STAGES if s.value not in have]
        due_at = _aware(opened_at) + rule.limit
        found.append(Item(
            kind=Kind.NEW_FILE, subject_id=str(customer.id), customer_id=customer.id,
            account_number=customer.account_number, department_id=customer.department_id,
            started_at=_aware(opened_at), due_at=due_at,
            status=status_at(due_at, rule.warning, now),
            detail=f"new file incomplete: no {', '.join(lacking)} documents",
        ))  # fmt: skip
    return found


def _meters(
    session: Session, active: Any, live: dict[str, Rule], now: datetime, wanted: set[str]
) -> list[Item]:
    """Meters in service whose calibration or replacement falls due within the warning."""
    found = []
    for meter_type in session.scalars(select(MeterType)):
        for kind, months, since in (
            (Kind.METER_CALIBRATION, meter_type.calibration_months,
             func.coalesce(Meter.calibrated_on, Meter.installed_on)),
            (Kind.METER_REPLACEMENT, meter_type.replacement_months, Meter.installed_on),
        ):  # fmt: skip
            if kind not in wanted:
                continue
            horizon = (now + live[kind].warning).date()
            # due = since + months <= horizon  <=>  since <= horizon - months (a safe bound)
            bound = add_months(horizon, -months) + timedelta(days=3)
            query = (
                select(Meter, Customer)
                .join(Customer, Customer.id == Meter.customer_id)
                .where(
                    active,
                    Meter.meter_type == meter_type.code,
                    Meter.status == "in_service",
                    since <= bound,
                )  # fmt: skip
            )
            for meter, customer in session.execute(query):
                start = meter.calibrated_on or meter.installed_on
                if kind == Kind.METER_REPLACEMENT:
                    start = meter.installed_on
                due_day = add_months(start, months)
                if due_day > horizon:
                    continue
                what = "calibration" if kind == Kind.METER_CALIBRATION else "replacement"
                found.append(Item(
                    kind=kind, subject_id=str(meter.id), customer_id=customer.id,
                    account_number=customer.account_number,
                    department_id=customer.department_id, started_at=_midnight(start),
                    due_at=_midnight(due_day),
                    status=status_at(_midnight(due_day), live[kind].warning, now),
                    detail=f"meter {meter.number} {what} due {due_day}",
                ))  # fmt: skip
    return found


def set_rule(session: Session, kind: str, data: dict[str, int]) -> DeadlineRule:
    """Change one kind's limits (audited)."""
    row = session.get(DeadlineRule, kind)
    if row is None:
        row = DeadlineRule(kind=kind, **data)
        session.add(row)
    else:
        for key, value in data.items():
            setattr(row, key, value)
    session.flush()
    return row
