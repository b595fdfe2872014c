"""The archive on handhelds: what crews pull of customers, premises and meters, and pushes.

A premise is visible to the crews with open work there (orders and inspections, see
`worksites`); its customer and meters follow it. The change feed routes rows by one
(department, crew) scope per row, so `announce_changes` adds a row for every crew working at a
premise whenever the file changes, and `_work_moved` adds upserts for a crew that gets work
there and `leave` rows for the one that loses it (the pull then sends a removal).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from backend.archive import meters as meter_service
from backend.archive import service
from backend.archive.access import Level, field_levels
from backend.archive.grants import customer_scope_without_grants
from backend.archive.records import Customer, Meter, Premise
from backend.archive.versions import plain
from backend.archive.vocab import Source
from backend.archive.worksites import Scope, changed_records, crews_at, work_scope
from backend.auth.actor import Actor
from backend.auth.policy import Action, can
from backend.auth.sync_access import backend_actor
from backend.db import point_element
from backend.dispatch.models import WorkOrder
from backend.errors import Forbidden, OutOfScope, Problem
from backend.inspection.models import Inspection, MeterReading
from sync.changes import add_scoped_changes
from sync.entities import RejectionError
from sync.protocol import RejectReason, format_time, parse_uuid, uuid_of
from sync.registry import SyncActor
from sync.store.prefetch import lookup, prefetch_rows, push_memo


def _customer_ids(session: Session, records: Sequence[Any]) -> dict[uuid.UUID, uuid.UUID]:
    """Map each record to the customer whose file it belongs to."""
    return {r.id: r.id if isinstance(r, Customer) else r.customer_id for r in records}


def visible(session: Any, actor: SyncActor, records: Sequence[Any]) -> set[uuid.UUID]:
    """Archive records a caller may pull: those of the customers in its REST scope.

    One scope for both doors (`access.customer_scope`: crews and devices where their crews
    work, office roles their departments'), behind the same read action (`archive.read`);
    only an access grant stays off the handheld (an offline copy would outlive it).
    """
    caller = backend_actor(actor)
    if not records or not can(caller, Action.ARCHIVE_READ):
        return set()
    owners = _customer_ids(session, records)
    wanted = sorted(set(owners.values()))
    in_scope = set(
        session.scalars(
            select(Customer.id).where(
                Customer.id.in_(wanted), customer_scope_without_grants(caller, session)
            )
        )
    )
    # The pull carries a customer's phones in full, so roles that see phones masked (REST
    # masks them; sync has no masking) get premises and meters but no customer records.
    customers_too = _sees_full_contacts(caller)
    return {
        rid
        for rid, owner in owners.items()
        if owner in in_scope
        and (customers_too or not any(r.id == rid and isinstance(r, Customer) for r in records))
    }


def _sees_full_contacts(actor: Actor) -> bool:
    return field_levels(actor)["contacts"] is Level.FULL


def customer_fields(customer: Customer) -> dict[str, object]:
    """What a handheld shows of a customer (the crew's field permissions: no contract)."""
    return {
        "account_number": customer.account_number,
        "name": customer.name,
        "customer_type": customer.customer_type,
        "voltage_level": customer.voltage_level,
        "status": customer.status,
        "contacts": list(customer.contacts or []),
        "version_no": customer.version_no,
    }


def premise_fields(premise: Premise) -> dict[str, object]:
    """What a handheld shows of a premise."""
    return {
        "customer_id": str(premise.customer_id),
        "address": premise.address,
        "location": plain(premise.location),
        "access_notes": premise.access_notes,
        "line_name": premise.line_name,
        "status": premise.status,
        "version_no": premise.version_no,
    }


def meter_fields(meter: Meter) -> dict[str, object]:
    """What a handheld shows of a meter."""
    return {
        "number": meter.number,
        "premise_id": str(meter.premise_id),
        "customer_id": str(meter.customer_id),
        "meter_type": meter.meter_type,
        "multiplier": meter.multiplier,
        "reading_method": meter.reading_method,
        "seals": list(meter.seals or []),
        "faults": list(meter.faults or []),
        "status": meter.status,
        "last_reading": meter.last_reading,
        "last_read_at": None if meter.last_read_at is None else format_time(meter.last_read_at),
        "version_no": meter.version_no,
    }


def _rejection(exc: Problem) -> RejectionError:
    if isinstance(exc, OutOfScope):
        return RejectionError(RejectReason.OUT_OF_SCOPE, exc.detail)
    if isinstance(exc, Forbidden):
        return RejectionError(RejectReason.FORBIDDEN, exc.detail)
    return RejectionError(RejectReason.INVALID_VALUE, exc.detail)


def update_premise(
    session: Any,
    actor: SyncActor,
    premise: Premise,
    values: Mapping[str, object],
    mutation_id: uuid.UUID,
    occurred: datetime,
) -> None:
    """A crew's correction of a premise becomes a new version of it (source `sync`)."""
    changes: dict[str, Any] = dict(values)
    location = changes.get("location")
    if isinstance(location, Mapping):
        changes["location"] = point_element(float(location["lon"]), float(location["lat"]))
    try:
        service.change_premise(
            session=session,
            actor=backend_actor(actor),
            premise=premise,
            changes=changes,
            reason=f"field correction from {actor.name} (mutation {mutation_id})",
            source=Source.SYNC,
        )
    except Problem as exc:
        raise _rejection(exc) from exc


def authorize_archive_refs(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """A pushed record may name only customers and premises the caller works at."""
    for name, model in (("premise_id", Premise), ("customer_id", Customer)):
        raw = values.get(name)
        if not isinstance(raw, str):
            continue
        target = lookup(session, model, uuid.UUID(raw))
        if target is None:
            return f"{name} {raw} is not in the customer archive"
        if target.id not in visible(session, actor, [target]):
            return f"{name} {raw} is outside your scope"
    return None


def authorize_reading(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """A reading of an archived meter must be at a premise the caller works at.

    A meter the archive does not hold yet (found in the field) is read all the same: the
    reading is kept, unlinked, for the archive to catch up with.
    """
    raw = values.get("meter_id")
    if record is not None or not isinstance(raw, str):
        return None
    meter = lookup(session, Meter, uuid_of(raw))  # the entity spec checked it: canonical
    if meter is None:
        return authorize_archive_refs(session, actor, record, values)
    seen = push_memo(session).get("visible_meters")
    if meter.id not in (seen if seen is not None else visible(session, actor, [meter])):
        return f"meter {raw} is outside your scope"
    premise = values.get("premise_id")
    if isinstance(premise, str) and uuid.UUID(premise) != meter.premise_id:
        return f"meter {raw} is not at premise {premise}"
    return None


def _uuids(values: Sequence[Mapping[str, object]], name: str) -> list[uuid.UUID]:
    # A value that is no UUID is skipped: the entity spec rejects its mutation.
    parsed = (parse_uuid(item.get(name)) for item in values)
    return [found for found in parsed if found is not None]


def prefetch_readings(
    session: Any, actor: SyncActor, values: Sequence[Mapping[str, object]]
) -> None:
    """Load a batch's meters (and the premises and customers it names) in one query each.

    `authorize_reading` and `note_meter_reading` then ask no query per reading, and the
    meters' visibility is decided once for the batch.
    """
    meters = prefetch_rows(session, Meter, _uuids(values, "meter_id"))
    prefetch_rows(session, Premise, _uuids(values, "premise_id"))
    prefetch_rows(session, Customer, _uuids(values, "customer_id"))
    push_memo(session)["visible_meters"] = visible(session, actor, meters) if meters else set()


def note_meter_reading(session: Any, actor: SyncActor, reading: MeterReading) -> None:
    """A pushed reading newer than the meter's last one moves it (a version, source `sync`)."""
    meter = lookup(session, Meter, reading.meter_id)
    if meter is None:
        return
    if reading.premise_id is None:
        reading.premise_id = meter.premise_id
    try:
        meter_service.note_reading(
            session, meter, value=float(reading.value), read_at=reading.read_at,
            actor=backend_actor(actor), source=Source.SYNC,
        )  # fmt: skip
    except Problem as exc:
        raise _rejection(exc) from exc


def _file_records(session: Session, premise_id: uuid.UUID) -> list[tuple[str, uuid.UUID]]:
    """Return the archive records a crew at this premise pulls: it, its customer, its meters."""
    premise = session.get(Premise, premise_id)
    if premise is None:
        return []
    meters = session.scalars(select(Meter.id).where(Meter.premise_id == premise_id))
    return [
        ("premise", premise.id),
        ("customer", premise.customer_id),
        *(("meter", m) for m in meters),
    ]


def announce_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Add the change-feed rows this flush's work and file changes imply (a before_flush hook)."""
    rows: list[tuple[str, uuid.UUID, str, Scope]] = []
    with session.no_autoflush:
        for obj in (*session.new, *session.dirty):
            if not isinstance(obj, WorkOrder | Inspection):
                continue
            old, new = work_scope(obj, before=True), work_scope(obj, before=False)
            if old == new:
                continue
            if old is not None:
                rows += [(e, i, "leave", old[1:]) for e, i in _file_records(session, old[0])]
            if new is not None:
                rows += [(e, i, "upsert", new[1:]) for e, i in _file_records(session, new[0])]
        heads = changed_records(session, (Customer, Premise, Meter))
        premises = {h.id: h for h in heads if isinstance(h, Premise)}
        wanted: dict[Any, set[uuid.UUID]] = {}
        for head in heads:
            if isinstance(head, Premise):
                wanted[head] = {head.id}
            elif isinstance(head, Meter):
                wanted[head] = {head.premise_id}
            elif head not in session.new:
                wanted[head] = set(
                    session.scalars(select(Premise.id).where(Premise.customer_id == head.id))
                ) | {p.id for p in premises.values() if p.customer_id == head.id}
        crews = crews_at(session, set().union(*wanted.values()) if wanted else set())
        for head, premise_ids in wanted.items():
            for scope in set().union(*(crews.get(p, set()) for p in premise_ids)):
                rows.append((head.__sync_entity__, head.id, "upsert", scope))
    add_scoped_changes(session, rows)


def install_listeners() -> None:
    """Register the change-feed flush hook on every Session (called by `backend.wiring`)."""
    if not event.contains(Session, "before_flush", announce_changes):
        event.listen(Session, "before_flush", announce_changes)
