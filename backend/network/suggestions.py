"""Probable outages from grouped trouble calls: raise, hold further calls, confirm or dismiss.

Calls from `MIN_CUSTOMERS` different customers under one transformer area within `WINDOW`
raise an area suggestion; open suggestions on `MIN_AREAS` areas of one line raise a line
suggestion (grouping up the tree). While a suggestion is open, a further call from under it
is linked to it and held: recorded, not issued, so twenty calls about one fault are one
piece of dispatch work, not twenty. The dispatcher confirms (an outage on the area or line;
every held call joins it as if it had come in after it) or dismisses (the held calls go back
to the call center's queue as ordinary new orders; calls before the dismissal no longer count).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, distinct, func, or_, select
from sqlalchemy.orm import Session

from backend.archive.records import Premise
from backend.auth.actor import Actor, ensure_department_in_scope
from backend.auth.policy import Action, authorize, load_in_scope, network_filter
from backend.db import utcnow
from backend.dispatch.models import WorkOrder
from backend.dispatch.timing.events import append_event
from backend.dispatch.timing.states import OrderStatus
from backend.errors import InvalidTransition
from backend.network import outages
from backend.network.models import TransformerArea
from backend.network.outage_models import (
    OrderOutageLink,
    OrderSuggestionLink,
    Outage,
    OutageArea,
    OutageSuggestion,
)

MIN_CUSTOMERS = 3  # different callers under one area ...
WINDOW = timedelta(minutes=30)  # ... within this long raise an area suggestion
MIN_AREAS = 2  # open area suggestions on one line raise a line suggestion


def _caller_area(session: Session, order: WorkOrder) -> TransformerArea | None:
    statement = select(Premise.transformer_area_id).where(Premise.transformer_area_id.isnot(None))
    if order.premise_id is not None:
        statement = statement.where(Premise.id == order.premise_id)
    elif order.customer_id is not None:
        statement = statement.where(Premise.customer_id == order.customer_id)
    else:
        return None
    area_id = session.scalar(statement.order_by(Premise.id).limit(1))
    if area_id is None:
        return None
    # Locked: two calls from one area at once cannot both raise a suggestion.
    return session.scalar(
        select(TransformerArea).where(TransformerArea.id == area_id).with_for_update()
    )


def _open(session: Session, area: TransformerArea) -> OutageSuggestion | None:
    """The open suggestion covering an area: its line's first (the wider), else its own."""
    return session.scalar(
        select(OutageSuggestion)
        .where(
            OutageSuggestion.status == "open",
            or_(
                (OutageSuggestion.level == "line") & (OutageSuggestion.line_id == area.line_id),
                (OutageSuggestion.level == "area") & (OutageSuggestion.area_id == area.id),
            ),
        )
        .order_by(OutageSuggestion.level.desc(), OutageSuggestion.id)  # "line" > "area"
        .limit(1)
    )


def _calls_under(area: TransformerArea, since: datetime) -> Select[Any]:
    """Orders since `since` whose premise (or, without one, customer) is under the area."""
    premises = select(Premise.id).where(Premise.transformer_area_id == area.id)
    customers = select(Premise.customer_id).where(Premise.transformer_area_id == area.id)
    return select(WorkOrder).where(
        WorkOrder.created_at >= since,
        or_(
            WorkOrder.premise_id.in_(premises),
            WorkOrder.premise_id.is_(None) & WorkOrder.customer_id.in_(customers),
        ),
        WorkOrder.id.not_in(select(OrderOutageLink.order_id)),
        WorkOrder.id.not_in(select(OrderSuggestionLink.order_id)),
    )


def _link(session: Session, order: WorkOrder, suggestion: OutageSuggestion, area_id: Any,
          *, held: bool, now: datetime) -> None:  # fmt: skip
    session.add(OrderSuggestionLink(order_id=order.id, suggestion_id=suggestion.id,
                                    area_id=area_id, held=held, linked_at=now))  # fmt: skip
    suggestion.call_count += 1
    suggestion.last_call_at = max(suggestion.last_call_at, order.created_at)


def _raise(session: Session, level: str, area: TransformerArea, first: datetime,
           now: datetime) -> OutageSuggestion:  # fmt: skip
    suggestion = OutageSuggestion(
        level=level, line_id=area.line_id, area_id=area.id if level == "area" else None,
        call_count=0, first_call_at=first, last_call_at=first, status="open",
        department_id=area.department_id,
    )  # fmt: skip
    session.add(suggestion)
    session.flush()
    return suggestion


