"""Where crews work: the premises of their open orders and inspections (sync and read scope)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select, union

from backend.archive.records import Premise
from backend.dispatch.models import WorkOrder
from backend.inspection.models import Inspection

# Work that no longer needs the site: the premise leaves the crew's handhelds.
DONE_ORDER = "closed"
DONE_INSPECTION = "closed"


def worked_premise_ids(crew_ids: Iterable[int]) -> Select[tuple[object]]:
    """Select the premises of the open orders and inspections of these crews."""
    crews = sorted(crew_ids)
    orders = select(WorkOrder.premise_id).where(
        WorkOrder.crew_id.in_(crews),
        WorkOrder.premise_id.is_not(None),
        WorkOrder.status != DONE_ORDER,
    )
    inspections = select(Inspection.premise_id).where(
        Inspection.crew_id.in_(crews),
        Inspection.premise_id.is_not(None),
        Inspection.status != DONE_INSPECTION,
        Inspection.deleted.is_(False),
    )
    return select(union(orders, inspections).subquery().c[0])


def worked_customer_ids(crew_ids: Iterable[int]) -> Select[tuple[object]]:
    """Select the customers whose premises these crews work at."""
    return select(Premise.customer_id).where(Premise.id.in_(worked_premise_ids(crew_ids)))
