"""The network tree: line -> transformer areas -> customers, with counts and flags."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope
from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.db import utcnow
from backend.network.models import CustomerFlag, FeederLine, TransformerArea
from backend.network.service import load


def supplied() -> Any:
    """WHERE clause of the customers an area supplies: active accounts.

    A closed account keeps its premise's area but is neither counted, listed nor notified.
    """
    return Customer.status == "active"


def area_counts(session: Session, area_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """Return, per area, its customers and how many of them are important / high-risk."""
    ids = list(area_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(
            Premise.transformer_area_id,
            func.count(distinct(Premise.customer_id)),
            func.count(distinct(CustomerFlag.customer_id)).filter(CustomerFlag.important),
            func.count(distinct(CustomerFlag.customer_id)).filter(CustomerFlag.high_risk),
        )
        .join(Customer, Customer.id == Premise.customer_id)
        .outerjoin(CustomerFlag, CustomerFlag.customer_id == Premise.customer_id)
        .where(Premise.transformer_area_id.in_(ids), supplied())
        .group_by(Premise.transformer_area_id)
    )
    counts = {i: {"customers": 0, "important": 0, "high_risk": 0} for i in ids}
    for area_id, customers, important, high_risk in rows:
        counts[area_id] = {"customers": customers, "important": important, "high_risk": high_risk}
    return counts


def line_tree(*, session: Session, actor: Actor, line_id: uuid.UUID) -> dict[str, Any]:
    """Return a line with its areas (by section), each with customer counts and flags."""
    line = load(session, actor, FeederLine, line_id)
    areas = list(
        session.scalars(
            select(TransformerArea)
            .where(TransformerArea.line_id == line.id)
            .order_by(TransformerArea.code)
        )
    )
    counts = area_counts(session, (a.id for a in areas))
    nodes = [{"area": a, **counts[a.id]} for a in areas]
    totals = {k: sum(n[k] for n in nodes) for k in ("customers", "important", "high_risk")}
    return {"line": line, "areas": nodes, "area_count": len(areas), **totals}


def area_customers(
    *, session: Session, actor: Actor, area_id: uuid.UUID, flagged_only: bool = False
) -> Select[Any]:
    """Return a select of an area's customers with their flags, flagged ones first.

    Only the customers of the actor's archive scope are named (the tree's counts cover all
    supplied ones, so a list is never longer than its count).
    """
    area = load(session, actor, TransformerArea, area_id)
    statement = (
        select(Customer, CustomerFlag)
        .where(
            Customer.id.in_(
                select(Premise.customer_id).where(Premise.transformer_area_id == area.id)
            ),
            supplied(),
            customer_scope(actor),
        )
        .outerjoin(CustomerFlag, CustomerFlag.customer_id == Customer.id)
    )
    if flagged_only:
        statement = statement.where(CustomerFlag.important | CustomerFlag.high_risk)
    return statement.order_by(
        CustomerFlag.important.desc().nulls_last(),
        CustomerFlag.high_risk.desc().nulls_last(),
        Customer.account_number,
    )


def set_flags(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, data: dict[str, Any]
) -> CustomerFlag:
    """Mark a customer important and/or high-risk (in the actor's archive scope)."""
    from backend.archive.service import get_customer

    authorize(actor, Action.CUSTOMER_FLAG_SET)
    get_customer(session=session, actor=actor, customer_id=customer_id)
    flag = session.get(CustomerFlag, customer_id)
    if flag is None:
        flag = CustomerFlag(customer_id=customer_id, updated_by=actor.audit_name)
        session.add(flag)
    for key in ("important", "high_risk", "note"):
        if key in data:
            setattr(flag, key, data[key])
    flag.important, flag.high_risk = bool(flag.important), bool(flag.high_risk)
    flag.updated_by, flag.updated_at = actor.audit_name, utcnow()
    session.flush()
    return flag
