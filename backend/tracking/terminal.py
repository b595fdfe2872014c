"""Orders to terminals and what terminals answer: acks (E) and events (F, G, H, ...)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.models import Device
from backend.dispatch.availability import set_availability
from backend.dispatch.models import WorkOrder
from backend.dispatch.timing.states import AVAILABILITY_EVENTS, TERMINAL_EVENTS
from backend.errors import Problem
from backend.org.models import Vehicle
from backend.tracking.claims import Outcome, claim_point
from backend.tracking.ingest.decode import OrderAck, TerminalEvent
from backend.tracking.ingest.store import VehicleRef
from backend.tracking.models import AlertOutbox, OutboundMessage, TerminalMessage

log = logging.getLogger(__name__)


def enqueue_order(
    *,
    session: Session,
    vehicle_id: int,
    order_id: str,
    payload: dict[str, Any],
    kind: str = "order",
) -> OutboundMessage:
    """Queue an order (or recall) for the vehicle's terminal; the worker publishes it.

    The queue row is written in the caller's transaction, so a dispatched order is never lost
    between the commit and the publish. Which vehicle holds which order is the order's own
    `vehicle_id` (dispatch's): this is only the message.
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


def held_order(session: Session, vehicle_id: int, order_id: str | None) -> WorkOrder | None:
    """Return the order if this vehicle holds it now (the order's own `vehicle_id` says so)."""
    try:
        order = session.get(WorkOrder, uuid.UUID(order_id or ""))
    except ValueError:
        return None
    return order if order is not None and order.vehicle_id == vehicle_id else None


def _terminal_actor(session: Session, vehicle: Vehicle) -> Actor:
    """The terminal speaks for its vehicle's crew, like the crew's handheld would."""
    crews = frozenset({vehicle.crew_id}) if vehicle.crew_id else frozenset()
    return Actor(
        kind="device",
        id=vehicle.id,
        label=f"terminal:{vehicle.terminal_id or vehicle.id}",
        department_id=vehicle.department_id,
        department_path=vehicle.department.path,
        crew_id=vehicle.crew_id,
        vehicle_id=vehicle.id,
        crew_ids=crews,
    )


def _set_availability(
    session: Session, vehicle: VehicleRef, event: TerminalEvent, now: datetime
) -> str:
    """Apply `available` / `unavailable` to the vehicle's crew by dispatch's availability rule."""
    found = session.get(Vehicle, vehicle.id)
    if found is None or found.crew_id is None:
        return "no_crew"
    try:
        with session.begin_nested():
            set_availability(
                session=session,
                actor=_terminal_actor(session, found),
                crew_id=found.crew_id,
                available=AVAILABILITY_EVENTS[event.type],
                reason=f"reported by terminal {vehicle.vid}",
                now=now,
            )
    except Problem as exc:
        log.info("vehicle %s: %s refused: %s", vehicle.vid, event.type, exc.detail)
        return Outcome.REFUSED
    return Outcome.APPLIED


def disabled_terminals(session: Session, vehicle_ids: list[int] | None = None) -> set[int]:
    """Return which of these vehicles (None: any) had every terminal device disabled.

    Its MQTT login is gone too, but a broker that has not reloaded its password file yet
    still lets it publish: its events, its acks and the timing points its positions would
    prove are refused here all the same (its positions are still stored, as tracking).
    """
    if vehicle_ids is not None and not vehicle_ids:
        return set()
    wanted = (
        Device.vehicle_id.is_not(None) if vehicle_ids is None
        else Device.vehicle_id.in_(vehicle_ids)
    )  # fmt: skip
    rows = session.execute(select(Device.vehicle_id, Device.active).where(wanted))
    states: dict[int, bool] = {}
    for vehicle_id, active in rows:
        states[vehicle_id] = states.get(vehicle_id, False) or bool(active)
    return {vehicle_id for vehicle_id, any_active in states.items() if not any_active}


def terminal_disabled(session: Session, vehicle_id: int) -> bool:
    """Tell whether every terminal device of the vehicle was disabled (`disabled_terminals`)."""
    return vehicle_id in disabled_terminals(session, [vehicle_id])


def apply_event(session: Session, vehicle: VehicleRef, event: TerminalEvent, now: datetime) -> str:
    """Apply a terminal event once by its id; return the outcome that is also stored."""
    row = _remember(session, vehicle, event.event_id, str(event.type), event.order_id, event.ts)
    if row is None:
        return Outcome.REPLAYED
    if terminal_disabled(session, vehicle.id):
        log.info("vehicle %s: %s refused: its terminal is disabled", vehicle.vid, event.type)
        row.outcome = Outcome.REFUSED
        return row.outcome
    if event.type in AVAILABILITY_EVENTS:
        row.outcome = _set_availability(session, vehicle, event, now)
        return row.outcome
    order = held_order(session, vehicle.id, event.order_id)
    if order is None:
        row.outcome = "order_not_held"
        return row.outcome
    row.outcome = claim_point(
        session,
        vehicle_id=vehicle.id,
        order=order,
        point=TERMINAL_EVENTS[event.type],
        source="terminal",
        occurred_at=event.ts,
        event_id=f"{vehicle.vid}:{event.event_id}",
    )
    return row.outcome


def apply_ack(session: Session, vehicle: VehicleRef, ack: OrderAck, now: datetime) -> str:
    """Apply a terminal's receipt of an order: the message is delivered and point E is set."""
    row = _remember(session, vehicle, f"ack:{ack.message_id}", "ack", ack.order_id, ack.ts)
    if row is None:
        return Outcome.REPLAYED
    if terminal_disabled(session, vehicle.id):  # an ack proves point E, as an event would
        log.info("vehicle %s: ack refused: its terminal is disabled", vehicle.vid)
        row.outcome = Outcome.REFUSED
        return row.outcome
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
    order = held_order(session, vehicle.id, ack.order_id)
    if order is None or message.payload.get("dispatch_round", order.dispatch_round) != (
        order.dispatch_round
    ):
        row.outcome = "order_not_held"  # an ack of an earlier round's message proves nothing
        return row.outcome
    row.outcome = claim_point(
        session,
        vehicle_id=vehicle.id,
        order=order,
        point="E",
        source="terminal",
        occurred_at=ack.ts,
        event_id=f"{vehicle.vid}:ack:{ack.message_id}",
    )
    return row.outcome


def pending_messages(session: Session, limit: int = 100) -> list[tuple[OutboundMessage, str]]:
    """Return unpublished messages, oldest first, each with its terminal's vid."""
    rows = session.execute(
        select(OutboundMessage, Vehicle.terminal_id, Vehicle.id)
        .join(Vehicle, Vehicle.id == OutboundMessage.vehicle_id)
        .where(OutboundMessage.published_at.is_(None))
        .order_by(OutboundMessage.id)
        .limit(limit)
    ).all()
    return [(message, terminal or str(vid)) for message, terminal, vid in rows]


def mark_published(session: Session, message_id: str, now: datetime) -> None:
    """Record that the broker accepted the message (QoS 1 PUBACK)."""
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.message_id == message_id)
        .values(published_at=now, attempts=OutboundMessage.attempts + 1)
    )


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
