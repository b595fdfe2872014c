"""Who is calling and which departments' records they may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from backend.auth.models import User
from backend.errors import NotFound, OutOfScope
from backend.org.models import CrewMember, Department


@dataclass(frozen=True)
class Actor:
    """The authenticated caller: a user or a device, with its department scope."""

    kind: str  # "user", "device" or "system"
    id: int
    label: str
    department_id: int
    department_path: str
    role: str | None = None
    crew_id: int | None = None
    vehicle_id: int | None = None
    crew_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def audit_name(self) -> str:
        """Return the name written into the audit log, e.g. `user:3:alice`."""
        return f"{self.kind}:{self.id}:{self.label}"

    def sees_path(self, path: str) -> bool:
        """Tell whether a department with this path is inside the caller's scope."""
        return path.startswith(self.department_path)


def actor_for_user(session: Session, user: User) -> Actor:
    """Build the actor of a user: its department scope and the crews it belongs to."""
    crew_ids = frozenset(
        session.scalars(select(CrewMember.crew_id).where(CrewMember.user_id == user.id))
    )
    return Actor(
        kind="user",
        id=user.id,
        label=user.username,
        department_id=user.department_id,
        department_path=user.department.path,
        role=user.role,
        crew_id=min(crew_ids) if crew_ids else None,
        crew_ids=crew_ids,
    )


def visible_departments(actor: Actor) -> Select[tuple[int]]:
    """Return a select of the ids of the actor's department and every department below it."""
    return departments_under(actor.department_path)


def departments_under(path: Any) -> Select[tuple[int]]:
    """Return a select of the ids of the departments whose path starts with `path`.

    `path` is a department path or a bind parameter standing for one (statements built once
    and run for any actor: `Actor.department_path` is the value to bind).
    """
    return select(Department.id).where(Department.path.startswith(path))


def scope_filter(
    actor: Actor, department_column: InstrumentedAttribute[int]
) -> ColumnElement[bool]:
    """Return a WHERE clause keeping rows whose department is the actor's or below it."""
    return department_column.in_(visible_departments(actor))


def ensure_department_in_scope(session: Session, actor: Actor, department_id: int) -> Department:
    """Load a department the actor may act on, or raise 403/404."""
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"Department {department_id} does not exist.")
    if not actor.sees_path(department.path):
        raise OutOfScope(f"Department {department_id} is outside your data scope.")
    return department
