"""Customer risk's synced entity: the collection visit, a crew's field task."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from backend.auth import policy
from backend.auth.actor import Actor
from backend.auth.sync_access import backend_actor, permit, read_scope
from backend.risk.ladder import visit_reported
from backend.risk.models import CollectionVisit
from sync.entities import COLLECTION_VISIT
from sync.registry import EntityAdapter, SyncActor


def _reported(session: Any, actor: SyncActor, visit: CollectionVisit) -> None:
    """A visit pushed done becomes the ladder's visit step (the crew's name on it)."""
    visit_reported(session, visit, backend_actor(actor).audit_name)


def _crews_visits(actor: Actor) -> ColumnElement[bool]:
    """A visit is its crew's task: no one else's handheld (nor a department's) pulls it."""
    return CollectionVisit.crew_id.in_(sorted(policy.own_crews(actor)))


def _read(visit: CollectionVisit) -> dict[str, object]:
    return {
        "status": visit.status, "outcome": visit.outcome, "notes": visit.notes,
        "case_id": str(visit.case_id), "customer_id": str(visit.customer_id),
        "premise_id": None if visit.premise_id is None else str(visit.premise_id),
        "customer_name": visit.customer_name, "address": visit.address,
        "amount_due": visit.amount_due, "due_on": visit.due_on, "crew_id": visit.crew_id,
    }  # fmt: skip


ADAPTERS = (
    EntityAdapter(
        COLLECTION_VISIT,
        CollectionVisit,
        permit=permit(COLLECTION_VISIT),
        scope=read_scope("collection_visit", _crews_visits),
        time_field=None,
        read=_read,
        after_write=_reported,
    ),
)
