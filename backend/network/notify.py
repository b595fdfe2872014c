"""Telling important and high-risk customers about an outage: an outbox, one row per customer.

`notify_flagged` only writes `pending` rows, in the transaction that sets or restores the
outage: a rollback takes them back with it, and no SMS leaves for an outage that never was.
`deliver_pending` (the restore worker, after that commit) sends them: at least once, with
retries and backoff; the row (unique per outage, customer and kind) is the idempotency key
handed to the gateway, so a resend after a crash is recognisable as the same message.

The SMS gateway is pluggable: `set_sender` installs a real gateway's client; the default
sender only logs (the demo has no gateway). A sender returns whether the gateway took it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import Customer, Premise
from backend.db import utcnow
from backend.network.models import CustomerFlag
from backend.network.outage_models import Outage, OutageArea, OutageNotification
from backend.network.tree import supplied

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    """An SMS gateway client."""

    channel: str

    def send(self, phone: str, text: str, *, key: str) -> bool:
        """Send one message (`key` is the same on every retry); return whether it was taken."""


class LoggingSender:
    """The demo sender: writes each message to the log."""

    channel = "sms-log"

    def send(self, phone: str, text: str, *, key: str) -> bool:
        """Log the message as sent."""
        log.info("SMS %s to %s: %s", key, phone, text)
        return True


_sender: SmsSender = LoggingSender()


def set_sender(sender: SmsSender) -> SmsSender:
    """Install an SMS sender (returns the previous one)."""
    global _sender
    previous, _sender = _sender, sender
    return previous


def current_sender() -> SmsSender:
    """Return the installed SMS sender (other domains send through the same gateway)."""
    return _sender


def _phone(customer: Customer) -> str | None:
    for contact in customer.contacts or []:
        if contact.get("phone"):
            return str(contact["phone"])
    return None


def _text(outage: Outage, kind: str) -> str:
    if kind == "restored":
        return f"Fieldline: supply restored ({outage.number})."
    if kind == "called_off":
        return f"Fieldline: the announced outage is called off ({outage.number})."
    until = outage.planned_end_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"Fieldline: power outage from {outage.starts_at:%Y-%m-%d %H:%M} UTC until {until}: {outage.reason} ({outage.number})."  # noqa: E501


def notify_flagged(session: Session, outage: Outage, kind: str) -> int:
    """Write (and send) one notification per important / high-risk customer the outage cuts."""
    rows = session.execute(
        select(Customer, CustomerFlag)
        .join(CustomerFlag, CustomerFlag.customer_id == Customer.id)
        .where(
            Customer.id.in_(
                select(Premise.customer_id).where(
                    Premise.transformer_area_id.in_(
                        select(OutageArea.area_id).where(OutageArea.outage_id == outage.id)
                    )
                )
            ),
            CustomerFlag.important | CustomerFlag.high_risk,
            supplied(),
        )
    )
    done = set(
        session.scalars(
            select(OutageNotification.customer_id).where(
                OutageNotification.outage_id == outage.id, OutageNotification.kind == kind
            )
        )
    )
    written = 0
    for customer, flag in rows:
        if customer.id in done:
            continue
        phone = _phone(customer)
        session.add(
            OutageNotification(
                outage_id=outage.id, customer_id=customer.id, kind=kind,
                important=flag.important, high_risk=flag.high_risk, phone=phone,
                message=_text(outage, kind), channel=_sender.channel,
                status="no_phone" if phone is None else "pending", attempts=0,
            )
        )  # fmt: skip
        written += 1
    session.flush()
    return written


MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(minutes=30)


def _key(note: OutageNotification) -> str:
    return f"{note.outage_id}:{note.customer_id}:{note.kind}"


def deliver_pending(session: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Send the pending notifications that are due (after their outage committed).

    A refusal or an error is retried with doubling backoff; after `MAX_ATTEMPTS` the row is
    `failed` (listed with `last_error`). Rows are locked while sent, so two workers never
    send the same row at once. Returns how many were sent.
    """
    now = now or utcnow()
    due = list(
        session.scalars(
            select(OutageNotification)
            .where(
                OutageNotification.status == "pending",
                (OutageNotification.next_attempt_at.is_(None))
                | (OutageNotification.next_attempt_at <= now),
            )
            .order_by(OutageNotification.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    sent = 0
    for note in due:
        assert note.phone is not None  # noqa: S101 - rows without a phone are never pending
        error = None
        try:
            taken = _sender.send(note.phone, note.message, key=_key(note))
        except Exception as exc:  # a broken gateway must not stop the other messages
            taken, error = False, f"{type(exc).__name__}: {exc}"[:400]
        note.attempts += 1
        note.channel = _sender.channel
        if taken:
            note.status, note.sent_at, note.next_attempt_at = "sent", now, None
            sent += 1
            continue
        note.last_error = error or "the gateway refused the message"
        if note.attempts >= MAX_ATTEMPTS:
            note.status, note.next_attempt_at = "failed", None
        else:
            note.next_attempt_at = now + min(FIRST_RETRY * 2 ** (note.attempts - 1), LAST_RETRY)
    session.flush()
    return sent
