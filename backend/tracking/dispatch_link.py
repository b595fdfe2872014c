"""Hand timing points proven by terminals and geofences to the dispatch domain (E, F, G, H)."""

from __future__ import annotations

import importlib
import inspect
import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.errors import Problem

log = logging.getLogger(__name__)

# The ingest acts as the system; its scope is the whole organisation.
INGEST_ACTOR = Actor(
    kind="system", id=0, label="tracking-ingest", department_id=0, department_path="/"
)


def _recorder() -> Any:
    for module in ("backend.dispatch.events", "backend.dispatch.service"):
        try:
            found = getattr(importlib.import_module(module), "record_timing_event", None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


def timing_point(
    session: Session,
    *,
    order_id: str,
    point: str,
    source: str,
    occurred_at: datetime,
    event_id: str,
    backfilled: bool,
    evidence: dict[str, Any],
    vehicle_id: int | None = None,
) -> bool:
    """Record the point on the order through dispatch; False when dispatch cannot take it.

    Dispatch keeps every source's event and lets the earliest trusted one win; a refusal
    (unknown order, recalled round) is logged, never allowed to fail the ingest batch.
    """
    record = _recorder()
    if record is None:
        return False
    try:
        order_uuid = uuid.UUID(order_id)
    except ValueError:
        return False
    kwargs: dict[str, Any] = {
        "session": session,
        "actor": INGEST_ACTOR,
        "order_id": order_uuid,
        "point": point,
        "occurred_at": occurred_at,
        "source": source,
        "event_id": event_id[:64],
        "backfilled": backfilled,
        "details": evidence,
        "vehicle_id": vehicle_id,
    }
    accepted = inspect.signature(record).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in accepted.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    try:
        with session.begin_nested():
            record(**kwargs)
    except Problem as exc:
        log.info("dispatch refused %s for order %s: %s", point, order_id, exc.detail)
        return False
    return True
