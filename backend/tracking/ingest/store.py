"""Write one ingest batch: positions in bulk, newer-only vehicle state, events, counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.org.models import Vehicle
from backend.tracking.ingest.decode import PositionFix
from backend.tracking.models import IngestCounter, Liveness, Position, VehicleState
from gis.datum import Datum, to_wgs84
from gis.geometry import point_ewkt

# A fix reaching us this much after it was taken came from a terminal's backlog.
BACKFILL_AFTER = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class VehicleRef:
    """What the ingest needs to know about the vehicle a device key names."""

    id: int
    vid: str
    datum: Datum
    department_id: int
    report_interval_s: int


@dataclass(slots=True)
class PositionRow:
    """A validated fix ready to store, already in WGS-84."""

    vehicle: VehicleRef
    fix: PositionFix
    lon: float
    lat: float
    source: str
    received_at: datetime

    @property
    def backfilled(self) -> bool:
        """Whether the fix reached the server long after it was taken."""
        late = max(BACKFILL_AFTER, timedelta(seconds=3 * self.vehicle.report_interval_s))
        return self.received_at - self.fix.ts > late

    def as_params(self, now: datetime) -> dict[str, Any]:
        """Column values for the bulk insert."""
        fix = self.fix
        return {
            "vehicle_id": self.vehicle.id,
            "ts": fix.ts,
            "seq": fix.seq or 0,
            "recorded_at": now,
            "lat": self.lat,
            "lon": self.lon,
            "geom": point_ewkt(self.lon, self.lat),
            "acc": fix.acc,
            "speed": fix.speed,
            "heading": fix.heading,
            "batt": fix.batt,
            "source": self.source,
            "backfilled": self.backfilled,
            "datum": str(fix.datum if fix.datum != Datum.WGS84 else self.vehicle.datum),
        }


def to_row(
    vehicle: VehicleRef, fix: PositionFix, source: str, received_at: datetime
) -> PositionRow:
    """Convert a decoded fix to WGS-84 using the device's datum (or the vehicle's)."""
    datum = fix.datum if fix.datum != Datum.WGS84 else vehicle.datum
    lon, lat = to_wgs84(fix.lon, fix.lat, datum) if datum != Datum.WGS84 else (fix.lon, fix.lat)
    return PositionRow(vehicle, fix, lon, lat, source, received_at)


@dataclass
class BatchOutcome:
    """What a batch wrote: new fixes per vehicle (for geofences) and duplicates dropped."""

    inserted: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    duplicates: Counter[str] = field(default_factory=Counter)


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def store_positions(session: Session, rows: Sequence[PositionRow], now: datetime) -> BatchOutcome:
    """Insert fixes in one statement; the (vehicle, ts, seq) key makes replays no-ops.

    Then move each vehicle's state to its newest fix, but only when that fix is newer than
    the stored one, so a late batch never rewinds the map.
    """
    outcome = BatchOutcome()
    if not rows:
        return outcome
    dialect = session.get_bind().dialect.name
    unique: dict[tuple[int, datetime, int], PositionRow] = {}
    for row in rows:
        key = (row.vehicle.id, row.fix.ts, row.fix.seq or 0)
        if key in unique:
            outcome.duplicates[row.vehicle.vid] += 1
        unique[key] = row
    params = {key: row.as_params(now) for key, row in unique.items()}
    table = Position.__table__
    stmt = (
        _insert(dialect)(table)
        .on_conflict_do_nothing(index_elements=["vehicle_id", "ts", "seq"])
        .returning(table.c.vehicle_id, table.c.ts, table.c.seq)
    )
    inserted = {(v, ts, seq) for v, ts, seq in session.execute(stmt, list(params.values()))}
    for key, row in unique.items():
        if key in inserted:
            outcome.inserted.setdefault(row.vehicle.id, []).append(params[key])
        else:
            outcome.duplicates[row.vehicle.vid] += 1
    newest: dict[int, PositionRow] = {}
    for key, row in unique.items():
        if key in inserted and (
            row.vehicle.id not in newest or row.fix.ts > newest[row.vehicle.id].fix.ts
        ):
            newest[row.vehicle.id] = row
    upsert_states(session, dialect, newest.values(), now)
    return outcome


def upsert_states(
    session: Session, dialect: str, rows: Iterable[PositionRow], now: datetime
) -> None:
    """Upsert each vehicle's current fix; an older fix than the stored one changes nothing."""
    values = [
        {
            "vehicle_id": r.vehicle.id,
            "ts": r.fix.ts,
            "lat": r.lat,
            "lon": r.lon,
            "geom": point_ewkt(r.lon, r.lat),
            "acc": r.fix.acc,
            "speed": r.fix.speed,
            "heading": r.fix.heading,
            "batt": r.fix.batt,
            "seq": r.fix.seq or 0,
            "liveness": Liveness.ONLINE.value,
            "connected": True,
            "available": True,
            "last_seen": now,
            "updated_at": now,
        }
        for r in rows
    ]
    if not values:
        return
    table = VehicleState.__table__
    stmt = _insert(dialect)(table)
    moved = {
        c: stmt.excluded[c]
        for c in ("ts", "lat", "lon", "geom", "acc", "speed", "heading", "batt", "seq")
    }
    stmt = stmt.on_conflict_do_update(
        index_elements=["vehicle_id"],
        set_={
            **moved,
            "liveness": Liveness.ONLINE.value,
            "last_seen": stmt.excluded.last_seen,
            "updated_at": stmt.excluded.updated_at,
        },
        where=table.c.ts < stmt.excluded.ts,
    )
    # One statement for the batch, in one lock order so concurrent workers cannot deadlock.
    session.execute(stmt, sorted(values, key=lambda v: v["vehicle_id"]))


