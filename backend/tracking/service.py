"""Read side of tracking: live vehicles, track history, ingest counters; the HTTP fix ingest."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, scope_filter
from backend.auth.models import Device
from backend.auth.passwords import verify_secret
from backend.auth.policy import Action, authorize, load_in_scope
from backend.db import utcnow
from backend.errors import OutOfScope, Unauthorized, Unprocessable
from backend.org.models import Vehicle
from backend.tracking.ingest.decode import DecodeError, PositionFix
from backend.tracking.ingest.pipeline import BatchReport, Inbound, Pipeline
from backend.tracking.models import IngestCounter, Position, VehicleState
from gis.datum import Datum, from_wgs84
from gis.geofence import ArrivalRules
from gis.geometry import feature_collection, line_feature, point_feature

MAX_TRACK_WINDOW = timedelta(days=7)
MAX_TRACK_POINTS = 20_000


def vehicle_in_scope(session: Session, actor: Actor, vehicle_id: int) -> Vehicle:
    """Load a vehicle whose track the actor may see, or raise 404/403."""
    return load_in_scope(session, actor, Vehicle, vehicle_id, action=Action.TRACKING_READ)


def _coords(lon: float, lat: float, datum: Datum) -> tuple[float, float]:
    return from_wgs84(lon, lat, datum) if datum != Datum.WGS84 else (lon, lat)


def live_vehicles(*, session: Session, actor: Actor, datum: Datum = Datum.WGS84) -> dict[str, Any]:
    """Return every visible vehicle's current position and state as GeoJSON."""
    authorize(actor, Action.TRACKING_READ)
    rows = session.execute(
        select(VehicleState, Vehicle.plate, Vehicle.specialty)
        .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
        .where(scope_filter(actor, Vehicle.department_id))
        .order_by(Vehicle.id)
    )
    return feature_collection(
        point_feature(*_coords(s.lon, s.lat, datum), state_properties(s, plate, specialty))
        for s, plate, specialty in rows
    )


# A vehicle's current state: the ORM row, or a plain row of its columns (the live feed).
StateRow = VehicleState | Row[Any]


def state_properties(state: StateRow, plate: str, specialty: str) -> dict[str, Any]:
    """The properties of a vehicle on the live map and in the feed."""
    return {
        "vehicle_id": state.vehicle_id,
        "plate": plate,
        "specialty": specialty,
        "ts": state.ts.isoformat(),
        "speed": state.speed,
        "heading": state.heading,
        "acc": state.acc,
        "batt": state.batt,
        "liveness": state.liveness,
        "connected": state.connected,
        "available": state.available,
        "last_seen": state.last_seen.isoformat(),
    }


def track(
    *,
    session: Session,
    actor: Actor,
    vehicle_id: int,
    since: datetime,
    until: datetime,
    datum: Datum = Datum.WGS84,
) -> dict[str, Any]:
    """Return a vehicle's fixes in a time window as a GeoJSON line plus point features."""
    vehicle_in_scope(session, actor, vehicle_id)
    if until <= since or until - since > MAX_TRACK_WINDOW:
        raise Unprocessable(
            "The window must end after it starts and span at most 7 days.",
            errors={"until": ["window must be positive and at most 7 days"]},
        )
    fixes = session.scalars(
        select(Position)
        .where(Position.vehicle_id == vehicle_id, Position.ts >= since, Position.ts < until)
        .order_by(Position.ts, Position.seq)
        .limit(MAX_TRACK_POINTS)
    ).all()
    coords = [_coords(p.lon, p.lat, datum) for p in fixes]
    features: list[dict[str, Any]] = []
    if len(coords) >= 2:
        features.append(line_feature(coords, {"vehicle_id": vehicle_id, "datum": str(datum)}))
    for fix, (lon, lat) in zip(fixes, coords, strict=True):
        features.append(
            point_feature(
                lon,
                lat,
                {
                    "ts": fix.ts.isoformat(),
                    "speed": fix.speed,
                    "acc": fix.acc,
                    "seq": fix.seq,
                    "backfilled": fix.backfilled,
                    "source": fix.source,
                },
            )
        )
    collection = feature_collection(features)
    collection["datum"] = str(datum)
    return collection


