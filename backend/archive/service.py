"""Customer files: open, change (as new versions), close, find; premises of a customer."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from backend.archive import versions
from backend.archive.access import (
    ArchiveAction,
    Level,
    customer_scope,
    field_levels,
    require,
)
from backend.archive.records import Customer, Meter, Premise
from backend.archive.search import customer_search_text, ranked, search_terms
from backend.archive.vocab import AccountStatus, Source
from backend.auth.actor import Actor, ensure_department_in_scope
from backend.auth.policy import load_in_scope
from backend.db import utcnow
from backend.errors import Conflict, Forbidden, NotFound, OutOfScope, field_error
from backend.network.links import check_premise_links
from backend.org.models import Department

CUSTOMER_EDITABLE = (
    "name", "customer_type", "voltage_level", "contract_capacity_kw", "region_code",
    "department_id", "contacts", "contract_number", "contract_signed_on",
    "contract_expires_on", "supply_scheme",
)  # fmt: skip
PREMISE_EDITABLE = (
    "address", "location", "region_code", "transformer_area_id", "line_id", "line_name",
    "access_notes",
)  # fmt: skip


def known_regions(session: Session) -> set[str]:
    """Return the region codes the organisation serves (those of its departments)."""
    return {r for r in session.scalars(select(Department.region_code).distinct()) if r}


def check_region(session: Session, region_code: str, field: str = "region_code") -> None:
    """Refuse a region no department serves."""
    if region_code not in known_regions(session):
        raise field_error(field, f"Unknown region {region_code!r}.")


def get_customer(*, session: Session, actor: Actor, customer_id: uuid.UUID) -> Customer:
    """Load a customer inside the actor's scope or raise 404/403."""
    require(actor, ArchiveAction.READ_CUSTOMER)
    return load_in_scope(session, actor, Customer, customer_id)


def premises_of(session: Session, customer_id: uuid.UUID) -> list[Premise]:
    """Return a customer's premises."""
    return list(session.scalars(select(Premise).where(Premise.customer_id == customer_id)))


def meters_of(session: Session, customer_id: uuid.UUID) -> list[Meter]:
    """Return a customer's meters."""
    return list(session.scalars(select(Meter).where(Meter.customer_id == customer_id)))


def refresh_search(session: Session, customer: Customer) -> None:
    """Recompute the customer's derived search text (not history: no version)."""
    text = customer_search_text(customer, premises_of(session, customer.id))
    if text != customer.search_text:
        customer.search_text = text
        session.flush()


def _owner(session: Session, actor: Actor, department_id: int | None) -> int:
    department_id = department_id or actor.department_id
    if actor.kind != "system":
        try:
            ensure_department_in_scope(session, actor, department_id)
        except (NotFound, OutOfScope) as exc:
            raise field_error("department_id", exc.detail) from exc
    elif session.get(Department, department_id) is None:
        raise field_error("department_id", f"Department {department_id} does not exist.")
    return department_id


def open_customer(
    *, session: Session, actor: Actor, data: dict[str, Any], source: str = Source.UI
) -> Customer:
    """Open a customer file (version 1), with its premises if given."""
    require(actor, ArchiveAction.EDIT_CUSTOMER)
    data = dict(data)
    reason = data.pop("reason", None) or "new customer"
    premises = data.pop("premises", None) or []
    check_region(session, data["region_code"])
    data["department_id"] = _owner(session, actor, data.get("department_id"))
    taken = session.scalar(
        select(Customer.id).where(Customer.account_number == data["account_number"])
    )
    if taken is not None:
        raise field_error("account_number", f"Account {data['account_number']} already exists.")
    customer = Customer(**data, status=AccountStatus.ACTIVE, search_text=search_terms())
    versions.create(session, customer, actor=actor.audit_name, reason=reason, source=source)
    for premise in premises:
        add_premise(
            session=session, actor=actor, customer=customer, data=premise, source=source,
            reason=reason,
        )  # fmt: skip
    refresh_search(session, customer)
    return customer


