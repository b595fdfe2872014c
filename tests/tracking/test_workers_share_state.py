"""Ingest workers on a shared subscription: a vehicle's messages move between them.

Each worker has its own `Pipeline` (its own GPS filter); the database is what they share. The
speed filter measures from the newest stored fix, whoever stored it, and geofence detectors
keep their progress in the database, so splitting a track between workers changes nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.db import Database, point_element, utcnow
from backend.demo import DemoOrg
from backend.dispatch import service
from backend.dispatch.models import TimingEvent
from backend.tracking.ingest.decode import decode_mqtt
from backend.tracking.ingest.pipeline import Inbound, Pipeline
from backend.tracking.models import Checkpoint
from gis.geometry import local_projection
from tests.dispatch.factories import actor, new_order
from tests.tracking.orders import dispatched_to

SITE = (120.1700, 30.3000)
DEPOT = (120.1650, 30.2950)


def message(vid: str, leaf: str, body: dict[str, object]) -> Inbound:
    topic = f"fieldline/v1/vehicles/{vid}/{leaf}"
    return Inbound(vid, decode_mqtt(topic, json.dumps(body).encode()), utcnow())


def test_a_jump_is_caught_by_a_worker_that_never_saw_the_vehicle(
    session: Session, demo: DemoOrg
) -> None:
    t = utcnow() - timedelta(minutes=5)
    here = {"lat": 30.25, "lon": 120.14, "acc": 5}
    first, second = Pipeline(), Pipeline()
    first.process(session, [message("T-1001", "position", {**here, "ts": t.isoformat()})])

    # One second later, 10 km away: impossible, though this worker's filter is empty.
    jump = {"lat": 30.34, "lon": 120.14, "acc": 5, "ts": (t + timedelta(seconds=1)).isoformat()}
    report = second.process(session, [message("T-1001", "position", jump)])
    assert report.stored == 0
    assert report.counts[("T-1001", "impossible_speed")] == 1

    # A plausible next fix is taken by either worker.
    step = {"lat": 30.2501, "lon": 120.14, "acc": 5, "ts": (t + timedelta(seconds=2)).isoformat()}
    assert second.process(session, [message("T-1001", "position", step)]).stored == 1


def _track(vid: str, start: datetime, order_id: str) -> tuple[list[Inbound], list[Inbound]]:
    """Acceptance, then 40 fixes from the depot to the site (reached at fix 30) and a stay."""
    accept = {
        "event_id": f"acc-{uuid.uuid4().hex[:8]}",
        "order_id": order_id,
        "type": "accepted",
        "ts": (start + timedelta(seconds=20)).isoformat(),
    }
    project = local_projection(*SITE)
    dx, dy = project.forward(*DEPOT)
    fixes = []
    for i in range(40):
        f = min(max(i - 3, 0) / 27, 1.0)
        lon, lat = project.inverse(dx * (1 - f), dy * (1 - f))
        body = {
            "ts": (start + timedelta(seconds=10 * i)).isoformat(),
            "lat": lat,
            "lon": lon,
            "acc": 5,
            "speed": 0.0 if i < 3 or i >= 30 else 9.0,
            "seq": i + 1,
        }
        fixes.append(message(vid, "position", body))
    return [message(vid, "event", accept)], fixes


def test_geofences_see_the_whole_track_when_workers_split_it(
    session: Session, demo: DemoOrg
) -> None:
    t0 = utcnow() - timedelta(minutes=30)
    order = new_order(session, demo, at=t0 - timedelta(minutes=5))
    order.location = point_element(*SITE)
    session.flush()
    service.dispatch_order(
        session=session,
        actor=actor(session, "dispatcher"),
        order_id=order.id,
        crew_id=demo.crews["Urban Crew 1"].id,
        vehicle_id=demo.vehicles["ZJ-A1001"].id,
        now=t0,
    )
    events, fixes = _track("T-1001", t0, str(order.id))
    a, b = Pipeline(), Pipeline()
    a.process(session, events)
    # Round robin, as the broker hands a shared subscription's messages out, in batches of
    # five per worker: each worker sees every other fix, so each second batch holds fixes
    # older than the detectors were fed, and they re-read the track from the dispatch.
    # (A batch spanning a whole dwell, committed before an earlier fix, would time the
    # arrival by its own first fix: a checkpoint, once claimed, is never moved.)
    for start in range(0, len(fixes), 10):
        chunk = fixes[start : start + 10]
        a.process(session, chunk[0::2])
        b.process(session, chunk[1::2])

    points = session.execute(
        select(TimingEvent.point, TimingEvent.occurred_at).where(
            TimingEvent.order_id == order.id, TimingEvent.source == "geofence"
        )
    ).all()
    occurred = dict(points)
    assert set(occurred) == {"G", "H"}
    assert occurred["H"] == t0 + timedelta(seconds=300)  # as one worker would have found it
    claims = session.execute(
        select(Checkpoint.point, func.count())
        .where(Checkpoint.order_id == str(order.id), Checkpoint.source == "geofence")
        .group_by(Checkpoint.point)
    ).all()
    assert dict(claims) == {"G": 1, "H": 1}


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_concurrent_workers_claim_each_checkpoint_once(committed_db: Database) -> None:
    """Two workers store one vehicle's fixes at the same moment (PostgreSQL: real concurrency)."""
    t0 = utcnow() - timedelta(minutes=30)
    # The suburban crew's vehicle: no other test commits rows for it.
    with dispatched_to(committed_db, "T-2001", SITE, now=t0) as order_id:
        events, fixes = _track("T-2001", t0, order_id)
        workers = [Pipeline(), Pipeline()]
        with committed_db.unit_of_work(actor="system:ingest") as session:
            workers[0].process(session, events)
        failures: list[BaseException] = []
        barrier = threading.Barrier(2)

        def run(worker: Pipeline, mine: list[Inbound]) -> None:
            try:
                for start in range(0, len(mine), 4):
                    barrier.wait(timeout=60)  # both write their next batch at once
                    with committed_db.unit_of_work(actor="system:ingest") as session:
                        worker.process(session, mine[start : start + 4])
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                failures.append(exc)
                barrier.abort()

        threads = [
            threading.Thread(target=run, args=(worker, fixes[i::2]))
            for i, worker in enumerate(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not failures, failures
        with committed_db.unit_of_work(actor="test") as session:
            claims = session.execute(
                select(Checkpoint.point, func.count())
                .where(Checkpoint.order_id == order_id, Checkpoint.source == "geofence")
                .group_by(Checkpoint.point)
            ).all()
            arrival = session.scalars(
                select(TimingEvent.occurred_at).where(
                    TimingEvent.order_id == uuid.UUID(order_id),
                    TimingEvent.point == "H",
                    TimingEvent.source == "geofence",
                )
            ).all()
        assert dict(claims) == {"G": 1, "H": 1}
        assert arrival == [t0 + timedelta(seconds=300)]
