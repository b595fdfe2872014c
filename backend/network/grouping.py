"""Trouble-call grouping: a repair call from under an active outage joins it, not the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import Premise
from backend.network.outage_models import OrderOutageLink, Outage, OutageArea
from backend.network.outages import CUT


def covering_outage(
    session: Session, *, customer_id: Any, premise_id: Any, now: datetime
) -> tuple[Outage, Any] | None:
    """Return the active outage (and area) cutting the caller's premise now, if any."""
    premises = select(Premise.transformer_area_id).where(Premise.transformer_area_id.isnot(None))
    if premise_id is not None:
        premises = premises.where(Premise.id == premise_id)
    elif customer_id is not None:
        premises = premises.where(Premise.customer_id == customer_id)
    else:
        return None
    row = session.execute(
        select(Outage, OutageArea.area_id)
        .join(OutageArea, OutageArea.outage_id == Outage.id)
        .where(
            OutageArea.area_id.in_(premises),
            OutageArea.restored_at.is_(None),
            Outage.status.in_(CUT),
            Outage.starts_at <= now,
        )
        .order_by(Outage.starts_at)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def link_call(session: Session, order: Any, now: datetime) -> Outage | None:
    """Link a new repair order to the outage covering its caller (no dispatch, no escalation)."""
    found = covering_outage(
        session, customer_id=order.customer_id, premise_id=order.premise_id, now=now
    )
    if found is None:
        return None
    outage, area_id = found
    session.add(OrderOutageLink(order_id=order.id, outage_id=outage.id, area_id=area_id))
    session.flush()
    return outage


def linked_orders() -> Any:
    """A select of the ids of orders linked to an outage (the escalation leaves them alone)."""
    return select(OrderOutageLink.order_id)
