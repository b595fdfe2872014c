"""Messages the ingest could not attribute: parked with the batch, replayed when they can be."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from backend.db import Database, utcnow
from backend.tracking.models import DeadLetter

if TYPE_CHECKING:  # the pipeline imports this module
    from backend.tracking.ingest.pipeline import Inbound, Pipeline

log = logging.getLogger(__name__)

UNKNOWN_VEHICLE = "unknown_vehicle"


def park(session: Session, items: Sequence[Inbound], now: datetime) -> int:
    """Store the raw messages of `items` (those received over MQTT) in the batch's transaction."""
    rows = [
        DeadLetter(
            topic=item.topic[:400],
            payload=item.payload,
            key=item.key[:140],
            source=str(item.source)[:16],
            reason=UNKNOWN_VEHICLE,
            received_at=item.received_at,
            attempts=0,
        )
        for item in items
        if item.topic is not None and item.payload is not None
    ]
    session.add_all(rows)
    return len(rows)


@dataclass
class ReplayReport:
    """What one replay pass did."""

    attributed: int = 0
    still_unknown: int = 0
    stored: int = 0


def replay(
    session: Session, pipeline: Pipeline, *, limit: int = 1000, after_id: int = 0
) -> tuple[ReplayReport, int]:
    """Run up to `limit` parked messages through the pipeline again, oldest first.

    Those it can now attribute are processed as if they had just arrived (with their original
    receive time) and deleted; the others stay, their attempts counted. Returns the report and
    the last id looked at (to page on).
    """
    from backend.tracking.ingest.pipeline import decode_message

    rows = list(
        session.scalars(
            select(DeadLetter)
            .where(DeadLetter.id > after_id)
            .order_by(DeadLetter.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # two workers never replay the same message
        )
    )
    report = ReplayReport()
    if not rows:
        return report, after_id
    items = [
        decode_message(
            r.topic, r.payload, pipeline.topic_root, received_at=r.received_at, source=r.source
        )
        for r in rows
    ]
    result = pipeline.process(session, items, replaying=True)
    left = {id(item) for item in result.unattributed}
    now = utcnow()
    done = []
    for row, item in zip(rows, items, strict=True):
        if id(item) in left:
            row.attempts += 1
            row.last_attempt_at = now
            report.still_unknown += 1
        else:
            done.append(row.id)
    if done:
        session.execute(delete(DeadLetter).where(DeadLetter.id.in_(done)))
    report.attributed = len(done)
    report.stored = result.stored
    return report, rows[-1].id


def replay_all(database: Database, pipeline: Pipeline, *, page: int = 1000) -> ReplayReport:
    """Replay every parked message, a page per transaction (the CLI command)."""
    total, after = ReplayReport(), 0
    while True:
        with database.unit_of_work(actor="system:ingest-replay") as session:
            report, last = replay(session, pipeline, limit=page, after_id=after)
        total.attributed += report.attributed
        total.still_unknown += report.still_unknown
        total.stored += report.stored
        if last == after:
            return total
        after = last


def purge(session: Session, now: datetime, keep: timedelta) -> int:
    """Drop parked messages older than `keep` (a vehicle never registered)."""
    result = session.execute(delete(DeadLetter).where(DeadLetter.received_at < now - keep))
    return int(getattr(result, "rowcount", 0) or 0)
