"""Records the live feed reports that no handheld syncs (outages): feed rows with no scope.

An order reaches the feed through its synced record's change row (`sync.changes`). An outage
is not synced, so this flush hook writes the same kind of row for it, with no department and
no crew: no handheld pull matches it, and the live hub reads it in the same (transaction,
change) order as order changes, with the same resumable cursor. On PostgreSQL the row's insert
fires `sync_changes`' NOTIFY trigger; on SQLite the commit changes `PRAGMA data_version`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from backend.network.outage_models import Outage
from sync.changes import Change, current_txid, next_versions

OUTAGE = "outage"
# The feed entities this hook writes (those `sync.changes` writes are the synced records').
LIVE_ENTITIES = (OUTAGE,)


def announce_live_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Add a scope-less feed row for each outage this flush creates or changes."""
    changed = [
        obj
        for obj in (*session.new, *session.dirty)
        if isinstance(obj, Outage)
        and (obj in session.new or session.is_modified(obj, include_collections=False))
    ]
    if not changed:
        return
    numbers = next_versions(session, len(changed))
    txid = current_txid(session)
    now = datetime.now(UTC)
    for number, outage in zip(numbers, changed, strict=True):
        if outage.id is None:  # the row needs the id before the insert gives it one
            outage.id = uuid.uuid4()
        session.add(
            Change(
                id=number,
                txid=txid,
                entity=OUTAGE,
                record_id=str(outage.id),
                op="upsert",
                scope_department_id=None,
                scope_crew_id=None,
                changed_at=now,
            )
        )


def install_listeners() -> None:
    """Register the hook on every Session (the backend's wiring calls it)."""
    if not event.contains(Session, "before_flush", announce_live_changes):
        event.listen(Session, "before_flush", announce_live_changes)
