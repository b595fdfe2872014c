"""One round of the hub's queries: what changed since the last round, for every subscriber."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, tuple_
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.dispatch.models import Alert, TimingEvent, WorkOrder
from backend.errors import TooFarBehind
from backend.live import events
from backend.live.announce import OUTAGE
from backend.live.events import LiveEvent
from backend.network.outage_models import Outage
from backend.network.outages import outage_view
from backend.org.models import Crew, Department, Vehicle
from backend.tracking.models import VehicleState
from sync.changes import NO_HORIZON, ROUTING_OPS, Change, pull_horizon

# Rows are stamped before their transaction commits: look this far back so a batch that
# commits a little late is not skipped (what was already sent is remembered, not resent).
STATE_MARGIN = timedelta(seconds=5)
ALERT_MARGIN = timedelta(seconds=60)
ORDER_ENTITIES = ("work_order", "timing_event")
# Everything the feed reports from the change feed: order changes, timing points, outages.
FEED_ENTITIES = (*ORDER_ENTITIES, OUTAGE)
PAGE = 500
# A stream resumed further back than this many changes (or alerts) is refused (409
# `too-far-behind`): the client reloads through REST and opens the stream afresh. Replaying
# more would hold the request for the whole history (`sync_changes` is never pruned).
REPLAY_LIMIT = 5_000

Flags = tuple[str, bool, bool]
# A position's columns as plain rows: ORM objects for the whole fleet every round cost more
# than the query (the profile of bench/bench_fanout.py).
STATE_COLUMNS = (
    VehicleState.vehicle_id,
    VehicleState.ts,
    VehicleState.lat,
    VehicleState.lon,
    VehicleState.speed,
    VehicleState.heading,
    VehicleState.acc,
    VehicleState.batt,
    VehicleState.liveness,
    VehicleState.connected,
    VehicleState.available,
    VehicleState.last_seen,
    VehicleState.updated_at,
    Vehicle.plate,
    Vehicle.specialty,
    Vehicle.department_id,
)


def state_rows() -> Select[Any]:
    """Every vehicle's current state with what its events carry, oldest change first."""
    return (
        select(*STATE_COLUMNS)
        .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
        .order_by(VehicleState.updated_at)
    )


@dataclass(frozen=True)
class FeedCursor:
    """Where a client stands in the order feed: each order event's `id`, its Last-Event-ID.

    On PostgreSQL change ids are not in commit order: a transaction holding a lower id can
    commit after a higher one was sent. So the cursor names the change (`txid`, `change_id`)
    and the horizon of the round that sent it: every change of a transaction below the
    horizon had committed and was sent. A resume replays what comes after the change and
    every change at or above the horizon (a few may come twice, none is lost). On SQLite
    changes commit in id order: the cursor is the change id alone.
    """

    change_id: int
    txid: int = 0
    horizon: int = NO_HORIZON

    def __str__(self) -> str:
        if self.txid == 0 and self.horizon >= NO_HORIZON:
            return str(self.change_id)
        return f"{self.change_id}.{self.txid}.{self.horizon}"

    @classmethod
    def parse(cls, raw: str) -> FeedCursor | None:
        """Read a cursor from Last-Event-ID; None when it is not one."""
        parts = raw.strip().split(".")
        if len(parts) not in (1, 3) or not all(p.isascii() and p.isdigit() for p in parts):
            return None
        if any(len(p) > 19 for p in parts):  # past 2**63 (and int() refuses 4,300 digits)
            return None
        numbers = [int(p) for p in parts]
        if any(n >= 2**63 for n in numbers):
            return None
        return cls(*numbers) if len(numbers) == 3 else cls(numbers[0])


