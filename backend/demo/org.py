"""The demo utility's organisation, logins, crews, vehicles and devices (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.models import Device, Role, User
from backend.auth.passwords import hash_secret
from backend.db import point_element
from backend.org import service as org
from backend.org.models import Crew, CrewMember, Department, Vehicle

DEMO_PASSWORD = "fieldline-demo"  # noqa: S105 - published demo login
DEMO_DEVICE_SECRET = "fieldline-device-demo"  # noqa: S105 - published demo secret

# (code, name, kind, parent code, lon, lat, specialties)
DEPARTMENTS = [
    ("CALL", "95598 Call Center", "call_center", "ROOT", 120.1551, 30.2741, []),
    ("RC-N", "North Repair Center", "repair_center", "ROOT", 120.1650, 30.2950, []),
    (
        "ST-URB",
        "Urban Station (low voltage)",
        "station",
        "RC-N",
        120.1650,
        30.2950,
        ["low_voltage", "meters"],
    ),
    ("ST-SUB", "Suburban Station (10 kV)", "station", "RC-N", 120.0900, 30.3300, ["10kv"]),
    ("ST-EMR", "Emergency Repair Team", "station", "RC-N", 120.2100, 30.2600, ["10kv"]),
    ("ST-WAT", "Water Network Team", "station", "RC-N", 120.1400, 30.2500, ["water"]),
]

# (username, full name, role, department code)
USERS = [
    ("admin", "System Administrator", Role.ADMIN, "ROOT"),
    ("auditor", "Internal Auditor", Role.AUDITOR, "ROOT"),
    ("callcenter", "Wang Li (call center)", Role.CALL_CENTER, "CALL"),
    ("dispatcher", "Zhao Min (repair center)", Role.REPAIR_CENTER, "RC-N"),
    ("supervisor", "Chen Gang (supervisor)", Role.SUPERVISOR, "RC-N"),
    ("crew1", "Liu Yang (urban crew)", Role.CREW, "ST-URB"),
    ("crew2", "Sun Hao (urban crew)", Role.CREW, "ST-URB"),
    ("crew3", "Zhou Qiang (10 kV crew)", Role.CREW, "ST-SUB"),
    ("crew4", "Wu Lei (emergency crew)", Role.CREW, "ST-EMR"),
    ("crew5", "Zheng Tao (water crew)", Role.CREW, "ST-WAT"),
    ("crew6", "Ma Jun (urban crew)", Role.CREW, "ST-URB"),
    ("inspector", "Huang Bo (inspector)", Role.INSPECTOR, "ST-URB"),
    ("archivist", "Lin Fang (archivist)", Role.ARCHIVIST, "ROOT"),
    ("collector", "Xu Jing (collections)", Role.COLLECTIONS, "RC-N"),
    ("keyaccount", "He Yun (key-account manager)", Role.KEY_ACCOUNT, "RC-N"),
]

# (crew name, station, work types, [(username, work type, receives orders)], plate, terminal)
CREWS = [
    (
        "Urban Crew 1",
        "ST-URB",
        ["low_voltage", "meters"],
        [("crew1", "low_voltage", True), ("crew2", "meters", False)],
        "ZJ-A1001",
        "T-1001",
    ),
    ("Suburban Crew 1", "ST-SUB", ["10kv"], [("crew3", "10kv", True)], "ZJ-A2001", "T-2001"),
    ("Emergency Crew 1", "ST-EMR", ["10kv"], [("crew4", "10kv", True)], "ZJ-A3001", "T-3001"),
    ("Water Crew 1", "ST-WAT", ["water"], [("crew5", "water", True)], "ZJ-A4001", "T-4001"),
    # A second low-voltage crew, so one of them can stand down for a meal (seed 001's rule).
    (
        "Urban Crew 2",
        "ST-URB",
        ["low_voltage"],
        [("crew6", "low_voltage", True)],
        "ZJ-A1002",
        "T-1002",
    ),
]


@dataclass
class DemoOrg:
    """Handles to the seeded records, for later seeding steps and tests."""

    departments: dict[str, Department]
    users: dict[str, User]
    crews: dict[str, Crew]
    vehicles: dict[str, Vehicle]


def seed_org(session: Session) -> DemoOrg:
    """Create the demo organisation unless it exists; returns handles either way."""
    departments: dict[str, Department] = {d.code: d for d in session.scalars(select(Department))}
    if "ROOT" not in departments:
        departments["ROOT"] = org.create_root_department(
            session=session,
            code="ROOT",
            name="Fieldline Power Supply Co.",
            region_code="HZ",
            site=point_element(120.1551, 30.2741),
            supervisor_phone_1="+86 571 0000 0001",
            supervisor_phone_2="+86 571 0000 0002",
        )
    for index, (code, name, kind, parent, lon, lat, specialties) in enumerate(DEPARTMENTS):
        if code in departments:
            continue
        parent_dept = departments[parent]
        department = Department(
            code=code,
            name=name,
            kind=kind,
            parent_id=parent_dept.id,
            region_code="HZ",
            site=point_element(lon, lat),
            specialties=specialties,
            supervisor_phone_1=f"+86 571 8{index:03d} 0001",
            supervisor_phone_2=f"+86 571 8{index:03d} 0002",
        )
        session.add(department)
        session.flush()
        department.path = f"{parent_dept.path}{department.id}/"
        departments[code] = department
    users = {u.username: u for u in session.scalars(select(User))}
    password_hash = hash_secret(DEMO_PASSWORD)
    for username, full_name, role, dept in USERS:
        if username not in users:
            users[username] = User(
                username=username,
                full_name=full_name,
                role=role,
                department_id=departments[dept].id,
                password_hash=password_hash,
            )
            session.add(users[username])
    session.flush()
    crews = {c.name: c for c in session.scalars(select(Crew))}
    vehicles = {v.plate: v for v in session.scalars(select(Vehicle))}
    device_hash = hash_secret(DEMO_DEVICE_SECRET)
    for name, station, work_types, members, plate, terminal in CREWS:
        if name not in crews:
            crews[name] = Crew(
                name=name,
                department_id=departments[station].id,
                work_types=work_types,
                members=[
                    CrewMember(user_id=users[u].id, work_type=w, receives_orders=r)
                    for u, w, r in members
                ],
            )
            session.add(crews[name])
            session.flush()
        if plate not in vehicles:
            vehicles[plate] = Vehicle(
                plate=plate,
                department_id=departments[station].id,
                crew_id=crews[name].id,
                specialty=work_types[0],
                terminal_id=terminal,
            )
            session.add(vehicles[plate])
            session.flush()
            session.add(
                Device(
                    identifier=terminal,
                    kind="vehicle_terminal",
                    secret_hash=device_hash,
                    department_id=departments[station].id,
                    crew_id=crews[name].id,
                    vehicle_id=vehicles[plate].id,
                )
            )
            session.add(
                Device(
                    identifier=f"H-{terminal[2:]}",
                    kind="handheld",
                    secret_hash=device_hash,
                    department_id=departments[station].id,
                    crew_id=crews[name].id,
                )
            )
    session.flush()
    return DemoOrg(departments=departments, users=users, crews=crews, vehicles=vehicles)
