"""How other domains point at the archive: checked customer and premise references."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.archive.records import Customer, Premise
from backend.errors import field_error


def link_archive(session: Session, data: dict[str, Any]) -> None:
    """Check `customer_id` / `premise_id` in `data` and fill what follows from them.

    A premise names its customer, so a premise alone is enough; the order takes the premise's
    address and point when the caller gave none. Unknown or mismatched ids are a 422.
    """
    customer_id, premise_id = data.get("customer_id"), data.get("premise_id")
    if premise_id is not None:
        premise = session.get(Premise, premise_id)
        if premise is None:
            raise field_error("premise_id", f"Premise {premise_id} does not exist.")
        if customer_id is not None and customer_id != premise.customer_id:
            raise field_error(
                "premise_id", f"Premise {premise_id} is not customer {customer_id}'s."
            )
        data["customer_id"] = premise.customer_id
        if not data.get("address"):
            data["address"] = premise.address
        if data.get("location") is None and premise.location is not None:
            data["location"] = premise.location
    elif customer_id is not None and session.get(Customer, customer_id) is None:
        raise field_error("customer_id", f"Customer {customer_id} does not exist.")
