"""Demo network: two lines with areas around the depots, flagged customers, one line outage."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive import service as archive
from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor
from backend.db import utcnow
from backend.network import outages, service
from backend.network.models import CustomerFlag, FeederLine, RegionCode
from backend.org.models import Department

# (code, name, route, [(area code, name, point, section)])
LINES = [
    ("DEMO-L1", "城北10kV线", [(120.150, 30.285), (120.165, 30.295), (120.180, 30.300)],
     [("DEMO-TA11", "城北1号台区", (120.155, 30.289), None),
      ("DEMO-TA12", "城北2号台区", (120.172, 30.298), "K1")]),
    ("DEMO-L2", "郊区10kV线", [(120.080, 30.325), (120.090, 30.330), (120.100, 30.338)],
     [("DEMO-TA21", "郊区1号台区", (120.085, 30.327), None),
      ("DEMO-TA22", "郊区2号台区", (120.097, 30.335), None)]),
]  # fmt: skip


def seed_network(session: Session, linked: int = 40) -> bool:
    """Create the demo network once (False when it exists)."""
    if session.scalar(select(FeederLine).where(FeederLine.code == "DEMO-L1")) is not None:
        return False
    root = session.scalars(select(Department).where(Department.code == "ROOT")).one()
    actor = Actor(kind="system", id=0, label="seed", department_id=root.id,
                  department_path=root.path)  # fmt: skip
    if session.get(RegionCode, "HZ") is None:
        session.add(RegionCode(code="HZ", name="杭州", service_contact="95598 杭州供电服务",
                               service_phone="95598", department_id=root.id))  # fmt: skip
    areas = []
    for code, name, route, area_rows in LINES:
        line = service.create_line(session=session, actor=actor, data={
            "code": code, "name": name, "voltage": "10kV", "region_code": "HZ",
            "route": {"type": "LineString", "coordinates": route},
            "switch_points": [{"code": "K1", "name": "K1", "lon": route[1][0], "lat": route[1][1]}],
        })  # fmt: skip
        for a_code, a_name, (lon, lat), section in area_rows:
            areas.append(service.create_area(session=session, actor=actor, data={
                "code": a_code, "name": a_name, "line_id": line.id, "section": section,
                "capacity_kva": 630.0, "ownership": "public", "region_code": "HZ",
                "location": {"type": "Point", "coordinates": [lon, lat]},
            }))  # fmt: skip
    premises = list(
        session.scalars(
            select(Premise)
            .join(Customer, Customer.id == Premise.customer_id)
            .where(Customer.status == "active")
            .order_by(Premise.address)
            .limit(linked)
        )
    )
    for index, premise in enumerate(premises):
        area = areas[index % len(areas)]
        changes = {"transformer_area_id": area.id, "line_id": area.line_id}
        archive.change_premise(
            session=session, actor=actor, premise=premise, changes=changes, reason="demo network"
        )
        if index < 2:
            session.add(CustomerFlag(customer_id=premise.customer_id, important=index == 0,
                                     high_risk=index == 1, updated_by="seed"))  # fmt: skip
    session.flush()
    first = session.scalars(select(FeederLine).where(FeederLine.code == "DEMO-L1")).one()
    now = utcnow()
    outages.create_outage(session=session, actor=actor, data={
        "kind": "planned", "scope": "line", "line_id": first.id, "status": "confirmed",
        "reason": "10kV线路计划检修", "starts_at": now - timedelta(minutes=20),
        "planned_end_at": now + timedelta(hours=2),
    })  # fmt: skip
    return True
