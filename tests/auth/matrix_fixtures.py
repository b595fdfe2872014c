"""Records the authorization matrix runs against: the demo org's ("own") and a foreign tree's.

The foreign records live in a second company tree, outside every demo user's department,
so each scoped operation is tried on a record the caller may see and one it may not.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.models import Photo
from backend.auth.actor import Actor
from backend.auth.models import Device, User
from backend.auth.passwords import hash_secret
from backend.demo import DEMO_DEVICE_SECRET, DEMO_PASSWORD, DemoOrg
from backend.dispatch import service
from backend.dispatch.models import Alert, WorkOrder
from backend.inspection.models import Inspection
from backend.org.models import Crew, Department, Vehicle
from sync.store.tables import BlobRecord, SyncConflict
from tests.network.matrix_records import network_records

SYSTEM = Actor(kind="system", id=0, label="matrix", department_id=0, department_path="/")


@dataclass(frozen=True)
class Side:
    """The ids one variant (own or foreign) of the matrix uses."""

    station: int
    repair_center: int
    call_center: int
    crew: int
    vehicle: int
    order: str
    user: int
    alert: int
    conflict: int
    sha256: str
    inspection: str
    line: str
    area: str
    outage: str
    suggestion: int
    node: str
    junction: str
    pipe: str
    visit: str
    device: int


def _order(session: Session, *, call: int, center: int, crew: int, specialty: str) -> WorkOrder:
    now = datetime.now(UTC)
    data = {
        "order_type": "electric",
        "fault_type": "no power",
        "specialty": specialty,
        "address": "1 Matrix Rd",
        "hung_up_at": now - timedelta(minutes=5),
        "call_center_id": call,
        "repair_center_id": center,
    }
    order = service.create_order(session=session, actor=SYSTEM, data=data)
    service.accept_at_center(session=session, actor=SYSTEM, order_id=order.id)
    service.dispatch_order(session=session, actor=SYSTEM, order_id=order.id, crew_id=crew)
    return order


def blob_bytes(department: int, crew: int) -> bytes:
    """The bytes of a side's blob (a photo of its order; the matrix writes them to storage)."""
    return f"matrix-{department}-{crew}".encode()


