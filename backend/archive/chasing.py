"""Automatic chasing (催办) of archive deadlines: reminders, repeated until done, escalated.

Every tick recomputes the open items from the database (`deadlines.open_items`); nothing
is remembered between ticks, so a restart loses nothing. From the warning on, the owning
department gets a reminder every `repeat_hours` (stage 1); once overdue, its supervisors are
named too (stage 2, their phones on file). Each reminder is an alert (tier `archive`): the
live feed shows it, `alert_outbox` delivers it (MQTT, webhook), `GET /alerts` lists it. The
unique key (kind, subject, stage, round) makes every reminder exactly-once across restarts
and concurrent workers; an item that is done settles its reminders' alerts.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.archive.deadline_models import Reminder
from backend.archive.deadlines import Item, Status, open_items, rules
from backend.config import Config
from backend.db import Database, utcnow
from backend.dispatch.escalation import queue_delivery
from backend.dispatch.models import Alert
from backend.org.models import Department
from backend.ticking import tick_until_stopped

log = logging.getLogger(__name__)

TIER = "archive"


def _supervisor_phones(session: Session, department_id: int) -> tuple[int, list[str]]:
    """The nearest department up the tree with supervisor phones on file (and them)."""
    department = session.get(Department, department_id)
    while department is not None:
        phones = [p for p in (department.supervisor_phone_1, department.supervisor_phone_2) if p]
        if phones:
            return department.id, phones
        department = session.get(Department, department.parent_id) if department.parent_id else None
    return department_id, []


def _due_reminders(
    session: Session, items: list[Item], now: datetime
) -> list[tuple[Item, int, int]]:
    """(item, stage, round) of every reminder due at `now` (the latest round of each stage)."""
    live = rules(session)
    due = []
    for item in items:
        if item.status is Status.NORMAL:
            continue
        rule = live[item.kind]
        since_warning = now - (item.due_at - rule.warning)
        due.append((item, 1, int(since_warning / rule.repeat)))
        if item.status is Status.OVERDUE:
            due.append((item, 2, int((now - item.due_at) / rule.repeat)))
    return due


def _alert(session: Session, item: Item, stage: int, round_: int, now: datetime) -> Alert:
    what = f"{item.kind.replace('_', ' ')} of account {item.account_number}"
    if stage == 1:
        department_id, phones = item.department_id, []
        state = "overdue" if item.status is Status.OVERDUE else "due"
        message = f"Archive: {what} {state} {item.due_at:%Y-%m-%d %H:%M} UTC — {item.detail}."
    else:
        department_id, phones = _supervisor_phones(session, item.department_id)
        message = (
            f"Archive: {what} overdue since {item.due_at:%Y-%m-%d %H:%M} UTC — {item.detail}; "
            f"supervisors {', '.join(phones) or '(none on file)'}."
        )
    return Alert(
        order_id=None, tier=TIER, stage=stage, dispatch_round=round_,
        department_id=department_id, phones=phones, message=message[:400],
        due_at=item.due_at, created_at=now,
    )  # fmt: skip


def settle_done(session: Session, items: list[Item], now: datetime) -> int:
    """Settle the open reminder alerts whose item is no longer open (done, or closed)."""
    still_open = {(i.kind, i.subject_id) for i in items}
    rows = session.execute(
        select(Reminder.kind, Reminder.subject_id, Alert)
        .join(Alert, Alert.id == Reminder.alert_id)
        .where(Alert.settled_at.is_(None))
    )
    settled = 0
    for kind, subject, alert in rows:
        if (kind, subject) not in still_open:
            alert.settled_at = now
            settled += 1
    session.flush()
    return settled


def tick(
    *, session: Session, now: datetime | None = None, webhook: str | None = None
) -> list[Reminder]:
    """Settle what is done; raise every reminder due now that was not raised yet."""
    now = now or utcnow()
    items = open_items(session, now=now)
    settle_done(session, items, now)
    due = _due_reminders(session, items, now)
    if not due:
        return []
    existing: set[tuple[str, str, int, int]] = set(
        session.execute(
            select(Reminder.kind, Reminder.subject_id, Reminder.stage, Reminder.round).where(
                Reminder.subject_id.in_({item.subject_id for item, _, _ in due})
            )
        )
    )
    raised = []
    for item, stage, round_ in due:
        if (item.kind, item.subject_id, stage, round_) in existing:
            continue
        try:
            with session.begin_nested():
                alert = _alert(session, item, stage, round_, now)
                session.add(alert)
                session.flush()
                reminder = Reminder(
                    kind=item.kind, subject_id=item.subject_id, customer_id=item.customer_id,
                    stage=stage, round=round_, alert_id=alert.id, due_at=item.due_at,
                    created_at=now,
                )  # fmt: skip
                session.add(reminder)
                session.flush()
                queue_delivery(session, alert, webhook)
        except IntegrityError:  # another worker raised it first: still exactly once
            continue
        raised.append(reminder)
        log.info("archive reminder %s: %s", alert.id, alert.message)
    return raised


def run_worker(
    database: Database,
    *,
    interval: float = 60.0,
    stop: threading.Event | None = None,
    once: bool = False,
    webhook: str | None = None,
) -> int:
    """Tick every `interval` seconds until `stop` is set; return the reminders raised."""
    return tick_until_stopped(
        database, lambda session: len(tick(session=session, webhook=webhook)),
        actor="worker:archive-chasing", interval=interval, stop=stop, once=once, log=log,
        what="archive chasing",
    )  # fmt: skip


def chasing_worker(app: Flask, config: Config) -> None:
    """Background thread for `fieldline serve`."""
    run_worker(app.extensions["fieldline.db"], webhook=config.ALERT_WEBHOOK_URL)
