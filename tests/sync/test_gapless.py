"""The pull never skips a change whose transaction commits after a later-numbered one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from backend.inspection.models import MeterReading
from backend.org.models import Crew


def _reading(crew: Crew) -> MeterReading:
    return MeterReading(
        id=uuid.uuid4(),
        department_id=crew.department_id,
        crew_id=crew.id,
        meter_id=uuid.uuid4(),
        value=1.0,
        reading_kind="kwh",
        read_at=datetime.now(UTC),
    )


@pytest.mark.postgis_only
def test_a_transaction_committing_late_is_delivered_not_skipped(committed_db, make_client):
    device = make_client("H-1001")
    slow, fast = committed_db.session_factory(), committed_db.session_factory()
    try:
        crew = slow.scalars(select(Crew).where(Crew.name == "Urban Crew 1")).one()
        early = _reading(crew)
        slow.add(early)
        slow.flush()  # takes the lower change number, then stays open
        late = _reading(crew)
        fast.add(late)
        fast.flush()
        fast.commit()  # commits first, with the higher change number
        assert early.version < late.version  # the change numbers of the change feed
        device.transport.wait_for_horizon = False  # the open transaction holds it back
        device.pull()
        # A plain "id > cursor" feed would now hand out `late` and move past `early` for good.
        assert device.get("meter_reading", str(late.id)) is None
        slow.commit()
        device.transport.wait_for_horizon = True
        device.pull()
        assert device.get("meter_reading", str(early.id)) is not None
        assert device.get("meter_reading", str(late.id)) is not None
    finally:
        slow.close()
        fast.close()
