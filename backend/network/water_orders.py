"""Closed-loop water orders: arrival and overdue reminders at two levels.

A water repair order runs the dispatch flow every order runs (report A, dispatch D, arrive H,
repair `finished`, follow-up, close) under the water SLA policy (`sla_policies` `*`/`water`,
written by revision 1630). On top of the acceptance escalation every order gets, the
escalation worker asks this module each tick for two more reminders, derived from the
database alone like the others (exactly once per order, tier and stage):

- `water_arrival`: the crew is not on site (H) by A + the policy's A->H limit: first the
  repair center, after a further `escalate_after` the two supervisors of the crew's station;
- `water_repair`: the repair is not finished by A + `water_repair_within`: the same two levels.

A reminder settles itself once the order arrives / finishes (`dispatch.alerts.still_awaited`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.dispatch.models import Alert, TimingEvent, WorkOrder
from backend.dispatch.timing.policies import PolicyCache
from backend.dispatch.timing.sla import TOTAL
from backend.dispatch.timing.states import OrderStatus as S
from backend.network.grouping import linked_orders

if TYPE_CHECKING:
    from backend.dispatch.escalation import EscalationPolicy

# Before H the crew is not there yet; before `finished` the repair is not done.
NOT_ARRIVED = frozenset({S.AT_REPAIR_CENTER, S.CENTER_ACCEPTED, S.DISPATCHED, S.DELIVERED,
                         S.ACCEPTED, S.EN_ROUTE})  # fmt: skip
NOT_REPAIRED = NOT_ARRIVED | {S.ON_SITE}
TIERS = {"water_arrival": NOT_ARRIVED, "water_repair": NOT_REPAIRED}


def still_awaited(tier: str, order: WorkOrder) -> bool | None:
    """For a water tier: whether the order still owes what it chases; None: not a water tier."""
    states = TIERS.get(tier)
    return None if states is None else order.status in states


def _phones(order: WorkOrder) -> list[str]:
    station = order.crew.department if order.crew else None
    if station is None:
        return []
    return [p for p in (station.supervisor_phone_1, station.supervisor_phone_2) if p]


def due_water_alerts(session: Session, now: datetime, policy: EscalationPolicy) -> list[Alert]:
    """Return the arrival and repair reminders due at `now` (new objects, not added)."""
    orders = list(
        session.scalars(
            select(WorkOrder).where(
                WorkOrder.order_type == "water",
                WorkOrder.status.in_(NOT_REPAIRED),
                WorkOrder.id.not_in(linked_orders()),
            )
        )
    )
    if not orders:
        return []
    reported: dict[Any, datetime] = {}
    for order_id, at in session.execute(
        select(TimingEvent.order_id, TimingEvent.occurred_at).where(
            TimingEvent.order_id.in_([o.id for o in orders]), TimingEvent.point == "A"
        )
    ):
        reported[order_id] = min(at, reported.get(order_id, at))
    policies = PolicyCache(session)
    alerts = []
    for order in orders:
        start = reported.get(order.id)
        if start is None:
            continue
        limits = {
            "water_arrival": policies.get(order.region_code, "water").limit_for(TOTAL, False),
            "water_repair": policy.water_repair_within,
        }
        for tier, limit in limits.items():
            if order.status not in TIERS[tier]:
                continue
            alerts.extend(_stages(order, tier, start, limit, policy.escalate_after, now))
    return alerts


def _stages(order: WorkOrder, tier: str, start: datetime, limit: timedelta,
            further: timedelta, now: datetime) -> list[Alert]:  # fmt: skip
    what = "on site" if tier == "water_arrival" else "repaired"
    center = order.repair_center_id or order.department_id
    alerts = []
    for stage, due_at in ((1, start + limit), (2, start + limit + further)):
        if now <= due_at:  # late once past the limit, as the SLA engine counts a breach
            break
        late = round((now - start) / timedelta(minutes=1))
        if stage == 1:
            department_id, phones = center, []
            message = f"Water order {order.number} not {what} {late} min after the call."
        else:
            station = order.crew.department_id if order.crew else None
            department_id, phones = station or center, _phones(order)
            message = (
                f"Water order {order.number} still not {what} after {late} min: call the "
                f"supervisors {', '.join(phones) or '(none on file)'}."
            )
        alerts.append(
            Alert(
                order_id=order.id, tier=tier, stage=stage, dispatch_round=0,
                department_id=department_id, phones=phones, message=message[:400],
                due_at=due_at, created_at=now,
            )
        )  # fmt: skip
    return alerts
