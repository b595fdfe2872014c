"""The dispatcher console's live feed (SSE): positions, states, order checkpoints, alerts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, scope_filter
from backend.auth.policy import Action, authorize
from backend.org.models import Vehicle
from backend.tracking.models import Checkpoint, VehicleState
from backend.tracking.service import state_properties


def sse(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """Format one Server-Sent Event."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class FeedCursor:
    """What one subscriber has been sent: last change times and each vehicle's last state."""

    def __init__(self, since: datetime) -> None:
        self.states_after = since
        self.checkpoints_after = since
        self.sent_states: dict[int, tuple[str, bool, bool]] = {}
        self.alerts_after_id: int | None = None

    def poll(self, session: Session, actor: Actor) -> list[str]:
        """Return the events since the last poll, visible to the actor."""
        authorize(actor, Action.TRACKING_READ)  # the same check as the route, on every poll
        events: list[str] = []
        rows = session.execute(
            select(VehicleState, Vehicle.plate, Vehicle.specialty)
            .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
            .where(
                scope_filter(actor, Vehicle.department_id),
                VehicleState.updated_at > self.states_after,
            )
            .order_by(VehicleState.updated_at)
        ).all()
        for state, plate, specialty in rows:
            props = state_properties(state, plate, specialty)
            feature = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [state.lon, state.lat]},
                "properties": props,
            }
            events.append(sse("position", feature))
            current = (state.liveness, state.connected, state.available)
            if self.sent_states.get(state.vehicle_id) not in (None, current):
                events.append(sse("state", {"vehicle_id": state.vehicle_id, **props}))
            self.sent_states[state.vehicle_id] = current
            self.states_after = max(self.states_after, state.updated_at)
        checkpoints = session.scalars(
            select(Checkpoint)
            .join(Vehicle, Vehicle.id == Checkpoint.vehicle_id)
            .where(
                scope_filter(actor, Vehicle.department_id),
                Checkpoint.recorded_at > self.checkpoints_after,
            )
            .order_by(Checkpoint.recorded_at)
        ).all()
        for point in checkpoints:
            events.append(
                sse(
                    "order_event",
                    {
                        "order_id": point.order_id,
                        "vehicle_id": point.vehicle_id,
                        "point": point.point,
                        "source": point.source,
                        "occurred_at": point.occurred_at.isoformat(),
                        "backfilled": point.backfilled,
                    },
                )
            )
            self.checkpoints_after = max(self.checkpoints_after, point.recorded_at)
        events += self._alerts(session, actor)
        return events

    def _alerts(self, session: Session, actor: Actor) -> list[str]:
        """Dispatch's escalation alerts: the open ones first, then each new one."""
        try:
            from backend.dispatch.models import Alert
        except ImportError:  # pragma: no cover - dispatch not installed
            return []
        query = select(Alert).where(scope_filter(actor, Alert.department_id)).order_by(Alert.id)
        if self.alerts_after_id is None:
            query = query.where(Alert.acknowledged_at.is_(None))
        else:
            query = query.where(Alert.id > self.alerts_after_id)
        events = []
        last = self.alerts_after_id or 0
        for alert in session.scalars(query):
            events.append(
                sse(
                    "alert",
                    {
                        "id": alert.id,
                        "order_id": str(alert.order_id),
                        "tier": alert.tier,
                        "stage": alert.stage,
                        "message": alert.message,
                        "created_at": alert.created_at.isoformat(),
                    },
                )
            )
            last = max(last, alert.id)
        if self.alerts_after_id is None:
            newest = session.scalar(select(func.max(Alert.id)))
            last = max(last, newest or 0)
        self.alerts_after_id = last
        return events


def stream(
    open_session: Callable[[], Session],
    actor: Actor,
    since: datetime,
    max_seconds: float | None,
    interval_s: float = 1.0,
) -> Iterator[str]:
    """Yield events until `max_seconds` pass (or forever); a comment line keeps proxies open."""
    cursor = FeedCursor(since)
    started = time.monotonic()
    yield "retry: 3000\n\n"
    while True:
        with open_session() as session:
            events = cursor.poll(session, actor)
            session.rollback()
        yield from events or [": keep-alive\n\n"]
        if max_seconds is not None and time.monotonic() - started >= max_seconds:
            yield sse("end", {"reason": "max_seconds"})
            return
        time.sleep(interval_s)
