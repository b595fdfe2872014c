"""What a new subscriber gets before the live events: current positions, open alerts, replay."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.dispatch.models import Alert
from backend.live import collect, events
from backend.live.collect import FeedCursor, replay_changes, state_rows, too_far_behind
from backend.live.events import BBox, LiveEvent
from backend.org.models import Vehicle
from backend.tracking.models import VehicleState


def positions(
    session: Session, departments: frozenset[int], bbox: BBox | None = None
) -> list[LiveEvent]:
    """Every visible vehicle's current position (only those inside `bbox` when given)."""
    query = state_rows().where(Vehicle.department_id.in_(departments))
    if bbox is not None:
        min_lon, min_lat, max_lon, max_lat = bbox
        query = query.where(
            VehicleState.lon.between(min_lon, max_lon), VehicleState.lat.between(min_lat, max_lat)
        )
    return [events.position_of(row) for row in session.execute(query)]


def alerts(
    session: Session, departments: frozenset[int], *, after_id: int | None = None
) -> list[LiveEvent]:
    """Visible alerts after an id, or (without one) those still open, as `GET /alerts?open=true`."""
    query = select(Alert).where(Alert.department_id.in_(departments)).order_by(Alert.id)
    if after_id is None:
        query = query.where(Alert.acknowledged_at.is_(None), Alert.settled_at.is_(None))
        return [events.alert(alert) for alert in session.scalars(query)]
    missed = list(session.scalars(query.where(Alert.id > after_id).limit(collect.REPLAY_LIMIT + 1)))
    if len(missed) > collect.REPLAY_LIMIT:
        raise too_far_behind("alerts")
    return [events.alert(alert) for alert in missed]


def order_changes(
    session: Session, departments: frozenset[int], *, after: FeedCursor
) -> list[LiveEvent]:
    """Order and timing events a client resuming with Last-Event-ID missed."""
    return [e for e in replay_changes(session, after) if e.visible_to(departments)]