def change_customer(
    *,
    session: Session,
    actor: Actor,
    customer_id: uuid.UUID,
    changes: dict[str, Any],
    reason: str,
    source: str = Source.UI,
    base_version: int | None = None,
) -> Customer:
    """Append a version of a customer with `changes`; a closed file takes no changes."""
    require(actor, ArchiveAction.EDIT_CUSTOMER)
    customer = get_customer(session=session, actor=actor, customer_id=customer_id)
    if customer.status == AccountStatus.CLOSED:
        raise Conflict(f"Account {customer.account_number} is closed; its file is read-only.")
    unknown = sorted(set(changes) - set(CUSTOMER_EDITABLE))
    if unknown:
        raise field_error(unknown[0], f"{unknown[0]} cannot be changed this way.")
    if "region_code" in changes:
        check_region(session, changes["region_code"])
    if "department_id" in changes:
        changes["department_id"] = _owner(session, actor, changes["department_id"])
    moved = changes.get("department_id", customer.department_id) != customer.department_id
    versions.append(
        session, customer, changes, actor=actor.audit_name, reason=reason, source=source,
        base_version=base_version,
    )  # fmt: skip
    if moved:  # the file moves whole: its premises and meters are kept where it is kept
        for part in (*premises_of(session, customer.id), *meters_of(session, customer.id)):
            versions.append(
                session, part, {"department_id": customer.department_id},
                actor=actor.audit_name, reason=f"file moved: {reason}", source=source,
            )  # fmt: skip
    refresh_search(session, customer)
    return customer


def close_customer(
    *, session: Session, actor: Actor, customer_id: uuid.UUID, reason: str,
    base_version: int | None = None,
) -> Customer:  # fmt: skip
    """Close an account: a new version with status `closed`; nothing is deleted."""
    require(actor, ArchiveAction.CLOSE_CUSTOMER)
    customer = get_customer(session=session, actor=actor, customer_id=customer_id)
    if customer.status == AccountStatus.CLOSED:
        raise Conflict(f"Account {customer.account_number} is already closed.")
    from backend.archive.gates import check_gate  # gates build on this module

    check_gate(session, customer, "closure")  # the closure application must be on file
    versions.append(
        session,
        customer,
        {"status": AccountStatus.CLOSED, "closed_at": utcnow()},
        actor=actor.audit_name,
        reason=reason,
        source=Source.UI,
        base_version=base_version,
    )
    return customer


def add_premise(
    *, session: Session, actor: Actor, customer: Customer, data: dict[str, Any],
    source: str = Source.UI, reason: str = "new premise",
) -> Premise:  # fmt: skip
    """Add a premise to a customer's file (version 1 of the premise)."""
    require(actor, ArchiveAction.EDIT_CUSTOMER)
    data = dict(data)
    data.setdefault("region_code", customer.region_code)
    check_region(session, data["region_code"], "premises.region_code")
    check_premise_links(session, actor, data, prefix="premises.")
    premise = Premise(**data, customer_id=customer.id, department_id=customer.department_id)
    versions.create(session, premise, actor=actor.audit_name, reason=reason, source=source)
    refresh_search(session, customer)
    return premise


def get_premise(*, session: Session, actor: Actor, premise_id: uuid.UUID) -> Premise:
    """Load a premise whose customer is in the actor's scope."""
    require(actor, ArchiveAction.READ_CUSTOMER)
    return load_in_scope(session, actor, Premise, premise_id)


