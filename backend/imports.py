"""The bookkeeping every import of a table shares: the job's columns, its upload, who reads it.

An import job (the archive's customer files, the billing table) records the file it read, how
far it got, its per-row errors and its outcome. Each domain keeps its own table (a mixin, so
no schema changes) and its own row logic; reading the upload, opening the job and showing it
only to whoever ran it (or a caller with `archive.import.read_all`) are here, once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from marshmallow import Schema, fields
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.archive.tabular import ALIASES, Table, read_csv, read_xlsx
from backend.db import JSONType, utcnow
from backend.errors import NotFound, OutOfScope
from backend.inputs import Timestamp
from sync.fields import Float, Integer

if TYPE_CHECKING:  # the models import this module, and the policy imports the models
    from backend.auth.actor import Actor


class ImportJobColumns:
    """Columns of an import job: the file, progress, per-row errors, outcome, who and when."""

    filename: Mapped[str] = mapped_column(String(200))
    file_format: Mapped[str] = mapped_column(String(8))  # csv | xlsx
    encoding: Mapped[str | None] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column()
    # (queued ->) running -> validated (dry run, no errors) | committed | failed (errors,
    # nothing written)
    status: Mapped[str] = mapped_column(String(12), default="running")
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    created_rows: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()

    @property
    def progress(self) -> float:
        """Share of rows processed, 0..1."""
        return 1.0 if not self.total_rows else round(self.processed_rows / self.total_rows, 4)


J = TypeVar("J", bound=ImportJobColumns)


@dataclass(frozen=True)
class Upload:
    """An uploaded table, read."""

    table: Table
    filename: str
    file_format: str
    encoding: str | None


def read_upload(
    data: bytes, filename: str | None, encoding: str | None, aliases: Any = ALIASES
) -> Upload:
    """Read a CSV (UTF-8 or GBK, or `encoding`) or XLSX file (by name or content) into a table."""
    name = (filename or "upload")[:200]
    if name.lower().endswith(".xlsx") or data[:2] == b"PK":
        return Upload(read_xlsx(data, aliases), name, "xlsx", None)
    table, used = read_csv(data, encoding, aliases)
    return Upload(table, name, "csv", used)


def new_job(model: type[J], actor: Actor, upload: Upload, *, dry_run: bool, **extra: Any) -> J:
    """A job for this upload, run by the actor (nothing processed yet)."""
    return model(
        id=uuid.uuid4(), filename=upload.filename, file_format=upload.file_format,
        encoding=upload.encoding, dry_run=dry_run, department_id=actor.department_id,
        created_by=actor.audit_name, created_at=utcnow(), errors=[], processed_rows=0,
        created_rows=0, **extra,
    )  # fmt: skip


def load_job(session: Session, actor: Actor, model: type[J], job_id: uuid.UUID, label: str) -> J:
    """An import the actor ran (or any, with `archive.import.read_all`); 404 / 403 otherwise."""
    from backend.auth.policy import Action, can

    job = session.get(model, job_id)
    if job is None:
        raise NotFound(f"{label} {job_id} does not exist.")
    if job.created_by != actor.audit_name and not can(actor, Action.ARCHIVE_IMPORT_READ_ALL):
        raise OutOfScope(f"That {label.lower()} was made by someone else.")
    return job


class RowErrorSchema(Schema):
    """One problem of one row."""

    row = Integer()
    column = fields.String()
    reason = fields.String()


class ImportOutcomeSchema(Schema):
    """What an import did with the rows of its file (a job, or the network's one-shot import)."""

    dry_run = fields.Boolean()
    total_rows = Integer()
    processed_rows = Integer()
    progress = Float(metadata={"description": "0..1"})
    created_rows = Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))


class ImportJobBaseSchema(ImportOutcomeSchema):
    """An import and its outcome (each domain's job schema extends it)."""

    id = fields.UUID()
    filename = fields.String()
    file_format = fields.String()
    encoding = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "validated, committed or failed"})
    created_by = fields.String()
    created_at = Timestamp()
    finished_at = Timestamp(allow_none=True)