def metrics_text(session: Session) -> str:
    """Render the ingest counters in the Prometheus text format."""
    lines = [
        "# HELP fieldline_ingest_messages_total Messages the ingest stored or dropped, by reason.",
        "# TYPE fieldline_ingest_messages_total counter",
    ]
    rows = session.execute(
        select(IngestCounter.key, IngestCounter.reason, IngestCounter.count).order_by(
            IngestCounter.key, IngestCounter.reason
        )
    )
    for key, reason, count in rows:
        safe = key.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(
            f'fieldline_ingest_messages_total{{vehicle="{safe}",reason="{reason}"}} {count}'
        )
    return "\n".join(lines) + "\n"


class DeviceAuthenticator:
    """Checks a device identifier and secret; remembers good pairs so argon2 runs rarely."""

    def __init__(self, remember: timedelta = timedelta(minutes=10)) -> None:
        # (identifier, secret digest) -> when it was last good, under which token generation
        self._good: dict[tuple[str, str], tuple[datetime, int]] = {}
        self._remember = remember
        self._lock = threading.Lock()

    def _key(self, identifier: str, secret: str) -> tuple[str, str]:
        return identifier, hashlib.sha256(secret.encode()).hexdigest()

    def remembers(self, identifier: str, secret: str) -> bool:
        """Tell whether this pair was checked good recently (no argon2 run, no guess)."""
        return self._remembered(identifier, secret) is not None

    def _remembered(self, identifier: str, secret: str) -> int | None:
        with self._lock:
            remembered = self._good.get(self._key(identifier, secret))
        if remembered is None or utcnow() - remembered[0] >= self._remember:
            return None
        return remembered[1]

    def _forget(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._good.pop(key, None)

    def check(self, session: Session, identifier: str, secret: str) -> Device:
        """Return the active vehicle-terminal device, or raise 401."""
        device = session.scalar(select(Device).where(Device.identifier == identifier))
        key = self._key(identifier, secret)
        if device is None or not device.active or device.vehicle_id is None:
            self._forget(key)
            verify_secret(None, secret)  # same cost whether or not the device exists
            raise Unauthorized("Unknown or disabled device, or wrong secret.")
        # A rotated secret or a disabled-and-re-enabled device forgets what was remembered.
        fresh = self._remembered(identifier, secret) == device.token_generation
        if not fresh and not verify_secret(device.secret_hash, secret):
            # Forgotten at once: the next try with this secret is a guess, charged to the
            # login throttle (`remembers` spares only pairs still good).
            self._forget(key)
            raise Unauthorized("Unknown or disabled device, or wrong secret.")
        with self._lock:
            self._good[key] = (utcnow(), device.token_generation)
        return device


class HttpIngest:
    """The OsmAnd / Traccar Client endpoint's writer: one pipeline per process, serialised."""

    def __init__(self, arrival: ArrivalRules | None = None) -> None:
        # Devices authenticate as a fitted vehicle: nothing is ever parked here to replay.
        self.pipeline = Pipeline(replay_limit=0, arrival=arrival)
        self.devices = DeviceAuthenticator()
        self._lock = threading.Lock()

    def ingest(
        self, *, session: Session, device: Device, fix: PositionFix | DecodeError, source: str
    ) -> BatchReport:
        """Store one fix from an authenticated device; it may only report for itself."""
        if isinstance(fix, PositionFix) and fix.vehicle not in (device.identifier, ""):
            raise OutOfScope("A device may only report its own position.")
        vehicle = session.get(Vehicle, device.vehicle_id) if device.vehicle_id else None
        if vehicle is None:
            raise OutOfScope("This device is not fitted to a vehicle; it cannot report positions.")
        # Stored under the device's own vehicle, whatever its identifier looks like.
        key = vehicle.terminal_id or str(vehicle.id)
        if isinstance(fix, PositionFix):
            fix = PositionFix(**{**_fields(fix), "vehicle": key})
        item = Inbound(key=key, value=fix, received_at=utcnow(), source=source)
        with self._lock:
            return self.pipeline.process(session, [item])


def _fields(fix: PositionFix) -> dict[str, Any]:
    return {name: getattr(fix, name) for name in PositionFix.__slots__}