def change_premise(
    *,
    session: Session,
    actor: Actor,
    premise: Premise,
    changes: dict[str, Any],
    reason: str,
    source: str = Source.UI,
    base_version: int | None = None,
) -> Premise:
    """Append a version of a premise (a correction from the office or the field).

    Asks the policy itself, so REST, sync pushes and conflict resolutions get the same answer:
    the action (`archive.premise.correct`) and the customer file in the actor's scope.
    """
    require(actor, ArchiveAction.CORRECT_PREMISE)
    load_in_scope(session, actor, Premise, premise.id)  # its customer file in the actor's scope
    customer = session.get(Customer, premise.customer_id)
    assert customer is not None  # noqa: S101 - a foreign key
    if customer.status == AccountStatus.CLOSED:
        raise Conflict(f"Account {customer.account_number} is closed; its file is read-only.")
    unknown = sorted(set(changes) - set(PREMISE_EDITABLE))
    if unknown:
        raise field_error(unknown[0], f"{unknown[0]} cannot be changed this way.")
    if "region_code" in changes:
        check_region(session, changes["region_code"])
    if {"transformer_area_id", "line_id"} & set(changes):
        area_id = changes.get("transformer_area_id", premise.transformer_area_id)
        links = check_premise_links(
            session, actor, {"transformer_area_id": area_id, "line_id": changes.get("line_id")}
        )
        if area_id is not None or "line_id" in changes:
            changes = {**changes, "line_id": links["line_id"]}
    versions.append(
        session, premise, changes, actor=actor.audit_name, reason=reason, source=source,
        base_version=base_version,
    )  # fmt: skip
    refresh_search(session, customer)
    return premise


def find_customers(
    *, session: Session, actor: Actor, filters: dict[str, Any], dialect: str
) -> Select[tuple[Customer]]:
    """Select the customers in scope matching the filters; ranked when there is a text query.

    `q` searches everything (name, account, phone, address, line); `name`, `address`,
    `phone` and `line` search that field's terms; capacities bound the contract capacity.
    """
    require(actor, ArchiveAction.READ_CUSTOMER)
    _refuse_filters_on_hidden_fields(actor, filters)
    statement = select(Customer).where(customer_scope(actor, session))
    if filters.get("account_number"):
        statement = statement.where(Customer.account_number == filters["account_number"])
    if filters.get("status"):
        statement = statement.where(Customer.status == filters["status"])
    if filters.get("department_id"):
        statement = statement.where(Customer.department_id == filters["department_id"])
    if filters.get("capacity_min") is not None:
        statement = statement.where(Customer.contract_capacity_kw >= filters["capacity_min"])
    if filters.get("capacity_max") is not None:
        statement = statement.where(Customer.contract_capacity_kw <= filters["capacity_max"])
    if filters.get("line"):
        line = str(filters["line"]).strip()
        try:
            on_line = Premise.line_id == uuid.UUID(line)
        except ValueError:
            on_line = func.lower(Premise.line_name) == line.lower()
        statement = statement.where(Customer.id.in_(select(Premise.customer_id).where(on_line)))
    text_query = str(filters.get("q") or "").strip()
    if text_query and not any(filters.get(k) for k in ("name", "address", "phone")):
        # An account number typed into the search box: the unique index answers it alone.
        exact = session.scalar(select(Customer.id).where(Customer.account_number == text_query))
        if exact is not None:
            return statement.where(Customer.id == exact)
    query = " ".join(
        str(filters[k]) for k in ("q", "name", "address", "phone") if filters.get(k)
    ).strip()
    if query:
        query = search_text_for(actor, query)
        if not query:
            return statement.where(false())
        return ranked(dialect, statement, query)
    return statement.order_by(Customer.account_number)


def search_text_for(actor: Actor, query: str) -> str:
    """The free text `actor` may search with: without number terms when phones are masked.

    Phones are indexed by their digits: a role that sees them masked searches without number
    terms, or a search would reveal them digit by digit. Every search box (the customer list,
    the quick query) goes through here; an exact account number is looked up before it.
    """
    if field_levels(actor)["contacts"] is Level.FULL:
        return query
    return " ".join(t for t in search_terms(query).split() if not t.isdigit())


def _refuse_filters_on_hidden_fields(actor: Actor, filters: dict[str, Any]) -> None:
    """A filter on a field the caller may not see would reveal it, one narrowing at a time."""
    levels = field_levels(actor)
    capacity = [k for k in ("capacity_min", "capacity_max") if filters.get(k) is not None]
    if capacity and levels["contract"] is Level.HIDDEN:
        raise Forbidden(
            f"Your role may not see contract capacities, so not filter on {capacity[0]}."
        )
    if filters.get("phone") and levels["contacts"] is not Level.FULL:
        raise Forbidden("Your role sees phone numbers masked, so it may not search by phone.")
