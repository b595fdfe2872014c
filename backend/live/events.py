"""The feed's event types and payloads (documented in the README's "Live feed" section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Row

from backend.dispatch.models import Alert, TimingEvent, WorkOrder
from backend.dispatch.schemas import AlertSchema
from backend.network.schemas import OutageSchema
from backend.tracking.service import StateRow, state_properties

# A viewport in WGS-84 degrees: (min_lon, min_lat, max_lon, max_lat).
BBox = tuple[float, float, float, float]


class EventType(StrEnum):
    """The `event:` names a subscriber sees."""

    POSITION = "position"  # a vehicle's newest fix (GeoJSON Feature)
    STATE = "state"  # a vehicle's liveness, connection or availability changed
    ORDER = "order"  # an order changed: its status, crew, vehicle or dispatch round
    ORDER_EVENT = "order_event"  # a timing point (A-H) or lifecycle event was recorded
    ALERT = "alert"  # an acceptance escalation was raised
    OUTAGE = "outage"  # an outage was set or changed: its state, areas restored, planned end
    END = "end"  # the server ends the stream (max_seconds reached, or the client lagged)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One event and the departments whose members may see it.

    Its bytes are formatted once (`frame`) and shared by every stream that sends it.
    """

    type: EventType
    data: dict[str, Any]
    departments: frozenset[int]
    # Set on resumable events: the client sends it back as Last-Event-ID after a reconnect.
    event_id: str | None = None
    # The change it reports (order events): one change reaches a stream once, backlog or live.
    change_id: int | None = None
    # Position events: the vehicle, so a subscriber behind gets only its latest fix.
    vehicle_id: int | None = None
    # Formatted bytes, with and without the id (filled on first use; never compared).
    _frames: dict[bool, bytes] = field(default_factory=dict, compare=False, repr=False)

    def visible_to(self, departments: frozenset[int] | None) -> bool:
        """Tell whether a subscriber seeing these departments (None: all) may see it."""
        return departments is None or not self.departments.isdisjoint(departments)

    def inside(self, bbox: BBox) -> bool:
        """Tell whether a position lies in (min_lon, min_lat, max_lon, max_lat); others do."""
        if self.type is not EventType.POSITION:
            return True
        lon, lat = self.data["geometry"]["coordinates"]
        return bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]

    def frame(self, with_id: bool = True) -> bytes:
        """This event as one Server-Sent Event, formatted once whatever the number of streams.

        Without its id when the stream resumes by another kind of cursor.
        """
        found = self._frames.get(with_id)
        if found is None:
            found = sse(self.type, self.data, self.event_id if with_id else None)
            self._frames[with_id] = found
        return found


def sse(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """Format one Server-Sent Event (UTF-8)."""
    head = f"id: {event_id}\nevent: {event}\ndata: " if event_id else f"event: {event}\ndata: "
    return head.encode() + orjson.dumps(data) + b"\n\n"


def position(state: StateRow, plate: str, specialty: str, department_id: int) -> LiveEvent:
    """A vehicle's current fix and state as a GeoJSON Feature."""
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [state.lon, state.lat]},
        "properties": state_properties(state, plate, specialty),
    }
    departments = frozenset({department_id})
    return LiveEvent(EventType.POSITION, feature, departments, vehicle_id=state.vehicle_id)


def vehicle_state(state: StateRow, plate: str, specialty: str, department_id: int) -> LiveEvent:
    """A vehicle's liveness / connected / available flags changed."""
    props = state_properties(state, plate, specialty)
    return LiveEvent(EventType.STATE, props, frozenset({department_id}))


def position_of(row: Row[Any]) -> LiveEvent:
    """`position` from a row of `collect.STATE_COLUMNS` (no ORM objects on the hot path)."""
    return position(row, row.plate, row.specialty, row.department_id)


def order_departments(order: WorkOrder, crew_department: int | None) -> frozenset[int]:
    """Departments that see an order: owner, call center, repair center, the crew's."""
    found = {order.department_id, order.call_center_id, order.repair_center_id, crew_department}
    return frozenset(d for d in found if d is not None)


def order(
    work_order: WorkOrder, departments: frozenset[int], change_id: int, cursor: str
) -> LiveEvent:
    """An order as it is now, after a change."""
    data = {
        "order_id": str(work_order.id),
        "number": work_order.number,
        "status": work_order.status,
        "priority": work_order.priority,
        "department_id": work_order.department_id,
        "repair_center_id": work_order.repair_center_id,
        "crew_id": work_order.crew_id,
        "vehicle_id": work_order.vehicle_id,
        "dispatch_round": work_order.dispatch_round,
        "updated_at": work_order.updated_at.isoformat(),
    }
    return LiveEvent(EventType.ORDER, data, departments, cursor, change_id)


def order_event(
    event: TimingEvent,
    vehicle_id: int | None,
    departments: frozenset[int],
    change_id: int,
    cursor: str,
) -> LiveEvent:
    """A timing point or lifecycle event of an order, from any source."""
    data = {
        "id": str(event.id),
        "order_id": str(event.order_id),
        "vehicle_id": vehicle_id,
        "point": event.point,
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "dispatch_round": event.dispatch_round,
        "backfilled": event.backfilled,
    }
    return LiveEvent(EventType.ORDER_EVENT, data, departments, cursor, change_id)


def outage(
    view: dict[str, Any], departments: frozenset[int], change_id: int, cursor: str
) -> LiveEvent:
    """An outage as it is now (the fields of `GET /outages/{id}`), after a change."""
    data: dict[str, Any] = OutageSchema().dump(view)
    return LiveEvent(EventType.OUTAGE, data, departments, cursor, change_id)


def alert(item: Alert) -> LiveEvent:
    """An escalation alert, with the same fields as `GET /alerts`."""
    data: dict[str, Any] = AlertSchema().dump(item)
    return LiveEvent(EventType.ALERT, data, frozenset({item.department_id}), str(item.id))
