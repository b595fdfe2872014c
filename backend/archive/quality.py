"""Data-quality figures of the archive, per owning department (seed 003: defects by stage).

Computed from the rows on request, like the deadlines: files open / closed, files missing a
required stage's documents (per stage), stale files (no version for `STALE_DAYS`), open
deadlines by kind and status, meters overdue for calibration / replacement, and reads of
files by people outside their scope (through an approved access request).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from backend.archive.access_models import FileRead
from backend.archive.deadlines import NEW_FILE_STAGES, Kind, Status, open_items
from backend.archive.documents import CustomerDocument
from backend.archive.records import ArchiveVersion, Customer
from backend.archive.vocab import AccountStatus
from backend.db import utcnow
from backend.org.models import Department

STALE_DAYS = 365
# The report's columns, in order (one row per department).
COLUMNS = [
    "department_id", "department", "files", "active", "closed", "incomplete",
    *[f"missing_{s.value}" for s in NEW_FILE_STAGES], "stale", "deadlines_warning",
    "deadlines_overdue", *[f"overdue_{k.value}" for k in Kind], "reads", "reads_by_grant",
]  # fmt: skip


def figures(
    session: Session, *, scope: ColumnElement[bool], now: datetime | None = None
) -> list[dict[str, Any]]:
    """One row of figures per department owning files in the scope."""
    now = now or utcnow()
    rows: dict[int, Counter[str]] = defaultdict(Counter)
    by_status = select(Customer.department_id, Customer.status, func.count()).where(scope)
    for department_id, status, count in session.execute(
        by_status.group_by(Customer.department_id, Customer.status)
    ):
        rows[department_id]["files"] += count
        rows[department_id]["active" if status == AccountStatus.ACTIVE else "closed"] += count
    active = (Customer.status == AccountStatus.ACTIVE) & scope
    for stage in NEW_FILE_STAGES:
        lacking = ~exists().where(
            CustomerDocument.customer_id == Customer.id, CustomerDocument.stage == stage
        )
        query = select(Customer.department_id, func.count()).where(active, lacking)
        for department_id, count in session.execute(query.group_by(Customer.department_id)):
            rows[department_id][f"missing_{stage.value}"] = count
    any_missing = [
        ~exists().where(CustomerDocument.customer_id == Customer.id, CustomerDocument.stage == s)
        for s in NEW_FILE_STAGES
    ]
    query = select(Customer.department_id, func.count()).where(active, or_(*any_missing))
    for department_id, count in session.execute(query.group_by(Customer.department_id)):
        rows[department_id]["incomplete"] = count
    latest = (
        select(func.max(ArchiveVersion.changed_at))
        .where(ArchiveVersion.customer_id == Customer.id)
        .scalar_subquery()
    )
    query = select(Customer.department_id, func.count()).where(
        active, latest < now - timedelta(days=STALE_DAYS)
    )
    for department_id, count in session.execute(query.group_by(Customer.department_id)):
        rows[department_id]["stale"] = count
    for item in open_items(session, now=now, scope=scope):
        if item.status is Status.OVERDUE:
            rows[item.department_id]["deadlines_overdue"] += 1
            rows[item.department_id][f"overdue_{item.kind}"] += 1
        elif item.status is Status.WARNING:
            rows[item.department_id]["deadlines_warning"] += 1
    reads = (
        select(Customer.department_id, FileRead.grant_id.is_not(None), func.count())
        .join(Customer, Customer.id == FileRead.customer_id)
        .where(scope)
        .group_by(Customer.department_id, FileRead.grant_id.is_not(None))
    )
    for department_id, by_grant, count in session.execute(reads):
        rows[department_id]["reads"] += count
        if by_grant:
            rows[department_id]["reads_by_grant"] += count
    names = {i: n for i, n in session.execute(select(Department.id, Department.name))}
    return [
        {
            **dict.fromkeys(COLUMNS, 0),
            **counts,
            "department_id": department_id,
            "department": names.get(department_id, ""),
        }
        for department_id, counts in sorted(rows.items())
    ]
