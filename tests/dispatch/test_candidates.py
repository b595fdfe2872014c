"""Candidate crews combine dispatch's load with tracking's distance and ETA to the fault."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.demo import DemoOrg
from backend.dispatch.candidates import rank_key
from backend.dispatch.models import CrewStatus
from backend.org.models import Crew, Vehicle
from backend.tracking.ingest.decode import PositionFix
from backend.tracking.ingest.pipeline import Inbound, Pipeline
from tests.dispatch.test_api_flow import create

FAULT = (120.1700, 30.2900)


def place(session: Session, *fixes: tuple[str, float, float, float]) -> None:
    """Store one fix per (vid, lon, lat, age in seconds) through the ingest pipeline."""
    now = utcnow()
    items = [
        Inbound(
            key=vid,
            value=PositionFix(vehicle=vid, ts=now - timedelta(seconds=age), lat=lat, lon=lon),
            received_at=now,
        )
        for vid, lon, lat, age in fixes
    ]
    Pipeline().process(session, items)


def order(api: Any, demo: DemoOrg, specialty: str, location: tuple[float, float] | None) -> str:
    extra: dict[str, Any] = {
        "specialty": specialty,
        "repair_center_id": demo.departments["RC-N"].id,
    }
    extra["location"] = None if location is None else {"lon": location[0], "lat": location[1]}
    return str(create(api, demo, **extra)["id"])


def ranked(api: Any, oid: str) -> list[dict[str, Any]]:
    response = api("dispatcher").get(f"/api/v1/work-orders/{oid}/candidates")
    assert response.status_code == 200, response.get_json()
    return list(response.get_json())


def test_nearer_free_crew_leads_and_busy_crews_follow(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    # Emergency vehicle about 5.1 km from the fault, suburban about 9 km.
    place(session, ("T-3001", 120.2100, 30.2600, 5), ("T-2001", 120.0900, 30.3300, 5))
    oid = order(api, demo, "10kv", FAULT)
    first = ranked(api, oid)
    assert [c["crew_name"] for c in first] == ["Emergency Crew 1", "Suburban Crew 1"]
    emergency, suburban = first
    assert 4800 < emergency["distance_m"] < 5400 and 8000 < suburban["distance_m"] < 10000
    assert 0 < emergency["eta_min"] < suburban["eta_min"]
    assert emergency["vehicles"] == [
        {
            "id": demo.vehicles["ZJ-A3001"].id,
            "plate": "ZJ-A3001",
            "distance_m": emergency["distance_m"],
            "eta_min": emergency["eta_min"],
        }
    ]
    # Once the emergency crew holds an open order, the free (if farther) crew leads.
    busy = order(api, demo, "10kv", FAULT)
    r = api("dispatcher").post(
        f"/api/v1/work-orders/{busy}/dispatch",
        json={"crew_id": demo.crews["Emergency Crew 1"].id},
    )
    assert r.status_code == 200, r.get_json()
    second = ranked(api, oid)
    assert [(c["crew_name"], c["load"]) for c in second] == [
        ("Suburban Crew 1", 0),
        ("Emergency Crew 1", 1),
    ]


def test_stale_or_missing_positions_have_no_eta_and_rank_last(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    # Urban Crew 1's vehicle sits next to the fault but its last fix is an hour old; Urban
    # Crew 2's vehicle is 1.6 km away and reporting.
    place(session, ("T-1001", 120.1701, 30.2901, 3600), ("T-1002", 120.1550, 30.2830, 5))
    oid = order(api, demo, "low_voltage", FAULT)
    out = ranked(api, oid)
    assert [c["crew_name"] for c in out] == ["Urban Crew 2", "Urban Crew 1"]
    assert out[0]["eta_min"] is not None and 1200 < out[0]["distance_m"] < 2000
    assert out[1]["distance_m"] is None and out[1]["eta_min"] is None
    assert out[1]["vehicles"][0]["eta_min"] is None
    # A fresh fix brings Urban Crew 1 back, now the nearer.
    place(session, ("T-1001", 120.1701, 30.2901, 1))
    assert [c["crew_name"] for c in ranked(api, oid)] == ["Urban Crew 1", "Urban Crew 2"]


def test_order_without_location_ranks_by_load_then_site(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    place(session, ("T-1001", 120.1701, 30.2901, 5), ("T-1002", 120.1550, 30.2830, 5))
    oid = order(api, demo, "low_voltage", None)
    out = ranked(api, oid)
    assert [c["crew_name"] for c in out] == ["Urban Crew 1", "Urban Crew 2"]  # crew id
    assert all(c["eta_min"] is None and c["distance_m"] is None for c in out)


def _statements_of(call: Any) -> tuple[Any, int]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(Engine, "before_cursor_execute", count)
    try:
        return call(), len(statements)
    finally:
        event.remove(Engine, "before_cursor_execute", count)


def test_ranking_costs_the_same_queries_however_many_crews(
    api: Any, session: Session, demo: DemoOrg
) -> None:
    place(session, ("T-1001", 120.1701, 30.2901, 5), ("T-1002", 120.1550, 30.2830, 5))
    oid = order(api, demo, "low_voltage", FAULT)
    ranked(api, oid)  # warm: the first request of a process loads what it caches
    before, before_count = _statements_of(lambda: ranked(api, oid))
    station = demo.crews["Urban Crew 1"].department_id
    added = [
        Crew(name=f"Night Crew {i}", department_id=station, work_types=["low_voltage"])
        for i in range(6)
    ]
    session.add_all(added)
    session.flush()
    session.add_all(
        Vehicle(plate=f"ZJ-N{i}", department_id=station, crew_id=crew.id, specialty="low_voltage")
        for i, crew in enumerate(added)
    )
    session.add(CrewStatus(crew_id=added[0].id, available=False, reason="meal", changed_by="test"))
    session.flush()
    after, after_count = _statements_of(lambda: ranked(api, oid))
    assert after_count == before_count, (before_count, after_count)
    names = [c["crew_name"] for c in after]
    assert len(after) == len(before) + 5 and "Night Crew 0" not in names  # stood down
    night = next(c for c in after if c["crew_name"] == "Night Crew 1")
    assert [v["plate"] for v in night["vehicles"]] == ["ZJ-N1"] and night["distance_m"] is None


def test_rank_key_rule() -> None:
    def crew(crew_id: int, load: int, eta: float | None, same_site: bool) -> dict[str, Any]:
        distance = None if eta is None else eta * 500 / 1.3
        return {
            "crew_id": crew_id,
            "load": load,
            "eta_min": eta,
            "distance_m": distance,
            "same_site": same_site,
        }

    crews = [
        crew(1, 0, None, True),  # free but not located
        crew(2, 1, 1.0, True),  # busy, very near
        crew(3, 0, 6.2, False),  # 6 min, other site
        crew(4, 0, 6.4, True),  # 6 min, same site: wins the tie despite being farther
        crew(5, 0, 3.0, False),  # nearest free
        crew(6, 2, 1.0, True),  # busier than crew 2 at the same ETA
        crew(7, 1, None, True),
    ]
    assert [c["crew_id"] for c in sorted(crews, key=rank_key)] == [5, 4, 3, 1, 2, 6, 7]
