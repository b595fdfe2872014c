"""Demo network: lines and areas around the depots, flagged customers, one outage; pipes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive import service as archive
from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor
from backend.db import utcnow
from backend.network import outages, service, water
from backend.network.models import CustomerFlag, FeederLine, RegionCode
from backend.network.water_models import WaterNode
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


# The water team's depot (ST-WAT, 120.14 30.25): a plant, two valves around a loop, a hydrant.
# (code, kind, name, lon, lat)
WATER_NODES = [
    ("DEMO-WS", "source", "城西水厂出水口", 120.130, 30.250),
    ("DEMO-WV1", "valve", "1号阀门", 120.134, 30.251),
    ("DEMO-WJ1", "junction", "龙井路三通", 120.138, 30.252),
    ("DEMO-WV2", "valve", "2号阀门", 120.142, 30.253),
    ("DEMO-WJ2", "junction", "虎跑路三通", 120.146, 30.254),
    ("DEMO-WH1", "hydrant", "龙井路消火栓", 120.138, 30.255),
    ("DEMO-WM1", "monitoring_point", "虎跑路压力监测点", 120.146, 30.256),
]
# (code, from, to, diameter mm, material)
WATER_PIPES = [
    ("DEMO-WP1", "DEMO-WS", "DEMO-WV1", 600, "ductile iron"),
    ("DEMO-WP2", "DEMO-WV1", "DEMO-WJ1", 400, "ductile iron"),
    ("DEMO-WP3", "DEMO-WJ1", "DEMO-WV2", 300, "PE"),
    ("DEMO-WP4", "DEMO-WV2", "DEMO-WJ2", 300, "PE"),
    ("DEMO-WP5", "DEMO-WJ1", "DEMO-WH1", 150, "PE"),
    ("DEMO-WP6", "DEMO-WJ1", "DEMO-WJ2", 200, "PE"),
]


def seed_water(session: Session) -> bool:
    """Create the demo pipe network once (False when it exists); DEMO-WP3's valves: WV1, WV2."""
    if session.scalar(select(WaterNode).where(WaterNode.code == "DEMO-WS")) is not None:
        return False
    root = session.scalars(select(Department).where(Department.code == "ROOT")).one()
    actor = Actor(kind="system", id=0, label="seed", department_id=root.id,
                  department_path=root.path)  # fmt: skip
    nodes = {}
    for code, kind, name, lon, lat in WATER_NODES:
        nodes[code] = water.create_node(session=session, actor=actor, data={
            "code": code, "kind": kind, "name": name,
            "location": {"type": "Point", "coordinates": [lon, lat]},
            "attributes": {"measures": ["pressure"]} if kind == "monitoring_point" else {},
        })  # fmt: skip
    where = {code: [lon, lat] for code, _, _, lon, lat in WATER_NODES}
    for code, start, end, diameter, material in WATER_PIPES:
        water.create_pipe(session=session, actor=actor, data={
            "code": code, "from_node_id": nodes[start].id, "to_node_id": nodes[end].id,
            "diameter_mm": diameter, "material": material,
            "route": {"type": "LineString", "coordinates": [where[start], where[end]]},
        })  # fmt: skip
    return True
