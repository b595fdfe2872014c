"""Telling important and high-risk customers about an outage: one record per customer and kind.

The SMS gateway is pluggable: `set_sender` installs a real gateway's client; the default
sender only logs (the demo has no gateway). A sender returns whether the gateway took it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import Customer, Premise
from backend.network.models import CustomerFlag
from backend.network.outage_models import Outage, OutageArea, OutageNotification

log = logging.getLogger(__name__)


class SmsSender(Protocol):
    """An SMS gateway client."""

    channel: str

    def send(self, phone: str, text: str) -> bool:
        """Send one message; return whether the gateway accepted it."""


class LoggingSender:
    """The demo sender: writes each message to the log."""

    channel = "sms-log"

    def send(self, phone: str, text: str) -> bool:
        """Log the message as sent."""
        log.info("SMS to %s: %s", phone, text)
        return True


_sender: SmsSender = LoggingSender()


def set_sender(sender: SmsSender) -> SmsSender:
    """Install an SMS sender (returns the previous one)."""
    global _sender
    previous, _sender = _sender, sender
    return previous


def _phone(customer: Customer) -> str | None:
    for contact in customer.contacts or []:
        if contact.get("phone"):
            return str(contact["phone"])
    return None


def _text(outage: Outage, kind: str) -> str:
    if kind == "restored":
        return f"Fieldline: supply restored ({outage.number})."
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
            Customer.status == "active",
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
        phone, text = _phone(customer), _text(outage, kind)
        status = (
            "no_phone" if phone is None else ("sent" if _sender.send(phone, text) else "failed")
        )
        session.add(
            OutageNotification(
                outage_id=outage.id, customer_id=customer.id, kind=kind,
                important=flag.important, high_risk=flag.high_risk, phone=phone, message=text,
                channel=_sender.channel, status=status,
            )
        )  # fmt: skip
        written += 1
    session.flush()
    return written
