"""The call center's quick query: who is this caller, is their line out, until when, whom to call.

One request: the caller is found by account number, phone, name or address (the archive's
fuzzy search), across the company (the desk answers for every customer of it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from backend.archive.records import Customer, Premise
from backend.archive.search import ranked
from backend.archive.service import search_text_for
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, network_filter
from backend.db import utcnow
from backend.network import regions
from backend.network.models import CustomerFlag, FeederLine, TransformerArea
from backend.network.outage_models import Outage, OutageArea
from backend.network.outages import ACTIVE

MAX_MATCHES = 5


def _outages(session: Session, area_ids: list[Any], now: datetime) -> tuple[Any, list[Outage]]:
    """The outage cutting these areas now (if any) and the ones announced for later."""
    if not area_ids:
        return None, []
    rows = list(
        session.scalars(
            select(Outage)
            .join(OutageArea, OutageArea.outage_id == Outage.id)
            .where(
                OutageArea.area_id.in_(area_ids),
                OutageArea.restored_at.is_(None),
                Outage.status.in_(ACTIVE),
            )
            .order_by(Outage.starts_at)
        ).unique()
    )
    current = next((o for o in rows if o.starts_at <= now), None)
    return current, [o for o in rows if o.starts_at > now]


def _answer(session: Session, customer: Customer, now: datetime) -> dict[str, Any]:
    premises = list(session.scalars(select(Premise).where(Premise.customer_id == customer.id)))
    places = []
    for premise in premises:
        area = (
            session.get(TransformerArea, premise.transformer_area_id)
            if premise.transformer_area_id
            else None
        )
        line_id = area.line_id if area else premise.line_id
        line = session.get(FeederLine, line_id) if line_id else None
        places.append(
            {
                "premise_id": premise.id,
                "address": premise.address,
                "area": area,
                "line": line,
                "line_name": line.name if line else premise.line_name,
            }
        )
    current, upcoming = _outages(session, [p["area"].id for p in places if p["area"]], now)
    region_text = premises[0].region_code if premises else customer.region_code
    region = regions.resolve(session, region_text) or regions.resolve(session, customer.region_code)
    flag = session.get(CustomerFlag, customer.id)
    from backend.inspection.views import customer_case_history  # inspection builds on network

    return {
        "customer": customer,
        "important": bool(flag and flag.important),
        "high_risk": bool(flag and flag.high_risk),
        # Theft/violation history: the desk knows it talks to a repeat offender.
        "repeat_offender": customer_case_history(session, customer.id)["repeat_offender"],
        "places": places,
        "out_now": current is not None,
        "outage": current,
        "upcoming": upcoming,
        "service_contact": region,
    }


def quick_query(
    *, session: Session, actor: Actor, dialect: str, q: str, now: datetime | None = None
) -> dict[str, Any]:
    """Answer "is my line out, since when, until when, why, whom to call" for a caller."""
    authorize(actor, Action.QUICK_QUERY)
    now = now or utcnow()
    statement = select(Customer).where(network_filter(actor, Customer.department_id))
    # An account number read out by the caller: the unique index answers, no fuzzy search.
    exact = session.scalar(select(Customer.id).where(Customer.account_number == q.strip()))
    if exact is not None:
        statement = statement.where(Customer.id == exact)
    elif query := search_text_for(actor, q):
        statement = ranked(dialect, statement, query)
    else:  # only number terms, and the caller sees phones masked: nothing to search with
        statement = statement.where(false())
    customers = list(session.scalars(statement.limit(MAX_MATCHES)))
    return {"query": q, "at": now, "matches": [_answer(session, c, now) for c in customers]}
