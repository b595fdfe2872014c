"""Access to files outside one's scope (requests, grants), the read log, and paper loans."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, UUIDPrimaryKey, utcnow


class AccessRequest(Audited, UUIDPrimaryKey, Base):
    """A request to read one file outside one's scope: identity, purpose, period.

    pending -> department_approved (the requester's department head) -> granted (the archive
    keeping the file); either level may refuse. Two different people, neither the requester.
    A granted request widens the requester's read scope between `valid_from` and
    `valid_until` (`backend.archive.grants`). Audited: every decision is in `audit_log`.
    """

    __tablename__ = "archive_access_requests"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    requester_name: Mapped[str] = mapped_column(String(120))
    requester_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    purpose: Mapped[str] = mapped_column(String(500))
    valid_from: Mapped[datetime] = mapped_column()
    valid_until: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(24), default="pending", index=True)
    department_approver: Mapped[str | None] = mapped_column(String(120))
    department_approved_at: Mapped[datetime | None] = mapped_column()
    archive_approver: Mapped[str | None] = mapped_column(String(120))
    archive_approved_at: Mapped[datetime | None] = mapped_column()
    refused_by: Mapped[str | None] = mapped_column(String(120))
    refused_at: Mapped[datetime | None] = mapped_column()
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FileRead(Base):
    """One read of a customer file: who, which file, what, when, and why (append-only)."""

    __tablename__ = "archive_reads"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    reader: Mapped[str] = mapped_column(String(120), index=True)
    reader_department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    what: Mapped[str] = mapped_column(String(32))  # view, history, versions, documents, ...
    # The access request that opened the file, when the reader is outside its scope.
    grant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("archive_access_requests.id"))
    why: Mapped[str] = mapped_column(String(500))
    read_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PaperLoan(Audited, UUIDPrimaryKey, Base):
    """A paper file signed out: requested -> approved (supervisor) -> out -> returned.

    At most one loan of a file is approved or out at a time (a partial unique index).
    """

    __tablename__ = "archive_loans"
    __table_args__ = (
        Index(
            "uq_archive_loans_one_out",
            "customer_id",
            unique=True,
            postgresql_where=text("status IN ('approved', 'out')"),
            sqlite_where=text("status IN ('approved', 'out')"),
        ),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    borrower_name: Mapped[str] = mapped_column(String(120))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(500))
    due_on: Mapped[date] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default="requested", index=True)
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[datetime | None] = mapped_column()
    handed_out_by: Mapped[str | None] = mapped_column(String(120))
    handed_out_at: Mapped[datetime | None] = mapped_column()
    returned_at: Mapped[datetime | None] = mapped_column()
    received_by: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
