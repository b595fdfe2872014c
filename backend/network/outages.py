"""Outages: create (propagated to areas), move through states, extend, restore, auto-restore.

States: predicted -> confirmed -> partially_restored -> restored -> closed (a predicted
outage may also be closed: called off). A refused move is a 409 `invalid-transition`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from backend.archive.access import customer_scope
from backend.archive.records import Customer, Premise
from backend.auth.actor import Actor, ensure_department_in_scope
from backend.auth.policy import Action, authorize, load_in_scope, network_filter
from backend.db import utcnow
from backend.errors import Conflict, InvalidTransition, NotFound, field_error
from backend.network.models import CustomerFlag, FeederLine, TransformerArea
from backend.network.notify import notify_flagged
from backend.network.outage_models import Outage, OutageArea, OutageNotification
from backend.network.service import load
from backend.network.tree import area_counts, supplied

MOVES: dict[str, frozenset[str]] = {
    "predicted": frozenset({"confirmed", "closed"}),
    "confirmed": frozenset({"partially_restored", "restored"}),
    "partially_restored": frozenset({"partially_restored", "restored"}),
    "restored": frozenset({"closed"}),
    "closed": frozenset(),
}
ACTIVE = ("predicted", "confirmed", "partially_restored")
# States in which the supply is cut (the worker restores these at the planned end).
CUT = ("confirmed", "partially_restored")


def get_outage(*, session: Session, actor: Actor, outage_id: uuid.UUID) -> Outage:
    """Load an outage of the actor's company (404 / 403)."""
    authorize(actor, Action.OUTAGE_READ)
    return load_in_scope(session, actor, Outage, outage_id)


def _managed(session: Session, actor: Actor, outage_id: uuid.UUID) -> Outage:
    outage = get_outage(session=session, actor=actor, outage_id=outage_id)
    authorize(actor, Action.OUTAGE_MANAGE)
    if actor.kind != "system":
        ensure_department_in_scope(session, actor, outage.department_id)
    # Locked, then read again (PostgreSQL): a change decided on a stale state would overwrite
    # what the restore worker (which locks too) committed meanwhile, instead of a 409.
    session.refresh(outage, with_for_update=True)
    return outage


def list_outages(*, actor: Actor, active_only: bool = False) -> Select[tuple[Outage]]:
    """Return a select of the company's outages, newest start first."""
    authorize(actor, Action.OUTAGE_READ)
    statement = select(Outage).where(network_filter(actor, Outage.department_id))
    if active_only:
        statement = statement.where(Outage.status.in_(ACTIVE))
    return statement.order_by(Outage.starts_at.desc(), Outage.number)


def _check_overlap(
    session: Session, line_id: uuid.UUID, starts: datetime, ends: datetime, own: Any = None
) -> None:
    clash = session.scalar(
        select(Outage).where(
            Outage.line_id == line_id,
            Outage.status.in_(ACTIVE),
            Outage.starts_at < ends,
            Outage.planned_end_at > starts,
            Outage.id != (own.id if own is not None else uuid.uuid4()),
        )
    )
    if clash is not None:
        raise Conflict(
            f"Outage {clash.number} on this line already covers "
            f"{clash.starts_at:%Y-%m-%d %H:%M} to {clash.planned_end_at:%Y-%m-%d %H:%M} UTC.",
            outage_id=str(clash.id),
        )


def _areas(session: Session, line: FeederLine, scope: str, data: dict[str, Any]) -> list[Any]:
    statement = select(TransformerArea.id).where(TransformerArea.line_id == line.id)
    if scope == "section":
        sections = {p.get("section") or p.get("code") for p in line.switch_points or []}
        if data.get("section") not in sections:
            raise field_error(
                "section", f"Line {line.code} has no section {data.get('section')!r}."
            )
        statement = statement.where(TransformerArea.section == data["section"])
    return list(session.scalars(statement))


