"""Which fields of a customer file each role sees, and which files: data, in one place.

Who may do what is the project's policy (`backend.auth.policy`, the `ARCHIVE_*` actions);
here are the field-level permissions per role (`FIELD_ACCESS`) and the data scope
(`customer_scope`: the owning department's subtree, plus the premises of one's own work).
"""

from __future__ import annotations

from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true

from backend.auth.actor import Actor, visible_departments
from backend.auth.models import Role
from backend.auth.policy import Action, authorize, can, crew_bound, own_crews
from backend.org.models import Department

# The archive's actions live in the one policy (`backend.auth.policy.Action`, rules in
# `RULES`); these names keep the archive's call sites short.
ArchiveAction = SimpleNamespace(
    READ_CUSTOMER=Action.ARCHIVE_READ,
    EDIT_CUSTOMER=Action.ARCHIVE_EDIT,
    CLOSE_CUSTOMER=Action.ARCHIVE_CLOSE,
    CORRECT_PREMISE=Action.PREMISE_CORRECT,
    EDIT_METER=Action.METER_EDIT,
    ATTACH_DOCUMENT=Action.DOCUMENT_ATTACH,
    IMPORT=Action.ARCHIVE_IMPORT,
    EXPORT=Action.ARCHIVE_EXPORT,
    CONFIGURE=Action.ARCHIVE_CONFIGURE,
    REQUEST_ACCESS=Action.ARCHIVE_ACCESS_REQUEST,
    READ_LOG=Action.ARCHIVE_READ_LOG,
    RECORD_STEP=Action.ARCHIVE_STEP_RECORD,
    READ_DEADLINES=Action.ARCHIVE_DEADLINE_READ,
)


class Level(StrEnum):
    """How much of a field group a role sees."""

    FULL = "full"
    MASKED = "masked"  # phones: the last four digits only
    HIDDEN = "hidden"


# Field groups of a customer file; `credit` (the risk domain's ratings) follows the policy's
# `risk.read` rule rather than this table, so the two cannot disagree.
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "contacts": ("contacts",),
    "contract": (
        "contract_number", "contract_signed_on", "contract_expires_on", "supply_scheme",
        "contract_capacity_kw",
    ),
    "credit": (),
}  # fmt: skip

_DEFAULT = {"contacts": Level.MASKED, "contract": Level.FULL}
FIELD_ACCESS: dict[str, dict[str, Level]] = {
    Role.ADMIN: {"contacts": Level.FULL, "contract": Level.FULL},
    Role.ARCHIVIST: {"contacts": Level.FULL, "contract": Level.FULL},
    Role.SUPERVISOR: {"contacts": Level.FULL, "contract": Level.FULL},
    Role.CALL_CENTER: {"contacts": Level.FULL, "contract": Level.HIDDEN},
    Role.REPAIR_CENTER: {"contacts": Level.MASKED, "contract": Level.HIDDEN},
    # Crews see the address, the meters and whom to call at the door; not contracts or credit.
    Role.CREW: {"contacts": Level.FULL, "contract": Level.HIDDEN},
    Role.INSPECTOR: {"contacts": Level.FULL, "contract": Level.FULL},
    Role.AUDITOR: {"contacts": Level.MASKED, "contract": Level.FULL},
    # Collections and key-account managers call the customer and negotiate the contract.
    Role.COLLECTIONS: {"contacts": Level.FULL, "contract": Level.FULL},
    Role.KEY_ACCOUNT: {"contacts": Level.FULL, "contract": Level.FULL},
    "device": {"contacts": Level.FULL, "contract": Level.HIDDEN},
}


def allowed(actor: Actor, action: Action) -> bool:
    """Tell whether the actor's role may do `action` (the policy decides)."""
    return can(actor, action)


def require(actor: Actor, action: Action) -> None:
    """Raise 403 unless the actor may do `action` (the policy decides)."""
    authorize(actor, action)


def field_levels(actor: Actor) -> dict[str, Level]:
    """Return the actor's level for each field group."""
    if actor.kind == "system":
        return dict.fromkeys(FIELD_GROUPS, Level.FULL)
    levels = {**_DEFAULT, **FIELD_ACCESS.get(actor.role or "", {})}
    levels["credit"] = Level.FULL if can(actor, Action.RISK_READ) else Level.HIDDEN
    return levels


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


def customer_scope(actor: Actor, session: Any = None) -> ColumnElement[bool]:
    """WHERE clause on `customers`: owned by the actor's departments, or where its crews work.

    The one archive scope, for REST and sync pulls alike. Crew members and devices see exactly
    the customers at the premises of the orders and inspections their crews hold (not their
    station's whole archive); other users their departments' files, plus the customers where
    their crews work (wherever those files are kept); the call center its region's customers.
    """
    from backend.archive.grants import scope_addition
    from backend.archive.records import Customer
    from backend.archive.worksites import worked_customer_ids

    if actor.kind == "system":
        return true()
    crews = own_crews(actor)
    clauses: list[ColumnElement[bool]] = []
    if crews:
        clauses.append(Customer.id.in_(worked_customer_ids(crews)))
    if not crew_bound(actor):
        departments: Any = visible_departments(actor)
        if session is not None:  # a literal list lets the planner use the search indexes alone
            departments = list(session.scalars(departments))
        clauses.append(Customer.department_id.in_(departments))
        # The call center answers every caller of its region (95598 quick query), wherever
        # the file is kept; its field permissions still hide the contract.
        if can(actor, Action.ARCHIVE_READ_REGION):
            region = select(Department.region_code).where(Department.id == actor.department_id)
            clauses.append(Customer.region_code.in_(region))
    granted = scope_addition(actor)  # an approved access request, for reading only
    if granted is not None:
        clauses.append(granted)
    return or_(*clauses) if clauses else false()


def in_scope(session: Any, actor: Actor, customer_id: Any) -> bool:
    """Tell whether one customer is inside the actor's data scope."""
    from backend.archive.records import Customer

    found = session.scalar(
        select(Customer.id).where(Customer.id == customer_id, customer_scope(actor, session))
    )
    return found is not None


# Documents of these stages carry the contract's content, so they follow the contract group.
CONTRACT_STAGES = frozenset({"contract"})


def hidden_document_stages(actor: Actor) -> frozenset[str]:
    """Return the document stages the actor may not see (contracts, where contracts are hidden)."""
    if field_levels(actor)["contract"] is Level.HIDDEN:
        return CONTRACT_STAGES
    return frozenset()