class Collector:
    """The hub's cursors: vehicle states by time, order changes by the sync change feed, alerts.

    Order changes are read in (transaction, change) order below PostgreSQL's horizon, where
    nothing can still appear, and remembered above it: none is skipped, none sent twice.
    """

    def __init__(self, session: Session) -> None:
        now = utcnow()
        self.states_after = now
        self.states: dict[int, tuple[datetime, Flags]] = {
            vehicle_id: (updated_at, (liveness, connected, available))
            for vehicle_id, updated_at, liveness, connected, available in session.execute(
                select(
                    VehicleState.vehicle_id,
                    VehicleState.updated_at,
                    VehicleState.liveness,
                    VehicleState.connected,
                    VehicleState.available,
                )
            )
        }
        self.alerts_after = now
        self.alerts_sent: dict[int, datetime] = dict(
            session.execute(
                select(Alert.id, Alert.created_at).where(Alert.created_at > now - ALERT_MARGIN)
            ).all()
        )
        horizon = pull_horizon(session)
        last = session.execute(
            select(Change.txid, Change.id)
            .where(Change.txid < horizon)
            .order_by(Change.txid.desc(), Change.id.desc())
            .limit(1)
        ).first()
        self.changes_after: tuple[int, int] = (int(last[0]), int(last[1])) if last else (0, 0)
        self.changes_sent: dict[int, int] = dict(
            session.execute(
                select(Change.id, Change.txid).where(
                    tuple_(Change.txid, Change.id) > self.changes_after
                )
            ).all()
        )

    def round(self, session: Session) -> list[LiveEvent]:
        """Return every event since the previous round (unfiltered: subscribers filter)."""
        return [*self._states(session), *self._changes(session), *self._alerts(session)]

    def _states(self, session: Session) -> list[LiveEvent]:
        """At most one `position` per vehicle: its state row as it is now.

        The margin re-reads the whole fleet that moved in the last seconds, so only each row's
        stamp is read for it; the columns an event carries only for the rows that changed.
        """
        stamps = session.execute(
            select(VehicleState.vehicle_id, VehicleState.updated_at).where(
                VehicleState.updated_at > self.states_after - STATE_MARGIN
            )
        )
        changed = [
            vehicle_id
            for vehicle_id, updated_at in stamps
            if vehicle_id not in self.states or self.states[vehicle_id][0] < updated_at
        ]
        found: list[LiveEvent] = []
        for start in range(0, len(changed), PAGE):
            page = changed[start : start + PAGE]
            for row in session.execute(state_rows().where(VehicleState.vehicle_id.in_(page))):
                previous = self.states.get(row.vehicle_id)
                flags = (row.liveness, row.connected, row.available)
                found.append(events.position_of(row))
                if previous is not None and previous[1] != flags:
                    found.append(
                        events.vehicle_state(row, row.plate, row.specialty, row.department_id)
                    )
                self.states[row.vehicle_id] = (row.updated_at, flags)
                self.states_after = max(self.states_after, row.updated_at)
        return found

    def _alerts(self, session: Session) -> list[LiveEvent]:
        found = []
        since = self.alerts_after - ALERT_MARGIN
        rows = session.scalars(select(Alert).where(Alert.created_at > since).order_by(Alert.id))
        for alert in rows:
            if alert.id not in self.alerts_sent:
                found.append(events.alert(alert))
                self.alerts_sent[alert.id] = alert.created_at
            self.alerts_after = max(self.alerts_after, alert.created_at)
        cutoff = self.alerts_after - ALERT_MARGIN
        self.alerts_sent = {i: at for i, at in self.alerts_sent.items() if at > cutoff}
        return found

    def _changes(self, session: Session) -> list[LiveEvent]:
        found: list[LiveEvent] = []
        horizon = pull_horizon(session)
        page_after = self.changes_after
        while True:
            rows = session.execute(
                select(Change.id, Change.txid, Change.entity, Change.record_id, Change.op)
                .where(tuple_(Change.txid, Change.id) > page_after)
                .order_by(Change.txid, Change.id)
                .limit(PAGE)
            ).all()
            fresh = []
            for change_id, txid, entity, record_id, op in rows:
                page_after = (txid, change_id)
                if txid < horizon:  # complete: nothing can appear before it any more
                    self.changes_after = page_after
                if change_id in self.changes_sent:
                    continue
                self.changes_sent[change_id] = txid
                if entity in FEED_ENTITIES and op not in ROUTING_OPS:
                    fresh.append((change_id, txid, entity, record_id))
            found += load_changes(session, fresh, horizon)
            if len(rows) < PAGE:
                break
        # Only what the durable cursor has not passed can be read again.
        self.changes_sent = {
            i: t for i, t in self.changes_sent.items() if (t, i) > self.changes_after
        }
        return found


