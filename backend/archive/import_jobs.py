"""Long imports in the background: the API answers 202 at once; the job shows its progress.

The import itself stays all-or-nothing (one transaction in a thread of the serving process).
Its progress is counted in this process and, on PostgreSQL, written to the job row every
`PROGRESS_EVERY` seconds from a connection of its own, so any API process shows it. SQLite
has one writer at a time and the import holds it, so there the job row moves at the start
and the end, and the API process running the import overlays its live count.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from flask import Response, after_this_request
from sqlalchemy import update

from backend.archive.documents import ImportJob
from backend.archive.importer import run_import
from backend.archive.tabular import Table
from backend.auth.actor import Actor
from backend.db import Database, utcnow

log = logging.getLogger(__name__)

BACKGROUND_ROWS = 2_000  # files with more rows always import in the background
PROGRESS_EVERY = 0.5  # seconds between progress writes
_live: dict[uuid.UUID, int] = {}  # processed rows of the imports running in this process
_threads: dict[uuid.UUID, threading.Thread] = {}


def overlay(job: ImportJob) -> dict[str, Any]:
    """The job as stored, with this process's live count of a running import (SQLite)."""
    view = {c.key: getattr(job, c.key) for c in ImportJob.__table__.columns}
    processed = max(_live.get(job.id, 0), job.processed_rows)
    total = job.total_rows
    return {
        **view,
        "processed_rows": processed,
        "progress": 1.0 if not total else round(min(processed, total) / total, 4),
    }


def start_after_commit(database: Database, actor: Actor, table: Table, job_id: uuid.UUID) -> None:
    """Start the import once this request's transaction (which wrote the job) has committed."""

    @after_this_request
    def start(response: Response) -> Response:
        if response.status_code < 400:
            response.call_on_close(lambda: start_now(database, actor, table, job_id))
        return response


def start_now(database: Database, actor: Actor, table: Table, job_id: uuid.UUID) -> None:
    """Run the import in a daemon thread."""
    thread = threading.Thread(
        target=run, args=(database, actor, table, job_id), name=f"import-{job_id}", daemon=True
    )
    _threads[job_id] = thread
    thread.start()


def wait(job_id: uuid.UUID, timeout: float | None = None) -> None:
    """Wait for a background import of this process to end (tests, graceful shutdown)."""
    thread = _threads.get(job_id)
    if thread is not None:
        thread.join(timeout)


def _copy(job: ImportJob) -> ImportJob:
    """A transient twin the import counts on: the job row itself is never locked by it."""
    return ImportJob(
        id=job.id, filename=job.filename, file_format=job.file_format, encoding=job.encoding,
        dry_run=job.dry_run, department_id=job.department_id, created_by=job.created_by,
        errors=[], processed_rows=0, created_rows=0, updated_rows=0, total_rows=0,
        status="running",
    )  # fmt: skip


def _store(database: Database, job_id: uuid.UUID, **values: Any) -> None:
    with database.unit_of_work(actor="worker:archive-import") as session:
        session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))


def run(database: Database, actor: Actor, table: Table, job_id: uuid.UUID) -> None:
    """Import `table` as `actor` and keep the job row current; never raise."""
    with database.unit_of_work(actor="worker:archive-import") as session:
        job = session.get(ImportJob, job_id)
        if job is None:  # pragma: no cover - the job was committed before the start
            return
        work = _copy(job)
        job.status = "running"
    _live[job_id] = 0
    shared = database.engine.dialect.name != "sqlite"  # SQLite: the import holds the writer
    last = time.monotonic()

    def progress(n: int) -> None:
        nonlocal last
        _live[job_id] = work.processed_rows
        if shared and time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            _store(database, job_id, processed_rows=work.processed_rows,
                   total_rows=work.total_rows)  # fmt: skip

    try:
        with database.unit_of_work(actor=actor.audit_name) as session:
            run_import(
                session=session, actor=actor, table=table, job=work, progress=progress,
                persist=False,
            )  # fmt: skip
    except Exception as exc:  # report it on the job; the transaction wrote nothing
        log.exception("background import %s failed", job_id)
        work.status, work.created_rows, work.updated_rows = "failed", 0, 0
        work.errors = [{"row": 0, "column": "", "reason": f"the import stopped: {exc}"[:300]}]
        work.finished_at = utcnow()
    finally:
        _store(
            database, job_id, status=work.status, total_rows=work.total_rows,
            processed_rows=work.processed_rows, created_rows=work.created_rows,
            updated_rows=work.updated_rows, errors=work.errors,
            finished_at=work.finished_at or utcnow(),
        )  # fmt: skip
        _live.pop(job_id, None)
        _threads.pop(job_id, None)
