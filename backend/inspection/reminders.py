"""Reminders of tasks, case steps and hazard deadlines, derived from the database each tick.

A task due within `INSPECTION_REMIND_DAYS` gets a `due_soon` reminder, one past its due date
an `overdue` one; a case step past `stage_due_at` and a notified hazard past its deadline
get `overdue` ones. Each reminder is a row unique per (subject, id, kind, due date), so a
restarted or doubled worker never reminds twice and misses nothing that fell due meanwhile.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Config
from backend.db import Database, utcnow
from backend.inspection import procedure
from backend.inspection.cases import InspectionCase
from backend.inspection.plan_models import Hazard, InspectionTask, Reminder
from backend.ticking import tick_until_stopped

log = logging.getLogger(__name__)


def _written(session: Session, ids: list[Any]) -> set[tuple[str, str, str, datetime]]:
    found: set[tuple[str, str, str, datetime]] = set()
    for start in range(0, len(ids), 500):
        rows = session.scalars(
            select(Reminder).where(Reminder.subject_id.in_(ids[start : start + 500]))
        )
        found |= {(r.subject, str(r.subject_id), r.kind, r.due_at) for r in rows}
    return found


def derive(
    session: Session, *, now: datetime | None = None, lead_days: float = 2
) -> list[Reminder]:
    """Add the reminders now due that were not written yet; return the new ones."""
    now = now or utcnow()
    soon = now + timedelta(days=lead_days)
    wanted: list[dict[str, Any]] = []
    tasks = session.scalars(
        select(InspectionTask).where(
            InspectionTask.status.in_(["open", "in_progress"]), InspectionTask.due_at <= soon
        )
    )
    for task in tasks:
        overdue = task.due_at < now
        wanted.append({
            "subject": "task", "subject_id": task.id, "due_at": task.due_at,
            "kind": "overdue" if overdue else "due_soon", "department_id": task.department_id,
            "recipient_id": task.inspector_id,
            "message": f"Inspection task {task.number} {'was' if overdue else 'is'} due "
                       f"{task.due_at:%Y-%m-%d %H:%M} UTC",
        })  # fmt: skip
    cases = session.scalars(
        select(InspectionCase).where(
            InspectionCase.stage != procedure.CLOSED, InspectionCase.stage_due_at < now
        )
    )
    for case in cases:
        step = procedure.BY_NAME[case.stage]
        wanted.append({
            "subject": "case", "subject_id": case.id, "due_at": case.stage_due_at,
            "kind": "overdue", "department_id": case.department_id, "recipient_id": None,
            "message": f"Case {case.number}: step {case.stage} ({step.participant}) overdue "
                       f"since {case.stage_due_at:%Y-%m-%d}",
        })  # fmt: skip
    hazards = session.scalars(
        select(Hazard).where(Hazard.status == "notified", Hazard.rectify_by < now)
    )
    for hazard in hazards:
        assert hazard.rectify_by is not None  # noqa: S101 - set with the notice
        wanted.append({
            "subject": "hazard", "subject_id": hazard.id, "due_at": hazard.rectify_by,
            "kind": "overdue", "department_id": hazard.department_id, "recipient_id": None,
            "message": f"Hazard {hazard.number}: rectification deadline "
                       f"{hazard.rectify_by:%Y-%m-%d} passed; follow-up inspection due",
        })  # fmt: skip
    have = _written(session, sorted({row["subject_id"] for row in wanted}))
    created = []
    for row in wanted:
        key = (row["subject"], str(row["subject_id"]), row["kind"], row["due_at"])
        if key in have:
            continue
        have.add(key)
        reminder = Reminder(**row, created_at=now)
        session.add(reminder)
        created.append(reminder)
    session.flush()
    return created


def run_worker(
    database: Database,
    *,
    interval: float = 60.0,
    lead_days: float = 2,
    stop: threading.Event | None = None,
    once: bool = False,
) -> int:
    """Tick every `interval` seconds until `stop` is set; return the reminders written."""

    def write(session: Session) -> int:
        reminders = derive(session, lead_days=lead_days)
        for reminder in reminders:
            log.info("reminder: %s", reminder.message)
        return len(reminders)

    return tick_until_stopped(
        database, write, actor="worker:inspection-reminders", interval=interval, stop=stop,
        once=once, log=log, what="inspection reminder",
    )  # fmt: skip


def reminder_worker(app: Flask, config: Config) -> None:
    """Background thread for `fieldline serve`."""
    run_worker(app.extensions["fieldline.db"], lead_days=config.INSPECTION_REMIND_DAYS)
