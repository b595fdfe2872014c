"""Orders to terminals and what terminals answer: acks (E) and events (F, G, H, ...)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.tracking.decode import EventType, OrderAck, TerminalEvent
from backend.tracking.models import (
    AlertOutbox,
    Assignment,
    Checkpoint,
    OutboundMessage,
    TerminalMessage,
)
from backend.tracking.store import VehicleRef, set_available

log = logging.getLogger(__name__)

# The timing point each terminal event proves.
EVENT_POINTS: dict[EventType, str] = {
    EventType.ACCEPTED: "F",
    EventType.DEPARTED: "G",
    EventType.ARRIVED: "H",
}


def enqueue_order(
    *,
    session: Session,
    vehicle_id: int,
    order_id: str,
    site: tuple[float, float] | None,
    payload: dict[str, Any],
    kind: str = "order",
) -> OutboundMessage:
    """Queue an order (or recall) for the vehicle's terminal; the worker publishes it.

    The queue row is written in the caller's transaction, so a dispatched order is never lost
    between the commit and the publish. A vehicle may hold several orders. Without a `site`
    (the order has no location yet) there is no geofence arrival, only the terminal's word.
    """
    message = OutboundMessage(
        message_id=uuid.uuid4().hex,
        vehicle_id=vehicle_id,
        kind=kind,
        order_id=order_id,
        payload={**payload, "order_id": order_id, "kind": kind},
    )
    message.payload["message_id"] = message.message_id
    session.add(message)
    assignment = session.scalar(
        select(Assignment).where(
            Assignment.vehicle_id == vehicle_id, Assignment.order_id == order_id
        )
    )
    if kind == "recall":
        if assignment is not None:
            assignment.active = False
    elif assignment is None:
        session.add(
            Assignment(
                vehicle_id=vehicle_id,
                order_id=order_id,
                site_lon=site[0] if site else None,
                site_lat=site[1] if site else None,
            )
        )
    else:
        assignment.active = True
        assignment.site_lon, assignment.site_lat = site if site else (None, None)
    session.flush()
    return message


def _remember(
    session: Session,
    vehicle: VehicleRef,
    event_id: str,
    kind: str,
    order_id: str | None,
    ts: datetime,
) -> TerminalMessage | None:
    """Store the message once; None when this event id was already seen (a replay)."""
    if session.scalar(
        select(TerminalMessage.id).where(
            TerminalMessage.vehicle_id == vehicle.id, TerminalMessage.event_id == event_id
        )
    ):
        return None
    row = TerminalMessage(
        vehicle_id=vehicle.id, event_id=event_id, kind=kind, order_id=order_id, occurred_at=ts
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another worker stored it between our check and insert
        return None
    return row


def _assignment(session: Session, vehicle_id: int, order_id: str) -> Assignment | None:
    found = session.scalar(
        select(Assignment).where(
            Assignment.vehicle_id == vehicle_id, Assignment.order_id == order_id
        )
    )
    return found if found is not None and found.active else None


def record_checkpoint(
    session: Session,
    *,
    vehicle_id: int,
    order_id: str,
    point: str,
    source: str,
    occurred_at: datetime,
    event_id: str,
    backfilled: bool = False,
    evidence: dict[str, Any] | None = None,
) -> bool:
    """Keep one source's claim of a timing point and hand it to dispatch; False if known."""
    exists = session.scalar(
        select(Checkpoint.id).where(
            Checkpoint.order_id == order_id, Checkpoint.point == point, Checkpoint.source == source
        )
    )
    if exists:
        return False
    claim = Checkpoint(
        vehicle_id=vehicle_id,
        order_id=order_id,
        point=point,
        source=source,
        occurred_at=occurred_at,
        backfilled=backfilled,
        evidence=evidence or {},
    )
    try:
        with session.begin_nested():  # two workers may see the same arrival at once
            session.add(claim)
    except IntegrityError:
        return False
    from backend.tracking import dispatch_link

    dispatch_link.timing_point(
        session,
        order_id=order_id,
        point=point,
        source=source,
        occurred_at=occurred_at,
        event_id=event_id,
        backfilled=backfilled,
        evidence=evidence or {},
        vehicle_id=vehicle_id,
    )
    return True


def apply_event(session: Session, vehicle: VehicleRef, event: TerminalEvent, now: datetime) -> str:
    """Apply a terminal event once by its id; return the outcome that is also stored."""
    row = _remember(session, vehicle, event.event_id, str(event.type), event.order_id, event.ts)
    if row is None:
        return "replayed"
    if event.type in (EventType.AVAILABLE, EventType.UNAVAILABLE):
        set_available(session, vehicle.id, event.type == EventType.AVAILABLE, now)
        return row.outcome
    assignment = _assignment(session, vehicle.id, event.order_id or "")
    if assignment is None:
        row.outcome = "order_not_held"
        return row.outcome
    if event.type == EventType.ACCEPTED and assignment.accepted_at is None:
        assignment.accepted_at = event.ts
    if event.type == EventType.FINISHED:
        assignment.active = False
    point = EVENT_POINTS.get(event.type)
    if point is not None:
        record_checkpoint(
            session,
            vehicle_id=vehicle.id,
            order_id=assignment.order_id,
            point=point,
            source="terminal",
            occurred_at=event.ts,
            event_id=f"{vehicle.vid}:{event.event_id}",
        )
    return row.outcome


