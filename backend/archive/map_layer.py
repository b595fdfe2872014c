"""Customers on the map: the premises in the caller's archive scope that have a point (GeoJSON).

The same scope and field rules as the customer search (`GET /customers`): only the fields every
reader of a file sees (account, name, address, line), never contacts or the contract.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.access import ArchiveAction, customer_scope, require
from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor
from backend.network.layers import collection, feature, page_in_bbox


def premise_features(
    *,
    session: Session,
    actor: Actor,
    dialect: str,
    bbox: tuple[float, float, float, float] | None,
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """Return one page of the visible premises with a point as a GeoJSON FeatureCollection."""
    require(actor, ArchiveAction.READ_CUSTOMER)
    statement = (
        select(Premise, Customer)
        .join(Customer, Customer.id == Premise.customer_id)
        .where(customer_scope(actor, session), Premise.location.isnot(None))
    )
    total, rows = page_in_bbox(
        session, statement, dialect=dialect, column=Premise.location, bbox=bbox,
        order_by=(Customer.account_number, Premise.id), page=page, page_size=page_size,
    )  # fmt: skip
    features = [
        feature(
            premise.id,
            premise.location,
            {
                "customer_id": str(customer.id),
                "account_number": customer.account_number,
                "name": customer.name,
                "customer_status": customer.status,
                "address": premise.address,
                "status": premise.status,
                "line_name": premise.line_name,
                "transformer_area_id": (
                    str(premise.transformer_area_id) if premise.transformer_area_id else None
                ),
            },
        )
        for premise, customer in rows
    ]
    return collection(features, total=total, page=page, page_size=page_size)