def _extras(session: Session, order: WorkOrder, department: int, crew: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    alert = Alert(
        order_id=order.id,
        tier="repair_center",
        stage=1,
        department_id=order.repair_center_id,
        message="matrix",
        due_at=now,
    )
    conflict = SyncConflict(
        entity="inspection",
        record_id=str(uuid.uuid4()),
        field="notes",
        server_value="a",
        client_value="b",
        mutation_id=str(uuid.uuid4()),
        device="matrix",
        department_id=department,
        crew_id=crew,
        created_at=now,
    )
    data = blob_bytes(department, crew)
    sha = hashlib.sha256(data).hexdigest()
    blob = BlobRecord(
        sha256=sha,
        media_type="image/jpeg",
        size=len(data),
        received=len(data),
        complete=True,
        uploaded_by="matrix",
        created_at=now,
        updated_at=now,
    )
    photo = Photo(id=uuid.uuid4(), sha256=sha, order_id=order.id, department_id=department)
    photo.crew_id = crew
    inspection = Inspection(
        id=uuid.uuid4(), status="in_progress", department_id=department, crew_id=crew
    )
    # A handheld of the crew nobody logs in as: the device routes may disable and rotate it.
    device = Device(
        identifier=f"H-MX-{department}-{crew}",
        kind="handheld",
        secret_hash=hash_secret(DEMO_DEVICE_SECRET),
        department_id=department,
        crew_id=crew,
    )
    session.add_all([alert, conflict, blob, photo, inspection, device])
    session.flush()
    return {
        "visit": _collection_visit(session, department, crew),
        "device": device.id,
        **network_records(session, department),
        "alert": alert.id,
        "conflict": conflict.id,
        "sha256": sha,
        "inspection": str(inspection.id),
    }


def _collection_visit(session: Session, department: int, crew: int) -> str:
    """A customer of the station owing money, its collection case, a visit sent to the crew."""
    from decimal import Decimal

    from backend.archive.records import Customer
    from backend.risk.models import CollectionCase, CollectionVisit

    now = datetime.now(UTC)
    customer = Customer(
        id=uuid.uuid4(), account_number=f"MX-{uuid.uuid4().hex[:10]}", name="matrix",
        customer_type="non_residential", voltage_level="10kV", contract_capacity_kw=50.0,
        region_code="HZ", department_id=department, updated_by="matrix", contacts=[],
    )  # fmt: skip
    session.add(customer)
    session.flush()
    case = CollectionCase(
        id=uuid.uuid4(), number=f"COL-MX-{uuid.uuid4().hex[:8]}", customer_id=customer.id,
        department_id=department, amount=Decimal(100), stage="visit",
        stage_due_on=now.date(), opened_by="matrix", opened_at=now,
    )  # fmt: skip
    session.add(case)
    session.flush()
    visit = CollectionVisit(
        id=uuid.uuid4(), case_id=case.id, customer_id=customer.id, department_id=department,
        crew_id=crew, customer_name="matrix", address="1 Matrix Rd", amount_due=100.0,
        due_on=now.date().isoformat(), status="open", created_by="matrix", created_at=now,
    )  # fmt: skip
    session.add(visit)
    session.flush()
    return str(visit.id)


def own_side(
    session: Session,
    demo: DemoOrg,
    crew_name: str = "Urban Crew 1",
    plate: str = "ZJ-A1001",
    member: str = "crew1",
) -> Side:
    """Urban Crew 1 (crew1, terminal T-1001), its vehicle, and an order dispatched to it.

    With another crew of the same station (Urban Crew 2): the "other crew" variant.
    """
    crew = demo.crews[crew_name]
    order = _order(
        session,
        call=demo.departments["CALL"].id,
        center=demo.departments["RC-N"].id,
        crew=crew.id,
        specialty="low_voltage",
    )
    extras = _extras(session, order, crew.department_id, crew.id)
    return Side(
        station=crew.department_id,
        repair_center=demo.departments["RC-N"].id,
        call_center=demo.departments["CALL"].id,
        crew=crew.id,
        vehicle=demo.vehicles[plate].id,
        order=str(order.id),
        user=demo.users[member].id,
        **extras,
    )


def _department(session: Session, code: str, kind: str, parent: Department | None) -> Department:
    department = Department(
        code=code, name=code, kind=kind, parent_id=parent.id if parent else None
    )
    department.region_code = "HZ"
    session.add(department)
    session.flush()
    department.path = f"{parent.path if parent else '/'}{department.id}/"
    session.flush()
    return department


def foreign_side(session: Session) -> Side:
    """The same kinds of records in a second company tree nobody in the demo org sees."""
    root = _department(session, "FOREIGN", "company", None)
    call = _department(session, "F-CALL", "call_center", root)
    center = _department(session, "F-RC", "repair_center", root)
    station = _department(session, "F-ST", "station", center)
    crew = Crew(name="Foreign Crew", department_id=station.id, work_types=["low_voltage"])
    session.add(crew)
    session.flush()
    vehicle = Vehicle(
        plate="F-0001", department_id=station.id, specialty="low_voltage", crew_id=crew.id
    )
    user = User(
        username="foreign-crew",
        full_name="Foreign",
        password_hash=hash_secret(DEMO_PASSWORD),
        role="crew",
        department_id=station.id,
    )
    session.add_all([vehicle, user])
    session.flush()
    order = _order(session, call=call.id, center=center.id, crew=crew.id, specialty="low_voltage")
    extras = _extras(session, order, station.id, crew.id)
    return Side(
        station=station.id,
        repair_center=center.id,
        call_center=call.id,
        crew=crew.id,
        vehicle=vehicle.id,
        order=str(order.id),
        user=user.id,
        **extras,
    )


def department_of(session: Session, username: str | None) -> int:
    """The department of a demo user (the station of Urban Crew 1 for devices and anonymous)."""
    user = session.scalar(select(User).where(User.username == (username or "crew1")))
    assert user is not None
    return user.department_id


def user_id_of(session: Session, username: str | None) -> int:
    """A demo user's own id (crew1's for devices and anonymous)."""
    user = session.scalar(select(User).where(User.username == (username or "crew1")))
    assert user is not None
    return user.id


def terminal(session: Session) -> Device:
    """The demo vehicle terminal whose token is the matrix's device caller."""
    device = session.scalar(select(Device).where(Device.identifier == "T-1001"))
    assert device is not None
    return device
