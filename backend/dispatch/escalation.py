"""Acceptance escalation: derive due alerts from the database on every tick.

Tier `repair_center`: an order at the repair center (C) not accepted or dispatched after
`accept_within` alerts the sender (the call center); after a further `escalate_after` the
repair center's two supervisors on file. Tier `crew`: an order that reached the crew (E, or
D when the terminal never acknowledged) and is not accepted (F) alerts the sender (the repair
center), then the two supervisors of the crew's station.

Nothing is remembered between ticks: each tick recomputes what is due and inserts the
alerts that do not exist yet. The unique key (order, tier, round, stage) makes that
exactly-once across restarts and concurrent workers.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, scope_filter
from backend.auth.policy import Action, authorize, load_in_scope
from backend.config import Config
from backend.db import Database, utcnow
from backend.dispatch.alerts import settle_all
from backend.dispatch.models import Alert, TimingEvent, WorkOrder
from backend.dispatch.timing.states import AWAITING_CENTER, AWAITING_CREW
from backend.network.grouping import linked_orders
from backend.network.water_orders import due_water_alerts
from backend.org.models import Department
from backend.ticking import tick_until_stopped

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EscalationPolicy:
    """How long acceptance may take before the sender, then the supervisors, are alerted."""

    accept_within: timedelta = timedelta(minutes=4)
    escalate_after: timedelta = timedelta(minutes=4)
    # Also POST each alert here (ALERT_WEBHOOK_URL); None: MQTT delivery only.
    webhook_url: str | None = None
    # Water orders: the repair is overdue this long after the call (WATER_REPAIR_MINUTES).
    water_repair_within: timedelta = timedelta(hours=4)

    @classmethod
    def from_config(cls, config: Config) -> EscalationPolicy:
        """Read ESCALATION_ACCEPT_MINUTES / _FURTHER_MINUTES and ALERT_WEBHOOK_URL."""
        return cls(
            timedelta(minutes=config.ESCALATION_ACCEPT_MINUTES),
            timedelta(minutes=config.ESCALATION_FURTHER_MINUTES),
            config.ALERT_WEBHOOK_URL,
            timedelta(minutes=config.WATER_REPAIR_MINUTES),
        )


def _clock_starts(session: Session, orders: list[WorkOrder]) -> dict[Any, dict[str, datetime]]:
    """Return, per order, the C/D/E times of its current dispatch round."""
    if not orders:
        return {}
    rounds = {o.id: o.dispatch_round for o in orders}
    rows = session.execute(
        select(
            TimingEvent.order_id,
            TimingEvent.point,
            TimingEvent.occurred_at,
            TimingEvent.dispatch_round,
        ).where(TimingEvent.order_id.in_(list(rounds)), TimingEvent.point.in_(["C", "D", "E"]))
    )
    starts: dict[Any, dict[str, datetime]] = {}
    for order_id, point, occurred_at, round_ in rows:
        if round_ != rounds[order_id]:
            continue
        points = starts.setdefault(order_id, {})
        if point not in points or occurred_at < points[point]:
            points[point] = occurred_at
    return starts


def _minutes(span: timedelta) -> str:
    """`4 min`, `0.5 min`: a fractional setting is said as it is, never as `0 min`."""
    return f"{round(span / timedelta(minutes=1), 2):g} min"


def _phones(department: Department | None) -> list[str]:
    if department is None:
        return []
    return [p for p in (department.supervisor_phone_1, department.supervisor_phone_2) if p]


def due_alerts(
    session: Session, now: datetime, policy: EscalationPolicy | None = None
) -> list[Alert]:
    """Return the alerts due at `now` (new objects, not added to the session)."""
    policy = policy or EscalationPolicy()
    awaiting = list(
        session.scalars(
            select(WorkOrder).where(
                WorkOrder.status.in_([*AWAITING_CENTER, *AWAITING_CREW]),
                WorkOrder.id.not_in(linked_orders()),  # calls grouped under an outage
            )
        )
    )
    starts = _clock_starts(session, awaiting)
    alerts = []
    for order in awaiting:
        points = starts.get(order.id, {})
        if order.status in AWAITING_CENTER:
            tier, start = "repair_center", points.get("C")
            sender = order.call_center_id
            escalate_to = order.repair_center
            whom = f"repair center {escalate_to.name if escalate_to else '?'}"
        else:
            tier, start = "crew", points.get("E") or points.get("D")
            sender = order.repair_center_id or order.call_center_id
            escalate_to = order.crew.department if order.crew else None
            whom = f"crew {order.crew.name if order.crew else '?'}"
        if start is None:
            continue
        for stage, threshold in (
            (1, policy.accept_within),
            (2, policy.accept_within + policy.escalate_after),
        ):
            due_at = start + threshold
            if now < due_at:
                break
            minutes = _minutes(threshold)
            if stage == 1:
                department_id, phones = sender, []
                message = (
                    f"Work order {order.number} not accepted by {whom} "
                    f"{minutes} after it arrived: phone them."
                )
            else:
                department_id = escalate_to.id if escalate_to else sender
                phones = _phones(escalate_to)
                message = (
                    f"Work order {order.number} still not accepted by {whom} after "
                    f"{minutes}: call the supervisors {', '.join(phones) or '(none on file)'}."
                )
            alerts.append(
                Alert(
                    order_id=order.id,
                    tier=tier,
                    stage=stage,
                    dispatch_round=order.dispatch_round,
                    department_id=department_id,
                    phones=phones,
                    message=message[:400],
                    due_at=due_at,
                    created_at=now,
                )
            )
    return alerts


def tick(
    *, session: Session, now: datetime | None = None, policy: EscalationPolicy | None = None
) -> list[Alert]:
    """Settle the alerts nothing waits for; insert every due alert that does not exist yet."""
    now = now or utcnow()
    settle_all(session, now)
    policy = policy or EscalationPolicy()
    due = due_alerts(session, now, policy) + due_water_alerts(session, now, policy)
    if not due:
        return []
    existing = set(
        tuple(row)
        for row in session.execute(
            select(Alert.order_id, Alert.tier, Alert.dispatch_round, Alert.stage).where(
                Alert.order_id.in_({a.order_id for a in due})
            )
        )
    )
    inserted = []
    for alert in due:
        if (alert.order_id, alert.tier, alert.dispatch_round, alert.stage) in existing:
            continue
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
                queue_delivery(session, alert, (policy or EscalationPolicy()).webhook_url)
        except IntegrityError:  # another worker inserted it first: exactly once still holds
            continue
        inserted.append(alert)
        log.warning("alert %s: %s", alert.id, alert.message)
    return inserted


def queue_delivery(session: Session, alert: Alert, webhook: str | None = None) -> None:
    """Queue the alert for MQTT (and, with a webhook URL, webhook) delivery.

    The row is written in the alert's own transaction, so a crash loses no delivery; the
    ingest worker's outbox loop publishes it QoS 1 on `{root}/alerts/{department_id}`.
    """
    from backend.dispatch.schemas import AlertSchema
    from backend.tracking.models import AlertOutbox

    session.add(
        AlertOutbox(
            alert_id=alert.id,
            department_id=alert.department_id,
            payload=AlertSchema().dump(alert),
            created_at=alert.created_at,
            webhook_url=webhook,
            webhook_next_at=alert.created_at if webhook else None,
        )
    )
    session.flush()


def run_worker(
    database: Database,
    *,
    interval: float = 15.0,
    stop: threading.Event | None = None,
    once: bool = False,
    policy: EscalationPolicy | None = None,
) -> int:
    """Tick every `interval` seconds until `stop` is set; return the number of alerts raised."""
    rules = policy or EscalationPolicy()
    return tick_until_stopped(
        database, lambda session: len(tick(session=session, policy=rules)),
        actor="worker:escalation", interval=interval, stop=stop, once=once, log=log,
        what="escalation",
    )  # fmt: skip


def escalation_worker(app: Flask, config: Config) -> None:
    """Background thread for `fieldline serve`."""
    run_worker(app.extensions["fieldline.db"], policy=EscalationPolicy.from_config(config))


def list_alerts(*, actor: Actor, open_only: bool = False, after_id: int | None = None) -> Any:
    """Return a select of the alerts addressed to departments in the actor's scope."""
    authorize(actor, Action.ALERT_READ)
    statement = select(Alert).where(scope_filter(actor, Alert.department_id))
    if open_only:
        statement = statement.where(Alert.acknowledged_at.is_(None), Alert.settled_at.is_(None))
    if after_id is not None:
        return statement.where(Alert.id > after_id).order_by(Alert.id)
    return statement.order_by(Alert.id.desc())


def acknowledge(
    *, session: Session, actor: Actor, alert_id: int, now: datetime | None = None
) -> Alert:
    """Acknowledge an alert (the first acknowledgement stays)."""
    alert = load_in_scope(session, actor, Alert, alert_id, action=Action.ALERT_ACKNOWLEDGE)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now or utcnow()
        alert.acknowledged_by = actor.audit_name
        session.flush()
    return alert