def group_call(session: Session, order: WorkOrder, now: datetime) -> OutageSuggestion | None:
    """Group a new call (no outage covers it); return the suggestion that holds it, if any."""
    area = _caller_area(session, order)
    if area is None:
        return None
    suggestion = _open(session, area)
    if suggestion is not None:
        _link(session, order, suggestion, area.id, held=True, now=now)
        session.flush()
        return suggestion
    dismissed = session.scalar(
        select(func.max(OutageSuggestion.decided_at)).where(
            OutageSuggestion.status == "dismissed",
            or_(OutageSuggestion.area_id == area.id,
                (OutageSuggestion.level == "line") & (OutageSuggestion.line_id == area.line_id)),
        )
    )  # fmt: skip
    since = max(now - WINDOW, dismissed) if dismissed else now - WINDOW
    calls = list(session.scalars(_calls_under(area, since).order_by(WorkOrder.created_at)))
    callers = {c.customer_id or c.premise_id for c in calls}
    if len(callers) < MIN_CUSTOMERS:
        return None
    suggestion = _raise(session, "area", area, calls[0].created_at, now)
    for call in calls:  # the calls that raised it: those not issued yet wait for the decision
        _link(session, call, suggestion, area.id, held=call.status == OrderStatus.NEW, now=now)
    session.flush()
    _group_up(session, area, now)
    return suggestion


def _group_up(session: Session, area: TransformerArea, now: datetime) -> None:
    """Several areas of one line with open suggestions: suggest the line itself."""
    open_areas = session.scalar(
        select(func.count(distinct(OutageSuggestion.area_id))).where(
            OutageSuggestion.status == "open",
            OutageSuggestion.level == "area",
            OutageSuggestion.line_id == area.line_id,
        )
    )
    if (open_areas or 0) < MIN_AREAS:
        return
    first = session.scalar(
        select(func.min(OutageSuggestion.first_call_at)).where(
            OutageSuggestion.status == "open", OutageSuggestion.line_id == area.line_id
        )
    )
    line_suggestion = _raise(session, "line", area, first or now, now)
    line_suggestion.call_count = (
        session.scalar(
            select(func.sum(OutageSuggestion.call_count)).where(
                OutageSuggestion.status == "open",
                OutageSuggestion.level == "area",
                OutageSuggestion.line_id == area.line_id,
            )
        )
        or 0
    )
    session.flush()


def get_suggestion(*, session: Session, actor: Actor, suggestion_id: int) -> OutageSuggestion:
    """Load a suggestion of the actor's company (404 / 403)."""
    authorize(actor, Action.OUTAGE_READ)
    return load_in_scope(session, actor, OutageSuggestion, suggestion_id)


def listing(*, actor: Actor, status: str | None = None) -> Select[tuple[OutageSuggestion]]:
    """Return a select of the company's suggestions, newest first."""
    authorize(actor, Action.OUTAGE_READ)
    statement = select(OutageSuggestion).where(
        network_filter(actor, OutageSuggestion.department_id)
    )
    if status is not None:
        statement = statement.where(OutageSuggestion.status == status)
    return statement.order_by(OutageSuggestion.last_call_at.desc(), OutageSuggestion.id.desc())


def linked_calls(session: Session, suggestion: OutageSuggestion) -> list[OrderSuggestionLink]:
    """The calls grouped under a suggestion (for a line: under its areas' suggestions too)."""
    return list(
        session.scalars(
            select(OrderSuggestionLink)
            .where(OrderSuggestionLink.suggestion_id.in_(_family(suggestion)))
            .order_by(OrderSuggestionLink.linked_at, OrderSuggestionLink.order_id)
        )
    )


def _family(suggestion: OutageSuggestion) -> Select[Any]:
    if suggestion.level == "area":
        return select(OutageSuggestion.id).where(OutageSuggestion.id == suggestion.id)
    return select(OutageSuggestion.id).where(
        OutageSuggestion.line_id == suggestion.line_id,
        or_(OutageSuggestion.id == suggestion.id,
            (OutageSuggestion.level == "area") & (OutageSuggestion.status == "open")),
    )  # fmt: skip


def _decidable(session: Session, actor: Actor, suggestion_id: int) -> OutageSuggestion:
    suggestion = get_suggestion(session=session, actor=actor, suggestion_id=suggestion_id)
    authorize(actor, Action.OUTAGE_MANAGE)
    if actor.kind != "system":
        ensure_department_in_scope(session, actor, suggestion.department_id)
    if suggestion.status != "open":
        raise InvalidTransition(
            f"Suggestion {suggestion.id} is {suggestion.status}; it was decided already.",
            current_state=suggestion.status,
        )
    if suggestion.level == "area":
        line = session.scalar(
            select(OutageSuggestion.id).where(
                OutageSuggestion.status == "open", OutageSuggestion.level == "line",
                OutageSuggestion.line_id == suggestion.line_id,
            )
        )  # fmt: skip
        if line is not None:  # one decision for the group, not one area under it
            raise InvalidTransition(
                f"Suggestion {suggestion.id} is grouped under line suggestion {line}; "
                f"decide that one (it settles its areas).",
                current_state="grouped",
            )
    return suggestion