def load_changes(
    session: Session, changes: Iterable[tuple[int, int, str, str]], horizon: int
) -> list[LiveEvent]:
    """Turn (change id, txid, entity, record id) into `order`, `order_event`, `outage` events.

    In feed order (txid, change id), each with its resume cursor under `horizon`.
    """
    latest: dict[tuple[str, uuid.UUID], tuple[int, int]] = {}
    for change_id, txid, entity, record_id in changes:
        try:
            key = (entity, uuid.UUID(record_id))
        except ValueError:  # pragma: no cover - record ids of these entities are UUIDs
            continue
        latest[key] = max((txid, change_id), latest.get(key, (0, 0)))
    if not latest:
        return []
    order_ids = {rid for (entity, rid) in latest if entity == "work_order"}
    timing = _timing_events(session, {rid for (entity, rid) in latest if entity == "timing_event"})
    order_ids |= {event.order_id for event in timing.values()}
    orders = _orders(session, order_ids)
    outages = _outages(session, {rid for (entity, rid) in latest if entity == OUTAGE})
    found: list[tuple[tuple[int, int], LiveEvent]] = []
    for (entity, record_id), (txid, change_id) in latest.items():
        cursor = str(FeedCursor(change_id, txid, horizon))
        if entity == "work_order" and record_id in orders:
            order, departments = orders[record_id]
            found.append(((txid, change_id), events.order(order, departments, change_id, cursor)))
        elif entity == "timing_event" and record_id in timing:
            event = timing[record_id]
            if event.order_id in orders:
                order, departments = orders[event.order_id]
                live = events.order_event(event, order.vehicle_id, departments, change_id, cursor)
                found.append(((txid, change_id), live))
        elif entity == OUTAGE and record_id in outages:
            view, departments = outages[record_id]
            found.append(((txid, change_id), events.outage(view, departments, change_id, cursor)))
    return [event for _, event in sorted(found, key=lambda pair: pair[0])]


def _timing_events(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, TimingEvent]:
    if not ids:
        return {}
    return {e.id: e for e in session.scalars(select(TimingEvent).where(TimingEvent.id.in_(ids)))}


def _orders(
    session: Session, ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[WorkOrder, frozenset[int]]]:
    if not ids:
        return {}
    rows: Any = session.execute(
        select(WorkOrder, Crew.department_id)
        .outerjoin(Crew, Crew.id == WorkOrder.crew_id)
        .where(WorkOrder.id.in_(ids))
    ).all()
    return {o.id: (o, events.order_departments(o, crew_dept)) for o, crew_dept in rows}


def _outages(
    session: Session, ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[dict[str, Any], frozenset[int]]]:
    """Each outage's view and who sees it: its owner's whole company (`network_filter`)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Outage, Department.path)
        .join(Department, Department.id == Outage.department_id)
        .where(Outage.id.in_(ids))
    ).all()
    companies: dict[str, frozenset[int]] = {}
    found = {}
    for outage, path in rows:
        root = f"/{path.strip('/').split('/')[0]}/"
        if root not in companies:
            companies[root] = frozenset(
                session.scalars(select(Department.id).where(Department.path.startswith(root)))
            )
        found[outage.id] = (outage_view(session, outage), companies[root])
    return found


def too_far_behind(what: str) -> TooFarBehind:
    """The refusal of a resume point more than `REPLAY_LIMIT` `what` back."""
    return TooFarBehind(
        f"The stream would have to replay more than {REPLAY_LIMIT} {what}: load the current "
        "state through the REST API and open the stream without Last-Event-ID (or `after`)."
    )


def replay_changes(session: Session, cursor: FeedCursor) -> list[LiveEvent]:
    """Order and outage events a subscriber resuming with Last-Event-ID missed (`FeedCursor`)."""
    horizon = pull_horizon(session)
    if cursor.txid == 0 and cursor.horizon >= NO_HORIZON and horizon < NO_HORIZON:
        # A bare change id on PostgreSQL: resume from its transaction on.
        txid = session.scalar(select(Change.txid).where(Change.id == cursor.change_id)) or 0
        cursor = FeedCursor(cursor.change_id, txid, txid)
    missed = or_(
        tuple_(Change.txid, Change.id) > (cursor.txid, cursor.change_id),
        Change.txid >= cursor.horizon,
    )
    rows: list[tuple[int, int, str, str]] = []
    page_after = (-1, -1)
    while True:
        page = session.execute(
            select(Change.id, Change.txid, Change.entity, Change.record_id)
            .where(missed, tuple_(Change.txid, Change.id) > page_after)
            .where(Change.entity.in_(FEED_ENTITIES), Change.op.not_in(ROUTING_OPS))
            .order_by(Change.txid, Change.id)
            .limit(PAGE)
        ).all()
        rows += [(i, t, e, r) for i, t, e, r in page]
        if len(rows) > REPLAY_LIMIT:
            raise too_far_behind("changes")
        if len(page) < PAGE:
            return load_changes(session, rows, horizon)
        page_after = (page[-1][1], page[-1][0])
