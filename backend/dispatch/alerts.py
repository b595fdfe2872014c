"""Escalation alerts settle themselves once what they chase happened (accepted, dispatched)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.dispatch.models import Alert, WorkOrder
from backend.dispatch.timing.states import AWAITING_CENTER, AWAITING_CREW
from backend.network.water_orders import still_awaited as water_still_awaited


def still_awaited(alert: Alert, order: WorkOrder) -> bool:
    """Whether the order still waits for what the alert chases (its tier, in its round)."""
    water = water_still_awaited(alert.tier, order)
    if water is not None:
        return water
    if alert.tier == "repair_center":
        return order.status in AWAITING_CENTER
    return order.status in AWAITING_CREW and alert.dispatch_round == order.dispatch_round


def settle(session: Session, orders: Iterable[WorkOrder], now: datetime) -> list[Alert]:
    """Close the open alerts of these orders that nothing waits for any more; return them."""
    by_id = {order.id: order for order in orders}
    if not by_id:
        return []
    settled = []
    for alert in session.scalars(
        select(Alert).where(Alert.order_id.in_(list(by_id)), Alert.settled_at.is_(None))
    ):
        if not still_awaited(alert, by_id[alert.order_id]):
            alert.settled_at = now
            settled.append(alert)
    session.flush()
    return settled


def settle_all(session: Session, now: datetime) -> list[Alert]:
    """Settle every open alert whose order moved on (the escalation worker's sweep)."""
    orders = session.scalars(
        select(WorkOrder).where(
            WorkOrder.id.in_(select(Alert.order_id).where(Alert.settled_at.is_(None)))
        )
    )
    return settle(session, orders, now)
