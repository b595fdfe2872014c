"""What callers see of a file: current views and versions, after field-level permissions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.archive.access import Level, field_levels, redact
from backend.archive.meters import due_dates
from backend.archive.records import ArchiveVersion, Customer, Meter, MeterType, Premise
from backend.archive.service import meters_of, premises_of
from backend.archive.versions import plain, snapshot
from backend.auth.actor import Actor


def _head(head: Any) -> dict[str, Any]:
    return {
        "id": str(head.id),
        **snapshot(head),
        "version_no": head.version_no,
        "updated_at": plain(head.updated_at),
        "updated_by": head.updated_by,
    }


def premise_view(premise: Premise) -> dict[str, Any]:
    """A premise's current view."""
    return _head(premise)


def meter_view(session: Session, meter: Meter) -> dict[str, Any]:
    """A meter's current view with its due dates."""
    meter_type = session.get(MeterType, meter.meter_type)
    assert meter_type is not None  # noqa: S101 - a foreign key
    return {**_head(meter), **{k: plain(v) for k, v in due_dates(meter, meter_type).items()}}


def customer_view(
    session: Session, actor: Actor, customer: Customer, *, full: bool = True
) -> dict[str, Any]:
    """A customer's current view with premises (and meters when `full`), redacted."""
    view = _head(customer)
    view["premises"] = [premise_view(p) for p in premises_of(session, customer.id)]
    if full:
        view["meters"] = [meter_view(session, m) for m in meters_of(session, customer.id)]
    view = redact(actor, view)
    view["hidden_fields"] = view.pop("_hidden")
    from backend.inspection.views import customer_case_history  # inspection builds on archive

    view["case_history"] = customer_case_history(session, customer.id)
    if full and field_levels(actor)["credit"] is Level.FULL:
        from backend.risk.summary import credit_summary  # risk builds on the archive

        view["credit"] = credit_summary(session, customer.id)
    return view


def version_view(actor: Actor, version: ArchiveVersion) -> dict[str, Any]:
    """One version with its snapshot, redacted like the current view."""
    data = redact(actor, dict(version.data))
    data.pop("_hidden")
    return {
        "entity": version.entity,
        "record_id": str(version.record_id),
        "customer_id": str(version.customer_id),
        "version_no": version.version_no,
        "changed_by": version.changed_by,
        "changed_at": plain(version.changed_at),
        "reason": version.reason,
        "source": version.source,
        "data": data,
    }
