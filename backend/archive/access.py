"""Who may do what in the archive, and which fields each role sees: data, in one place.

Kept as tables so `backend.auth.policy` (the project-wide policy) can absorb them unchanged:
`ACTION_ROLES` is Actions x roles, `FIELD_ACCESS` the field-level permissions per role, and
`customer_scope` the data scope (owning department, plus the premises of one's own work).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, or_, select

from backend.auth.actor import Actor, visible_departments
from backend.auth.models import Role
from backend.errors import Forbidden


class ArchiveAction(StrEnum):
    """Things one does with customer files."""

    READ_CUSTOMER = "archive.read_customer"
    EDIT_CUSTOMER = "archive.edit_customer"
    CLOSE_CUSTOMER = "archive.close_customer"
    EDIT_METER = "archive.edit_meter"
    ATTACH_DOCUMENT = "archive.attach_document"
    IMPORT = "archive.import"
    EXPORT = "archive.export"
    CONFIGURE = "archive.configure"


_ALL = frozenset(Role)
ACTION_ROLES: dict[ArchiveAction, frozenset[str]] = {
    ArchiveAction.READ_CUSTOMER: _ALL,
    ArchiveAction.EDIT_CUSTOMER: frozenset({Role.ADMIN, Role.ARCHIVIST, Role.SUPERVISOR}),
    ArchiveAction.CLOSE_CUSTOMER: frozenset({Role.ADMIN, Role.ARCHIVIST, Role.SUPERVISOR}),
    # Inspectors verify meters in the field (seals, faults, calibration).
    ArchiveAction.EDIT_METER: frozenset(
        {Role.ADMIN, Role.ARCHIVIST, Role.SUPERVISOR, Role.INSPECTOR}
    ),
    ArchiveAction.ATTACH_DOCUMENT: frozenset(
        {Role.ADMIN, Role.ARCHIVIST, Role.SUPERVISOR, Role.INSPECTOR, Role.CREW}
    ),
    ArchiveAction.IMPORT: frozenset({Role.ADMIN, Role.ARCHIVIST}),
    ArchiveAction.EXPORT: frozenset({Role.ADMIN, Role.ARCHIVIST, Role.SUPERVISOR, Role.AUDITOR}),
    ArchiveAction.CONFIGURE: frozenset({Role.ADMIN}),
}


class Level(StrEnum):
    """How much of a field group a role sees."""

    FULL = "full"
    MASKED = "masked"  # phones: the last four digits only
    HIDDEN = "hidden"


# Field groups of a customer file; `credit` is reserved for the credit rating fields.
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "contacts": ("contacts",),
    "contract": (
        "contract_number", "contract_signed_on", "contract_expires_on", "supply_scheme",
        "contract_capacity_kw",
    ),
    "credit": (),
}  # fmt: skip

_DEFAULT = {"contacts": Level.MASKED, "contract": Level.FULL, "credit": Level.HIDDEN}
FIELD_ACCESS: dict[str, dict[str, Level]] = {
    Role.ADMIN: {"contacts": Level.FULL, "contract": Level.FULL, "credit": Level.FULL},
    Role.ARCHIVIST: {"contacts": Level.FULL, "contract": Level.FULL, "credit": Level.FULL},
    Role.SUPERVISOR: {"contacts": Level.FULL, "contract": Level.FULL, "credit": Level.FULL},
    Role.CALL_CENTER: {"contacts": Level.FULL, "contract": Level.HIDDEN, "credit": Level.HIDDEN},
    Role.REPAIR_CENTER: {"contacts": Level.MASKED, "contract": Level.HIDDEN},
    # Crews see the address, the meters and whom to call at the door; not contracts or credit.
    Role.CREW: {"contacts": Level.FULL, "contract": Level.HIDDEN, "credit": Level.HIDDEN},
    Role.INSPECTOR: {"contacts": Level.FULL, "contract": Level.FULL, "credit": Level.HIDDEN},
    Role.AUDITOR: {"contacts": Level.MASKED, "contract": Level.FULL, "credit": Level.FULL},
    "device": {"contacts": Level.FULL, "contract": Level.HIDDEN, "credit": Level.HIDDEN},
}


def allowed(actor: Actor, action: ArchiveAction) -> bool:
    """Tell whether the actor's role may do `action` (system actors may do everything)."""
    if actor.kind == "system":
        return True
    return (actor.role or "") in ACTION_ROLES[action]


def require(actor: Actor, action: ArchiveAction) -> None:
    """Raise 403 unless the actor may do `action`."""
    if not allowed(actor, action):
        raise Forbidden(f"Your role '{actor.role}' may not do {action.value}.")


def field_levels(actor: Actor) -> dict[str, Level]:
    """Return the actor's level for each field group."""
    if actor.kind == "system":
        return dict.fromkeys(FIELD_GROUPS, Level.FULL)
    return {**_DEFAULT, **FIELD_ACCESS.get(actor.role or "", {})}


def mask_phone(phone: Any) -> Any:
    """Keep the last four digits of a phone number: `*******5678`."""
    if not isinstance(phone, str) or len(phone) <= 4:
        return "****" if phone else phone
    return "*" * (len(phone) - 4) + phone[-4:]


def redact(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Apply the field-level permissions to a customer's fields (a view or a version)."""
    levels = field_levels(actor)
    result = dict(data)
    for group, names in FIELD_GROUPS.items():
        level = levels[group]
        for name in names:
            if name not in result:
                continue
            if level is Level.HIDDEN:
                result.pop(name)
            elif level is Level.MASKED and name == "contacts":
                result[name] = [
                    {**c, "phone": mask_phone(c.get("phone"))} for c in result[name] or []
                ]
    result["_hidden"] = sorted(
        n for g, names in FIELD_GROUPS.items() if levels[g] is Level.HIDDEN for n in names
    )
    return result


def customer_scope(actor: Actor) -> ColumnElement[bool]:
    """WHERE clause on `customers`: owned by the actor's departments, or where its crews work.

    A crew member or inspector also sees the customers at the premises of the orders and
    inspections their crews hold, wherever those customers' files are kept.
    """
    from backend.archive.records import Customer
    from backend.archive.worksites import worked_customer_ids

    own = Customer.department_id.in_(visible_departments(actor))
    if not actor.crew_ids:
        return own
    return or_(own, Customer.id.in_(worked_customer_ids(actor.crew_ids)))


def in_scope(session: Any, actor: Actor, customer_id: Any) -> bool:
    """Tell whether one customer is inside the actor's data scope."""
    from backend.archive.records import Customer

    found = session.scalar(
        select(Customer.id).where(Customer.id == customer_id, customer_scope(actor))
    )
    return found is not None
