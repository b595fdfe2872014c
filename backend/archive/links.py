"""How other domains point at the archive: checked customer and premise references."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor
from backend.auth.policy import in_scope
from backend.errors import field_error


def link_archive(session: Session, actor: Actor, data: dict[str, Any]) -> None:
    """Check `customer_id` / `premise_id` in `data` and fill what follows from them.

    A premise names its customer, so a premise alone is enough; the order takes the premise's
    address and point when the caller gave none. Unknown or mismatched ids, and files outside
    the caller's archive scope, are a 422 that does not tell the two apart: a linked file
    becomes crew work (`archive.worksites`), so linking one would open it to the crew.
    """
    customer_id, premise_id = data.get("customer_id"), data.get("premise_id")
    if premise_id is not None:
        premise = session.get(Premise, premise_id)
        if premise is None or not in_scope(session, actor, premise):
            raise field_error("premise_id", f"No premise {premise_id} in your scope.")
        if customer_id is not None and customer_id != premise.customer_id:
            raise field_error(
                "premise_id", f"Premise {premise_id} is not customer {customer_id}'s."
            )
        data["customer_id"] = premise.customer_id
        if not data.get("address"):
            data["address"] = premise.address
        if data.get("location") is None and premise.location is not None:
            data["location"] = premise.location
    elif customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is None or not in_scope(session, actor, customer):
            raise field_error("customer_id", f"No customer {customer_id} in your scope.")