def create_outage(
    *, session: Session, actor: Actor, data: dict[str, Any], now: datetime | None = None
) -> Outage:
    """Set an outage on a line, a section or an area; it propagates to the areas it cuts.

    Open probable-outage suggestions it covers are settled with it (their held calls join it).
    """
    authorize(actor, Action.OUTAGE_MANAGE)
    starts, ends = data["starts_at"], data["planned_end_at"]
    if ends <= starts:
        raise field_error("planned_end_at", "The planned end must be after the start.")
    scope = data["scope"]
    if scope == "area":
        if data.get("area_id") is None:
            raise field_error("area_id", "An area outage names its transformer area.")
        try:
            area = load(session, actor, TransformerArea, data["area_id"])
        except NotFound as exc:
            raise field_error("area_id", exc.detail) from exc
        data["line_id"] = area.line_id
    if data.get("line_id") is None:
        raise field_error("line_id", "A line or section outage names its line.")
    try:
        load(session, actor, FeederLine, data["line_id"])
    except NotFound as exc:
        raise field_error("line_id", exc.detail) from exc
    # Lock the line: two dispatchers setting outages on it at once cannot both pass the check.
    line = session.scalar(
        select(FeederLine).where(FeederLine.id == data["line_id"]).with_for_update()
    )
    assert line is not None  # noqa: S101 - loaded just above
    if actor.kind != "system":  # reading a line is company-wide; cutting it is its owner's
        ensure_department_in_scope(session, actor, line.department_id)
    area_ids = [data["area_id"]] if scope == "area" else _areas(session, line, scope, data)
    _check_overlap(session, line.id, starts, ends)
    outage = Outage(
        number=f"OUT-{utcnow():%Y%m%d}-{uuid.uuid4().hex[:6].upper()}",
        kind=data["kind"], scope=scope, line_id=line.id,
        section=data.get("section") if scope == "section" else None,
        area_id=data.get("area_id") if scope == "area" else None,
        status=data.get("status", "confirmed"), reason=data["reason"],
        starts_at=starts, planned_end_at=ends,
        department_id=line.department_id,  # the line's owner manages its outages
        created_by=actor.audit_name,
    )  # fmt: skip
    session.add(outage)
    session.flush()
    counts = area_counts(session, area_ids)
    session.add_all(
        OutageArea(outage_id=outage.id, area_id=a, customer_count=counts[a]["customers"])
        for a in area_ids
    )
    session.flush()
    notify_flagged(session, outage, "outage")
    _settle_if_cutting(session, actor, outage, now or utcnow())
    return outage


def _settle_if_cutting(session: Session, actor: Actor, outage: Outage, now: datetime) -> None:
    """Let an outage that cuts its areas now settle the suggestions it covers.

    Only such an outage explains their calls (as `grouping` links a new call): one planned
    for tomorrow, or only predicted, leaves them held, so they still escalate and the next
    call still groups with them.
    """
    if outage.status in CUT and outage.starts_at <= now:
        from backend.network.suggestions import settle_covered  # suggestions build on outages

        settle_covered(session, actor, outage, now)


def _restore(
    session: Session, outage: Outage, area_ids: list[uuid.UUID] | None, now: datetime, by: str
) -> None:
    statement = update(OutageArea).where(
        OutageArea.outage_id == outage.id, OutageArea.restored_at.is_(None)
    )
    if area_ids is not None:
        known = set(
            session.scalars(select(OutageArea.area_id).where(OutageArea.outage_id == outage.id))
        )
        unknown = [str(a) for a in area_ids if a not in known]
        if unknown:
            raise field_error("area_ids", f"Not cut by this outage: {', '.join(unknown)}.")
        statement = statement.where(OutageArea.area_id.in_(area_ids))
    session.execute(statement.values(restored_at=now))
    # The areas change by a bulk UPDATE: the outage row changes too (a second partial restore
    # keeps its status), so its change reaches the live feed.
    outage.updated_at = utcnow()
    left = session.scalar(
        select(func.count()).where(
            OutageArea.outage_id == outage.id, OutageArea.restored_at.is_(None)
        )
    )
    if left:
        outage.status = "partially_restored"
        return
    outage.status, outage.restored_at, outage.restored_by = "restored", now, by
    session.flush()
    notify_flagged(session, outage, "restored")


def move(
    *,
    session: Session,
    actor: Actor,
    outage_id: uuid.UUID,
    to: str,
    area_ids: list[uuid.UUID] | None = None,
    now: datetime | None = None,
) -> Outage:
    """Move an outage to another state (restore all areas, or `area_ids` only: partial)."""
    outage = _managed(session, actor, outage_id)
    now = now or utcnow()
    if to not in MOVES[outage.status]:
        raise InvalidTransition(
            f"Outage {outage.number} is {outage.status}; it cannot become {to}.",
            current_state=outage.status,
        )
    if to == "partially_restored" and not area_ids:
        raise field_error("area_ids", "A partial restore names the areas restored.")
    if to in ("partially_restored", "restored"):
        _restore(session, outage, area_ids if to == "partially_restored" else None, now,
                 actor.audit_name)  # fmt: skip
    elif to == "closed" and outage.status == "predicted":
        _call_off(session, outage, now)  # the flagged customers were told of it
    elif to == "closed":
        outage.status, outage.closed_at = "closed", now
    else:
        outage.status = to
    session.flush()
    _settle_if_cutting(session, actor, outage, now)  # confirmed: it explains the calls
    return outage


