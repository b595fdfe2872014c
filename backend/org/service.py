"""Rules for the organisation tree, crews and vehicles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload

from backend.auth.actor import Actor, scope_filter
from backend.auth.models import User
from backend.auth.policy import Action, authorize, load_in_scope, sees_department
from backend.errors import Conflict, field_error
from backend.org.models import Crew, CrewMember, Department, Vehicle


def list_departments(*, actor: Actor) -> Select[tuple[Department]]:
    """Return a select of the departments the actor sees."""
    authorize(actor, Action.DEPARTMENT_READ)
    return (
        select(Department)
        .where(Department.path.startswith(actor.department_path))
        .order_by(Department.path)
    )


def get_department(*, session: Session, actor: Actor, department_id: int) -> Department:
    """Load a department in scope."""
    return load_in_scope(session, actor, Department, department_id, action=Action.DEPARTMENT_READ)


def create_department(*, session: Session, actor: Actor, data: dict[str, Any]) -> Department:
    """Create a department below a parent in the actor's scope."""
    parent = load_in_scope(
        session, actor, Department, data["parent_id"], action=Action.DEPARTMENT_CREATE
    )
    if session.scalar(select(Department.id).where(Department.code == data["code"])):
        raise Conflict(f"Department code '{data['code']}' is taken.")
    department = Department(**data)
    session.add(department)
    session.flush()
    department.path = f"{parent.path}{department.id}/"
    session.flush()
    return department


def create_root_department(*, session: Session, code: str, name: str, **data: Any) -> Department:
    """Create the top of the tree (used by seeding and first setup, not by the API)."""
    department = Department(code=code, name=name, kind=data.pop("kind", "company"), **data)
    session.add(department)
    session.flush()
    department.path = f"/{department.id}/"
    session.flush()
    return department


def update_department(
    *, session: Session, actor: Actor, department_id: int, data: dict[str, Any]
) -> Department:
    """Change a department's details."""
    department = load_in_scope(
        session, actor, Department, department_id, action=Action.DEPARTMENT_UPDATE
    )
    for key, value in data.items():
        setattr(department, key, value)
    session.flush()
    return department


def list_crews(*, actor: Actor) -> Select[tuple[Crew]]:
    """Return a select of the crews the actor sees."""
    authorize(actor, Action.CREW_READ)
    return (
        select(Crew)
        .where(scope_filter(actor, Crew.department_id))
        # The list shows members and their names: two queries, not N.
        .options(selectinload(Crew.members).selectinload(CrewMember.user))
        .order_by(Crew.id)
    )


def get_crew(*, session: Session, actor: Actor, crew_id: int) -> Crew:
    """Load a crew in scope."""
    return load_in_scope(session, actor, Crew, crew_id, action=Action.CREW_READ)


def _members(session: Session, actor: Actor, rows: list[dict[str, Any]]) -> list[CrewMember]:
    seen: set[int] = set()
    members = []
    for row in rows:
        user = session.get(User, row["user_id"])
        if user is None or not sees_department(actor, user.department):
            raise field_error("members", f"User {row['user_id']} does not exist in your scope.")
        if row["user_id"] in seen:
            raise field_error("members", f"User {row['user_id']} is listed twice.")
        seen.add(row["user_id"])
        members.append(CrewMember(**row))
    return members


def create_crew(*, session: Session, actor: Actor, data: dict[str, Any]) -> Crew:
    """Create a crew of a station in scope, with its members."""
    load_in_scope(session, actor, Department, data["department_id"], action=Action.CREW_MANAGE)
    members = _members(session, actor, data.pop("members", []))
    crew = Crew(**data, members=members)
    session.add(crew)
    session.flush()
    return crew


def update_crew(*, session: Session, actor: Actor, crew_id: int, data: dict[str, Any]) -> Crew:
    """Change a crew; a given member list replaces the current one."""
    crew = load_in_scope(session, actor, Crew, crew_id, action=Action.CREW_MANAGE)
    if "members" in data:
        crew.members = _members(session, actor, data.pop("members"))
    for key, value in data.items():
        setattr(crew, key, value)
    session.flush()
    return crew


def list_vehicles(*, actor: Actor) -> Select[tuple[Vehicle]]:
    """Return a select of the vehicles the actor sees."""
    authorize(actor, Action.VEHICLE_READ)
    return select(Vehicle).where(scope_filter(actor, Vehicle.department_id)).order_by(Vehicle.id)


def get_vehicle(*, session: Session, actor: Actor, vehicle_id: int) -> Vehicle:
    """Load a vehicle in scope."""
    return load_in_scope(session, actor, Vehicle, vehicle_id, action=Action.VEHICLE_READ)


# The MQTT logins of Fieldline's own services (`fieldline vehicles credentials --service-user`
# defaults): a terminal taking one would read every vehicle and write every order.
RESERVED_LOGINS = frozenset({"ingest", "simulator"})


def _check_vehicle_refs(session: Session, actor: Actor, data: dict[str, Any]) -> None:
    if data.get("crew_id") is not None:
        load_in_scope(session, actor, Crew, data["crew_id"])
    if data.get("terminal_id"):
        if data["terminal_id"] in RESERVED_LOGINS:
            raise Conflict(f"'{data['terminal_id']}' is a service's MQTT login, not a terminal's.")
        taken = session.scalar(select(Vehicle.id).where(Vehicle.terminal_id == data["terminal_id"]))
        if taken is not None:
            raise Conflict(f"Terminal '{data['terminal_id']}' is fitted to vehicle {taken}.")


def create_vehicle(*, session: Session, actor: Actor, data: dict[str, Any]) -> Vehicle:
    """Register a vehicle with a home department in scope."""
    load_in_scope(session, actor, Department, data["department_id"], action=Action.VEHICLE_MANAGE)
    if session.scalar(select(Vehicle.id).where(Vehicle.plate == data["plate"])):
        raise Conflict(f"Plate '{data['plate']}' is already registered.")
    _check_vehicle_refs(session, actor, data)
    vehicle = Vehicle(**data)
    session.add(vehicle)
    session.flush()
    return vehicle


def update_vehicle(
    *, session: Session, actor: Actor, vehicle_id: int, data: dict[str, Any]
) -> Vehicle:
    """Change a vehicle's crew, specialty, terminal or reporting interval."""
    vehicle = load_in_scope(session, actor, Vehicle, vehicle_id, action=Action.VEHICLE_MANAGE)
    if "terminal_id" in data and data["terminal_id"] == vehicle.terminal_id:
        del data["terminal_id"]  # refitting the same terminal is not a conflict with itself
    _check_vehicle_refs(session, actor, data)
    for key, value in data.items():
        setattr(vehicle, key, value)
    session.flush()
    return vehicle