def _decide(
    session: Session,
    actor: Actor,
    suggestion: OutageSuggestion,
    status: str,
    now: datetime,
    outage: Outage | None = None,
    note: str | None = None,
) -> None:
    family = list(session.scalars(
        select(OutageSuggestion).where(OutageSuggestion.id.in_(_family(suggestion)))
    ))  # fmt: skip
    for member in family:
        member.status, member.decided_by, member.decided_at = status, actor.audit_name, now
        member.outage_id = outage.id if outage is not None else None
        member.note = note


def confirm(
    *, session: Session, actor: Actor, suggestion_id: int, data: dict[str, Any],
    now: datetime | None = None,
) -> tuple[OutageSuggestion, Outage]:  # fmt: skip
    """Make the suggestion an outage; the calls it holds join the outage.

    The outage settles every open suggestion it covers (`settle_covered`, as any outage set
    on the line or area does): for a line, the area suggestions it grouped too.
    """
    now = now or utcnow()
    suggestion = _decidable(session, actor, suggestion_id)
    outage = outages.create_outage(session=session, actor=actor, data={
        "kind": data.get("kind", "unplanned"), "scope": suggestion.level,
        "line_id": suggestion.line_id, "area_id": suggestion.area_id,
        "reason": data["reason"], "starts_at": data.get("starts_at") or suggestion.first_call_at,
        "planned_end_at": data["planned_end_at"], "status": "confirmed",
    }, now=now)  # fmt: skip
    for member in session.scalars(select(OutageSuggestion).where(
        OutageSuggestion.outage_id == outage.id
    )):  # fmt: skip
        member.note = data.get("note")
    session.flush()
    return suggestion, outage


def settle_covered(session: Session, actor: Actor, outage: Outage, now: datetime) -> None:
    """An outage settles the open suggestions it covers; their held calls join it.

    Covered: a line suggestion on the outage's line when the whole line is cut, and each area
    suggestion on an area the outage cuts. A line suggestion is settled with the area
    suggestions it grouped (they are on the line). What stays open is a line suggestion over
    a partly cut line: its other areas still wait for the dispatcher.
    """
    cut = select(OutageArea.area_id).where(OutageArea.outage_id == outage.id)
    covered = [(OutageSuggestion.level == "area") & OutageSuggestion.area_id.in_(cut)]
    if outage.scope == "line":
        covered.append(OutageSuggestion.level == "line")
    members = list(session.scalars(
        select(OutageSuggestion).where(
            OutageSuggestion.status == "open", OutageSuggestion.line_id == outage.line_id,
            or_(*covered),
        ).order_by(OutageSuggestion.id)
    ))  # fmt: skip
    if not members:
        return
    links = list(session.scalars(
        select(OrderSuggestionLink)
        .where(OrderSuggestionLink.suggestion_id.in_([m.id for m in members]))
        .order_by(OrderSuggestionLink.linked_at, OrderSuggestionLink.order_id)
    ))  # fmt: skip
    for member in members:
        member.status, member.decided_by, member.decided_at = "confirmed", actor.audit_name, now
        member.outage_id = outage.id
    linked = set(session.scalars(select(OrderOutageLink.order_id).where(
        OrderOutageLink.order_id.in_([link.order_id for link in links])
    )))  # fmt: skip
    for link in links:
        order = session.get(WorkOrder, link.order_id)
        if order is None or order.status != OrderStatus.NEW or order.id in linked:
            continue  # already issued: it is the repair work, it keeps its dispatch
        linked.add(order.id)
        session.add(OrderOutageLink(order_id=order.id, outage_id=outage.id, area_id=link.area_id))
        append_event(
            session, order, point="linked_outage", occurred_at=now, source="system",
            actor=actor.audit_name, now=now,
            details={"outage_id": str(outage.id), "outage": outage.number,
                     "note": f"linked to outage {outage.number} (probable outage confirmed)"},
        )  # fmt: skip
    session.flush()


def dismiss(
    *, session: Session, actor: Actor, suggestion_id: int, note: str | None = None,
    now: datetime | None = None,
) -> OutageSuggestion:  # fmt: skip
    """No outage after all: the held calls go back to the queue as ordinary new orders."""
    now = now or utcnow()
    suggestion = _decidable(session, actor, suggestion_id)
    calls = linked_calls(session, suggestion)
    _decide(session, actor, suggestion, "dismissed", now, note=note)
    for link in calls:
        order = session.get(WorkOrder, link.order_id)
        if link.held and order is not None and order.status == OrderStatus.NEW:
            append_event(
                session, order, point="suggestion_dismissed", occurred_at=now,
                source="system", actor=actor.audit_name, now=now,
                details={"suggestion_id": suggestion.id,
                         "note": "probable outage dismissed: issue this call as usual"},
            )  # fmt: skip
    session.flush()
    return suggestion


def held_orders() -> Select[tuple[uuid.UUID]]:
    """A select of the ids of calls held under an open suggestion (not to be issued)."""
    return (
        select(OrderSuggestionLink.order_id)
        .join(OutageSuggestion, OutageSuggestion.id == OrderSuggestionLink.suggestion_id)
        .where(OrderSuggestionLink.held, OutageSuggestion.status == "open")
    )