def extend(
    *, session: Session, actor: Actor, outage_id: uuid.UUID, planned_end_at: datetime
) -> Outage:
    """Move the planned end (the worker then restores at the new end)."""
    outage = _managed(session, actor, outage_id)
    if outage.status not in ACTIVE:
        raise InvalidTransition(
            f"Outage {outage.number} is {outage.status}; only an active outage is extended.",
            current_state=outage.status,
        )
    if planned_end_at <= outage.starts_at:
        raise field_error("planned_end_at", "The planned end must be after the start.")
    _check_overlap(session, outage.line_id, outage.starts_at, planned_end_at, own=outage)
    outage.planned_end_at = planned_end_at
    session.flush()
    return outage


def restore_due(*, session: Session, now: datetime | None = None) -> list[Outage]:
    """Restore every cut outage whose planned end has passed (the worker's tick)."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(Outage)
            .where(Outage.status.in_(CUT), Outage.planned_end_at <= now)
            .order_by(Outage.planned_end_at)
            .with_for_update(skip_locked=True)
        )
    )
    for outage in due:
        _restore(session, outage, None, outage.planned_end_at, "automatic")
    session.flush()
    return due


def call_off_lapsed(*, session: Session, now: datetime | None = None) -> list[Outage]:
    """Close every prediction nobody confirmed by its planned end (the worker's tick).

    Called off: closed at that end, and the flagged customers told so (they were told of
    it), rather than "out" in the quick query for ever.
    """
    now = now or utcnow()
    lapsed = list(
        session.scalars(
            select(Outage)
            .where(Outage.status == "predicted", Outage.planned_end_at <= now)
            .order_by(Outage.planned_end_at)
            .with_for_update(skip_locked=True)
        )
    )
    for outage in lapsed:
        _call_off(session, outage, outage.planned_end_at)
    session.flush()
    return lapsed


def _call_off(session: Session, outage: Outage, at: datetime) -> None:
    outage.status, outage.closed_at = "closed", at
    notify_flagged(session, outage, "called_off")


def settle_started(*, session: Session, actor: Actor, now: datetime | None = None) -> None:
    """Let the outages that now cut their areas settle the suggestions they cover (a tick).

    An outage confirmed after it was set, or planned for a start that has come, explains the
    calls held under its areas from then on (`suggestions.settle_covered`).
    """
    now = now or utcnow()
    started = session.scalars(select(Outage).where(Outage.status.in_(CUT), Outage.starts_at <= now))
    for outage in list(started):
        _settle_if_cutting(session, actor, outage, now)


def affected_customers(
    *, session: Session, actor: Actor, outage_id: uuid.UUID, flagged_only: bool = False
) -> Select[Any]:
    """Return a select of (customer, flags, restored_at) cut by an outage, flagged first."""
    outage = get_outage(session=session, actor=actor, outage_id=outage_id)
    cut = select(OutageArea.area_id).where(OutageArea.outage_id == outage.id)
    restored = (
        select(func.max(OutageArea.restored_at))
        .join(Premise, Premise.transformer_area_id == OutageArea.area_id)
        .where(OutageArea.outage_id == outage.id, Premise.customer_id == Customer.id)
        .scalar_subquery()
    )
    statement = (
        select(Customer, CustomerFlag, restored)
        .outerjoin(CustomerFlag, CustomerFlag.customer_id == Customer.id)
        .where(
            Customer.id.in_(
                select(Premise.customer_id).where(Premise.transformer_area_id.in_(cut))
            ),
            supplied(),
            customer_scope(actor),
        )
    )
    if flagged_only:
        statement = statement.where(CustomerFlag.important | CustomerFlag.high_risk)
    return statement.order_by(Customer.account_number)


def notifications(
    *, session: Session, actor: Actor, outage_id: uuid.UUID
) -> Select[tuple[OutageNotification]]:
    """Return a select of the notifications written for an outage."""
    outage = get_outage(session=session, actor=actor, outage_id=outage_id)
    return (
        select(OutageNotification)
        .where(
            OutageNotification.outage_id == outage.id,
            OutageNotification.customer_id.in_(select(Customer.id).where(customer_scope(actor))),
        )
        .order_by(OutageNotification.id)
    )


def outage_areas(*, session: Session, outage: Outage) -> list[OutageArea]:
    """Return the areas an outage cuts (with their restore times)."""
    return list(session.scalars(select(OutageArea).where(OutageArea.outage_id == outage.id)))


def outage_view(session: Session, outage: Outage) -> dict[str, Any]:
    """An outage with the areas it cuts and their customers (the API's and the feed's view)."""
    areas = outage_areas(session=session, outage=outage)
    view = {c.key: getattr(outage, c.key) for c in Outage.__table__.columns}
    return {**view, "areas": areas, "customer_count": sum(a.customer_count for a in areas)}
