"""Import of the billing table (CSV/XLSX) with the archive's import rules.

The same reader (UTF-8 or GBK CSV, XLSX; English or Chinese headers), the same checks first
and all-or-nothing (any problem: 422 with `row_errors`, nothing written), `dry_run`, progress.
Every row names an account the archive already holds, in the importer's scope; an unknown
account is refused with a row error, never opened here. One row is one account's month.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.archive.access import in_scope
from backend.archive.importer import RowErrors
from backend.archive.records import Customer
from backend.archive.tabular import Table
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.db import utcnow
from backend.inputs import Day
from backend.risk.models import BillingImport, BillingRecord
from sync.fields import Decimal as DecimalField

# (column, Chinese header) in file order; both spellings are accepted.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("account_number", "户号"),
    ("period", "账期"),
    ("billed", "应收电费"),
    ("paid", "实收电费"),
    ("paid_on", "缴费日期"),
    ("prepaid", "预收电费"),
    ("litigation", "诉讼"),
)
ALIASES = {alias: name for name, zh in COLUMNS for alias in (name, zh)}
YES = {"yes", "y", "true", "1", "是", "有"}
NO = {"no", "n", "false", "0", "否", "无"}
PERIOD = re.compile(r"^(\d{4})[-/年]?(\d{1,2})月?(?:[-/]\d{1,2}日?)?$")
Progress = Callable[[int], None]


def parse_period(text: str) -> date:
    """`2026-03`, `202603`, `2026/3`, `2026年3月` or a date in the month → its first day."""
    match = PERIOD.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or not 1900 <= int(match.group(1)) < 2200:
        raise ValidationError("A month: YYYY-MM (or YYYYMM, 2026年3月).")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _amount(value: Decimal) -> None:
    if not 0 <= value < 10**11:
        raise ValidationError("An amount from 0 to 99,999,999,999.99.")


class BillingRowSchema(Schema):
    """One row of the billing table."""

    account_number = fields.String(required=True, validate=validate.Length(1, 32))
    period = fields.String(required=True)
    billed = DecimalField(required=True, places=2, validate=_amount, allow_nan=False)
    paid = DecimalField(load_default=Decimal(0), places=2, validate=_amount, allow_nan=False)
    paid_on = Day(load_default=None)
    prepaid = DecimalField(load_default=Decimal(0), places=2, validate=_amount, allow_nan=False)
    litigation = fields.String(load_default="no")

    @pre_load
    def _blanks(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v != ""}

    @validates("period")
    def _period(self, value: str, **kwargs: Any) -> None:
        parse_period(value)

    @validates("litigation")
    def _litigation(self, value: str, **kwargs: Any) -> None:
        if value.lower() not in YES | NO:
            raise ValidationError("yes or no (是/否).")


_ROW = BillingRowSchema()


def _check_rows(
    session: Session, actor: Actor, table: Table, errors: RowErrors, progress: Progress
) -> list[tuple[int, dict[str, Any]]]:
    checked: list[tuple[int, dict[str, Any]]] = []
    seen: dict[tuple[str, date], int] = {}
    for number, raw in table.rows:
        progress(1)
        try:
            data: dict[str, Any] = _ROW.load(raw)
        except ValidationError as exc:
            for column, messages in exc.normalized_messages().items():
                for message in messages if isinstance(messages, list) else [str(messages)]:
                    errors.add(number, str(column), str(message))
            continue
        data["period"] = parse_period(data["period"])
        data["litigation"] = data["litigation"].lower() in YES
        key = (data["account_number"], data["period"])
        if key in seen:
            errors.add(number, "period", f"Duplicate month {key[1]:%Y-%m} of {key[0]}: also on "
                       f"row {seen[key]}.")  # fmt: skip
            continue
        seen[key] = number
        checked.append((number, data))
    accounts = sorted({d["account_number"] for _, d in checked})
    customers: dict[str, Customer] = {}
    for start in range(0, len(accounts), 500):
        chunk = accounts[start : start + 500]
        customers.update(
            (c.account_number, c)
            for c in session.scalars(select(Customer).where(Customer.account_number.in_(chunk)))
        )
    allowed: dict[uuid.UUID, bool] = {}
    for number, data in checked:
        customer = customers.get(data["account_number"])
        if customer is None:
            unknown = f"Unknown account {data['account_number']}: the archive holds no such "
            errors.add(number, "account_number", unknown + "customer (open its file first).")
            continue
        if customer.id not in allowed:
            allowed[customer.id] = in_scope(session, actor, customer.id)
        if not allowed[customer.id]:
            errors.add(number, "account_number", "The account is outside your data scope.")
            continue
        data["customer"] = customer
    return checked


def run_import(
    *, session: Session, actor: Actor, table: Table, job: BillingImport,
    progress: Progress | None = None,
) -> BillingImport:  # fmt: skip
    """Check every row, then (no errors, not a dry run) append one billing record per row."""
    authorize(actor, Action.RISK_BILLING_IMPORT)
    job.total_rows = len(table.rows)
    errors = RowErrors(table.headers, ALIASES)

    def step(n: int) -> None:
        job.processed_rows += n
        if progress:
            progress(n)

    rows = _check_rows(session, actor, table, errors, step)
    job.errors = errors.items
    job.finished_at = utcnow()
    if errors.items:
        job.status = "failed"
        return job
    if job.dry_run:
        job.status = "validated"
        session.add(job)
        session.flush()
        return job
    session.add(job)
    session.flush()
    now = utcnow()
    session.add_all(
        BillingRecord(
            customer_id=data["customer"].id,
            department_id=data["customer"].department_id,
            period=data["period"],
            billed=data["billed"],
            paid=data["paid"],
            paid_on=data["paid_on"],
            prepaid=data["prepaid"],
            litigation=data["litigation"],
            import_id=job.id,
            recorded_by=actor.audit_name,
            recorded_at=now,
        )
        for _, data in rows
    )
    job.created_rows = len(rows)
    job.status = "committed"
    session.flush()
    return job


def effective_records(session: Session, customer_id: uuid.UUID) -> list[BillingRecord]:
    """The customer's months, oldest first: the newest imported row of each month."""
    newest = (
        select(func.max(BillingRecord.id))
        .where(BillingRecord.customer_id == customer_id)
        .group_by(BillingRecord.period)
    )
    return list(
        session.scalars(
            select(BillingRecord).where(BillingRecord.id.in_(newest)).order_by(BillingRecord.period)
        )
    )


def effective_ids() -> Any:
    """A select of the ids of every (customer, month)'s newest billing row."""
    return select(func.max(BillingRecord.id)).group_by(
        BillingRecord.customer_id, BillingRecord.period
    )