def touch_vehicles(session: Session, vehicle_ids: Iterable[int], now: datetime) -> None:
    """Record that vehicles were heard from (a late fix still proves a vehicle is alive)."""
    ids = sorted(set(vehicle_ids))
    if ids:
        session.execute(
            update(VehicleState)
            .where(VehicleState.vehicle_id.in_(ids), VehicleState.last_seen < now)
            .values(last_seen=now, liveness=Liveness.ONLINE.value)
        )


def set_connected(session: Session, vehicle_id: int, connected: bool, now: datetime) -> None:
    """Apply a terminal's retained status or Last Will."""
    values: dict[str, Any] = {"connected": connected, "updated_at": now}
    if not connected:
        values["liveness"] = Liveness.OFFLINE.value
    session.execute(
        update(VehicleState).where(VehicleState.vehicle_id == vehicle_id).values(**values)
    )


def bump_counters(session: Session, counts: Counter[tuple[str, str]], now: datetime) -> None:
    """Add this batch's counts to the persisted totals."""
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    table = IngestCounter.__table__
    stmt = _insert(dialect)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "reason"],
        set_={"count": table.c.count + stmt.excluded["count"], "updated_at": now},
    )
    merged: Counter[tuple[str, str]] = Counter()
    for (key, reason), count in counts.items():
        if count:
            merged[(key[:140], reason[:32])] += count
    rows = [
        {"key": key, "reason": reason, "count": count, "updated_at": now}
        for (key, reason), count in sorted(merged.items())
    ]
    if rows:
        session.execute(stmt, rows)


def refresh_liveness(
    session: Session, now: datetime, stale_factor: float = 3.0, offline_factor: float = 10.0
) -> list[tuple[int, str]]:
    """Mark vehicles silent past interval × factor stale, then offline; return the changes."""
    interval = Vehicle.report_interval_s
    silent = func.coalesce(interval, 10)
    rows = session.execute(
        select(VehicleState.vehicle_id, VehicleState.liveness, VehicleState.last_seen, silent)
        .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
        .where(VehicleState.liveness != Liveness.OFFLINE.value)
    ).all()
    changes = []
    for vehicle_id, liveness, last_seen, seconds in rows:
        quiet = (now - last_seen).total_seconds()
        wanted = Liveness.ONLINE
        if quiet > seconds * offline_factor:
            wanted = Liveness.OFFLINE
        elif quiet > seconds * stale_factor:
            wanted = Liveness.STALE
        if wanted != liveness and wanted != Liveness.ONLINE:  # a fix brings it back online
            session.execute(
                update(VehicleState)
                .where(VehicleState.vehicle_id == vehicle_id)
                .values(liveness=wanted.value, updated_at=now)
            )
            changes.append((vehicle_id, wanted.value))
    return changes
