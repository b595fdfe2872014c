"""Hand timing points proven by terminals and geofences to dispatch, and keep the taken claims.

A plain call into `backend.dispatch.timing.recording.record_timing_event`: dispatch validates,
decides and appends. A claim (`Checkpoint`) is stored only when dispatch took the point, so
a refused report (too early, wrong state) never blocks the real one later.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.dispatch.models import WorkOrder
from backend.dispatch.timing.deciding import PointAhead
from backend.dispatch.timing.recording import record_timing_event
from backend.errors import Problem
from backend.tracking.models import Checkpoint, ClaimStatus

log = logging.getLogger(__name__)

# The ingest acts as the system; its scope is the whole organisation. The vehicle must
# still hold the order: `vehicle_id` is checked by dispatch.
INGEST_ACTOR = Actor(
    kind="system", id=0, label="tracking-ingest", department_id=0, department_path="/"
)


class Outcome(StrEnum):
    """What became of a witness's report (stored on the terminal message, counted)."""

    APPLIED = "applied"
    REPLAYED = "replayed"
    PARKED = "parked"
    REFUSED = "refused"


def claim_point(
    session: Session,
    *,
    vehicle_id: int,
    order: WorkOrder,
    point: str,
    source: str,
    occurred_at: datetime,
    event_id: str,
    backfilled: bool = False,
    evidence: dict[str, Any] | None = None,
    park: bool = False,
) -> Outcome:
    """Report a point to dispatch; keep the claim when it is taken (or parked, with `park`).

    A refusal is logged and returned, never raised: it must not fail the ingest batch.
    """
    event_id = event_id if len(event_id) <= 64 else uuid.uuid5(uuid.NAMESPACE_URL, event_id).hex
    try:
        with session.begin_nested():
            event, created = record_timing_event(
                session=session,
                actor=INGEST_ACTOR,
                order_id=order.id,
                point=point,
                occurred_at=occurred_at,
                source=source,
                event_id=event_id,
                backfilled=backfilled,
                details=evidence,
                vehicle_id=vehicle_id,
            )
    except PointAhead as exc:
        if not park:
            log.info("dispatch refused %s for order %s: %s", point, order.id, exc.detail)
            return Outcome.REFUSED
        status, round_ = ClaimStatus.PARKED, order.dispatch_round
        backfilled = backfilled or False
    except Problem as exc:
        log.info("dispatch refused %s for order %s: %s", point, order.id, exc.detail)
        return Outcome.REFUSED
    else:
        if not created:
            return Outcome.REPLAYED
        status, round_ = ClaimStatus.ACCEPTED, event.dispatch_round
        backfilled = event.backfilled
    claim = Checkpoint(
        vehicle_id=vehicle_id,
        order_id=str(order.id),
        dispatch_round=round_,
        point=point,
        source=source,
        status=status,
        event_id=event_id,
        occurred_at=occurred_at,
        backfilled=backfilled,
        evidence=evidence or {},
    )
    try:
        with session.begin_nested():  # two workers may prove the same point at once
            session.add(claim)
    except IntegrityError:
        pass
    return Outcome.PARKED if status is ClaimStatus.PARKED else Outcome.APPLIED
