"""Monthly partitions of positions on PostgreSQL: created ahead, dropped past retention."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from backend.tracking.partitions import drop_expired, ensure_partitions, existing_partitions


@pytest.mark.postgis_only
def test_partitions_are_created_ahead_and_dropped_after_retention(session: Session) -> None:
    conn = session.connection()
    now = datetime(2031, 6, 15, tzinfo=UTC)
    names = ensure_partitions(conn, now, months_ahead=2)
    assert {"positions_203105", "positions_203106", "positions_203108"} <= set(names)
    assert ensure_partitions(conn, now, months_ahead=2) == names  # idempotent
    later = datetime(2032, 9, 1, tzinfo=UTC)
    dropped = drop_expired(conn, later, retention_months=15)
    assert "positions_203105" in dropped and "positions_203106" not in dropped
    assert "positions_203105" not in existing_partitions(conn)
    with pytest.raises(ValueError, match="retention"):
        drop_expired(conn, later, retention_months=0)