def apply_ack(session: Session, vehicle: VehicleRef, ack: OrderAck, now: datetime) -> str:
    """Apply a terminal's receipt of an order: the message is delivered and point E is set."""
    row = _remember(session, vehicle, f"ack:{ack.message_id}", "ack", ack.order_id, ack.ts)
    if row is None:
        return "replayed"
    message = session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.message_id == ack.message_id, OutboundMessage.vehicle_id == vehicle.id
        )
    )
    if message is None or message.order_id != ack.order_id:
        row.outcome = "unknown_message"
        return row.outcome
    if message.acked_at is None:
        message.acked_at = now
    if message.kind != "order":
        return row.outcome
    assignment = _assignment(session, vehicle.id, ack.order_id)
    if assignment is not None and assignment.acked_at is None:
        assignment.acked_at = ack.ts
    record_checkpoint(
        session,
        vehicle_id=vehicle.id,
        order_id=ack.order_id,
        point="E",
        source="terminal",
        occurred_at=ack.ts,
        event_id=f"{vehicle.vid}:ack:{ack.message_id}",
    )
    return row.outcome


def pending_messages(session: Session, limit: int = 100) -> list[tuple[OutboundMessage, str]]:
    """Return unpublished messages, oldest first, each with its terminal's vid."""
    from backend.org.models import Vehicle

    rows = session.execute(
        select(OutboundMessage, Vehicle.terminal_id, Vehicle.id)
        .join(Vehicle, Vehicle.id == OutboundMessage.vehicle_id)
        .where(OutboundMessage.published_at.is_(None))
        .order_by(OutboundMessage.id)
        .limit(limit)
    ).all()
    return [(message, terminal or str(vid)) for message, terminal, vid in rows]


def mark_published(session: Session, message_id: str, now: datetime) -> None:
    """Record that the broker accepted the message (QoS 1 PUBACK); track what the vehicle holds."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.message_id == message_id)
        .values(published_at=now, attempts=OutboundMessage.attempts + 1)
    )
    message = session.scalar(
        select(OutboundMessage).where(OutboundMessage.message_id == message_id)
    )
    if message is None:
        return
    if message.kind == "recall":
        session.execute(
            update(Assignment)
            .where(
                Assignment.vehicle_id == message.vehicle_id, Assignment.order_id == message.order_id
            )
            .values(active=False)
        )
    else:
        _assignment(session, message.vehicle_id, message.order_id)


# Escalation alerts share the outbox loop: dispatch's worker queues them in `alert_outbox`.

# Webhook retries back off 2, 4, 8 ... seconds up to 5 minutes; after this many it gives up.
WEBHOOK_MAX_ATTEMPTS = 12


def pending_alerts(session: Session, limit: int = 100) -> list[AlertOutbox]:
    """Return alerts not yet published over MQTT, oldest first."""
    return list(
        session.scalars(
            select(AlertOutbox)
            .where(AlertOutbox.published_at.is_(None))
            .order_by(AlertOutbox.id)
            .limit(limit)
        )
    )


def mark_alert_published(session: Session, outbox_id: int, now: datetime) -> None:
    """Record that the broker accepted the alert (QoS 1 PUBACK)."""
    session.execute(
        update(AlertOutbox)
        .where(AlertOutbox.id == outbox_id)
        .values(published_at=now, attempts=AlertOutbox.attempts + 1)
    )


def due_webhooks(session: Session, now: datetime, limit: int = 20) -> list[AlertOutbox]:
    """Return alerts whose webhook post is due (first try or a retry), oldest first."""
    return list(
        session.scalars(
            select(AlertOutbox)
            .where(AlertOutbox.webhook_next_at.is_not(None), AlertOutbox.webhook_next_at <= now)
            .order_by(AlertOutbox.id)
            .limit(limit)
        )
    )


def record_webhook(session: Session, outbox_id: int, now: datetime, error: str | None) -> None:
    """Record a webhook attempt: delivered (error None), or retried later, or given up."""
    row = session.get(AlertOutbox, outbox_id)
    if row is None:
        return
    row.webhook_attempts += 1
    row.webhook_error = None if error is None else error[:300]
    if error is None:
        row.webhook_sent_at, row.webhook_next_at = now, None
    elif row.webhook_attempts >= WEBHOOK_MAX_ATTEMPTS:
        row.webhook_next_at = None
        log.error(
            "alert %s: webhook given up after %s attempts", row.alert_id, row.webhook_attempts
        )
    else:
        row.webhook_next_at = now + timedelta(seconds=min(2**row.webhook_attempts, 300))
    session.flush()
