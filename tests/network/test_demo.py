"""The demo network seeds once: lines, areas, linked customers, one line outage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from backend.demo.archive import seed_archive
from backend.demo.network import seed_network, seed_water
from backend.network.outage_models import Outage, OutageArea


def test_seed_network(session: Any, demo: Any, tmp_path: Any) -> None:
    from backend.auth.actor import actor_for_user
    from sync.blobs.storage import LocalBlobStorage

    actor = actor_for_user(session, demo.users["archivist"])
    seed_archive(session, actor, LocalBlobStorage(str(tmp_path)), count=8)
    assert seed_network(session, linked=8) is True
    assert seed_network(session) is False
    outage = session.scalars(select(Outage)).one()
    assert outage.status == "confirmed"
    cut = session.scalar(
        select(func.sum(OutageArea.customer_count)).where(OutageArea.outage_id == outage.id)
    )
    assert cut and cut > 0


def test_seed_water_lists_the_valves_of_a_demo_pipe(session: Any, demo: Any) -> None:
    from backend.auth.actor import actor_for_user
    from backend.network import water
    from backend.network.water_models import WaterPipe

    assert seed_water(session) is True
    assert seed_water(session) is False
    pipe = session.scalars(select(WaterPipe).where(WaterPipe.code == "DEMO-WP3")).one()
    actor = actor_for_user(session, demo.users["callcenter"])
    answer = water.isolation(session=session, actor=actor, pipe_id=pipe.id)
    assert answer["isolable"] is True
    assert [v.code for v in answer["valves"]] == ["DEMO-WV1", "DEMO-WV2"]
