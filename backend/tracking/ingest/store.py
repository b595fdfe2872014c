"""Write one ingest batch: positions in bulk, newer-only vehicle state, events, counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from sqlalchemy import BigInteger, any_, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.orm import Session

from backend.dispatch.timing.states import OPEN_CREW_STATES
from backend.org.models import Vehicle
from backend.tracking.ingest.decode import PositionFix
from backend.tracking.models import IngestCounter, Liveness, Position, VehicleState
from gis.datum import Datum, to_wgs84
from gis.geometry import point_ewkt

# Orders whose vehicle's fixes feed geofence detectors (as `checkpoints.evaluate` selects them).
_OPEN_STATES = sorted(str(state) for state in OPEN_CREW_STATES)

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
    # A fix reaching us this long after it was taken came from the terminal's backlog.
    late_after: timedelta = BACKFILL_AFTER

    def __post_init__(self) -> None:
        late = max(BACKFILL_AFTER, timedelta(seconds=3 * self.report_interval_s))
        object.__setattr__(self, "late_after", late)


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
        return self.received_at - self.fix.ts > self.vehicle.late_after

    @property
    def datum(self) -> str:
        """The datum the device reported in (its own, or its vehicle's configured one)."""
        return str(self.fix.datum if self.fix.datum != Datum.WGS84 else self.vehicle.datum)

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
            "datum": self.datum,
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
    """What a batch wrote: new fixes per vehicle id (for geofences) and duplicates dropped."""

    inserted: dict[int, int] = field(default_factory=dict)
    duplicates: Counter[str] = field(default_factory=Counter)
    # Per vehicle, the oldest fix this batch stored: the geofences must re-read from there.
    earliest: dict[int, datetime] = field(default_factory=dict)
    # Of the vehicles with new fixes, those holding an open order (the only ones geofences
    # need); None when the store did not find out (then the geofences ask themselves).
    holding: frozenset[int] | None = None
    # Whether the store already added the batch's counts to the ingest counters.
    counted: bool = False


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def store_positions(
    session: Session,
    rows: Sequence[PositionRow],
    now: datetime,
    counts: Counter[tuple[str, str]] | None = None,
) -> BatchOutcome:
    """Insert fixes in one statement; the (vehicle, ts, seq) key makes replays no-ops.

    Then move each vehicle's state to its newest fix, but only when that fix is newer than
    the stored one, so a late batch never rewinds the map. On PostgreSQL the same statement
    adds `counts` (the batch's counts so far) and each vehicle's stored and duplicate fixes
    to the ingest counters (`outcome.counted`).
    """
    outcome = BatchOutcome()
    if not rows:
        return outcome
    unique: dict[tuple[int, datetime, int], PositionRow] = {}
    for row in rows:
        key = (row.vehicle.id, row.fix.ts, row.fix.seq or 0)
        if key in unique:
            outcome.duplicates[row.vehicle.vid] += 1
        unique[key] = row
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        tally = Counter(counts or {})
        for vid, n in outcome.duplicates.items():
            tally[(vid, "duplicate")] += n
        stored, holding = _store_postgres(session, list(unique.values()), now, tally)
        outcome.holding = frozenset(holding)
        outcome.counted = True
    else:
        stored = _store_generic(session, dialect, unique, now)
    outcome.inserted = {vehicle_id: n for vehicle_id, (n, _) in stored.items()}
    outcome.earliest = {vehicle_id: ts for vehicle_id, (_, ts) in stored.items()}
    vids = {row.vehicle.id: row.vehicle.vid for row in unique.values()}
    offered = Counter(row.vehicle.id for row in unique.values())
    for vehicle_id, n in offered.items():
        if n > outcome.inserted.get(vehicle_id, 0):
            outcome.duplicates[vids[vehicle_id]] += n - outcome.inserted.get(vehicle_id, 0)
    return outcome


# One statement per batch on PostgreSQL: the rows travel as one JSON array that orjson writes
# in C (a fixed, prepared query instead of a 14,000-placeholder VALUES list the driver would
# parse and bind value by value),
# the geometry is built by the server, the fixes' inserts come back counted per vehicle (not
# a row each), and each vehicle's state is written once: moved to its newest newly stored fix
# when that is newer than the stored one, and marked heard from in any case.
_PG_BATCH = """
WITH batch AS (
    SELECT (r->>0)::bigint AS vehicle_id, (r->>1)::timestamptz AS ts, (r->>2)::bigint AS seq,
           (r->>3)::float8 AS lat, (r->>4)::float8 AS lon, (r->>5)::float8 AS acc,
           (r->>6)::float8 AS speed, (r->>7)::float8 AS heading, (r->>8)::float8 AS batt,
           r->>9 AS source, (r->>10)::bool AS backfilled, r->>11 AS datum, r->>12 AS vid
    FROM json_array_elements($1::json) AS r
), stored AS (
    INSERT INTO positions (vehicle_id, ts, seq, recorded_at, lat, lon, geom, acc, speed,
                           heading, batt, source, backfilled, datum)
    SELECT vehicle_id, ts, seq, $2, lat, lon,
           ST_SetSRID(ST_MakePoint(lon, lat), 4326), acc, speed, heading, batt, source,
           backfilled, datum
    FROM batch
    ON CONFLICT (vehicle_id, ts, seq) DO NOTHING
    RETURNING vehicle_id, ts, seq
), newest AS (
    SELECT DISTINCT ON (b.vehicle_id) b.*
    FROM batch b JOIN stored s USING (vehicle_id, ts, seq)
    ORDER BY b.vehicle_id, b.ts DESC, b.seq DESC
), moved AS (
    INSERT INTO vehicle_states AS vs (vehicle_id, ts, lat, lon, geom, acc, speed, heading, batt,
                                      seq, liveness, connected, available, last_seen, updated_at)
    SELECT vehicle_id, ts, lat, lon, ST_SetSRID(ST_MakePoint(lon, lat), 4326), acc, speed,
           heading, batt, seq, 'online', true, true, $2, $2
    FROM newest ORDER BY vehicle_id
    ON CONFLICT (vehicle_id) DO UPDATE SET
        -- The fix columns only move forward in time; a late fix still proves it is alive.
        ts = CASE WHEN vs.ts < excluded.ts THEN excluded.ts ELSE vs.ts END,
        lat = CASE WHEN vs.ts < excluded.ts THEN excluded.lat ELSE vs.lat END,
        lon = CASE WHEN vs.ts < excluded.ts THEN excluded.lon ELSE vs.lon END,
        geom = CASE WHEN vs.ts < excluded.ts THEN excluded.geom ELSE vs.geom END,
        acc = CASE WHEN vs.ts < excluded.ts THEN excluded.acc ELSE vs.acc END,
        speed = CASE WHEN vs.ts < excluded.ts THEN excluded.speed ELSE vs.speed END,
        heading = CASE WHEN vs.ts < excluded.ts THEN excluded.heading ELSE vs.heading END,
        batt = CASE WHEN vs.ts < excluded.ts THEN excluded.batt ELSE vs.batt END,
        seq = CASE WHEN vs.ts < excluded.ts THEN excluded.seq ELSE vs.seq END,
        updated_at = CASE WHEN vs.ts < excluded.ts THEN excluded.updated_at
                          ELSE vs.updated_at END,
        liveness = 'online',
        last_seen = GREATEST(vs.last_seen, excluded.last_seen)
    WHERE vs.ts < excluded.ts OR vs.last_seen < excluded.last_seen
), counted AS (
    SELECT vehicle_id, count(*) AS n, min(ts) AS earliest FROM stored GROUP BY vehicle_id
), tallies AS (
    -- The batch's ingest counters: each vehicle's stored and duplicate fixes, and the counts
    -- the caller made before ($4), in the same statement (no round trip of their own).
    SELECT b.vid AS key, CASE WHEN s.vehicle_id IS NULL THEN 'duplicate' ELSE 'stored' END
           AS reason, count(*) AS n
    FROM batch b LEFT JOIN stored s USING (vehicle_id, ts, seq)
    GROUP BY 1, 2
    UNION ALL
    SELECT c->>0, c->>1, (c->>2)::bigint FROM json_array_elements($4::json) AS c
), bumped AS (
    INSERT INTO ingest_counters AS c (key, reason, count, updated_at)
    SELECT left(key, 140), left(reason, 32), sum(n), $2 FROM tallies
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (key, reason) DO UPDATE SET count = c.count + excluded.count, updated_at = $2
)
-- Whether the vehicle holds an open order: most hold none, and then the geofences need not
-- look at the batch at all (no query of their own).
SELECT c.vehicle_id, c.n, c.earliest,
       EXISTS (SELECT 1 FROM work_orders w WHERE w.vehicle_id = c.vehicle_id
               AND w.status = ANY($3::text[]))
FROM counted c
"""


def _execute_raw(session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """Run `sql` with `$n` placeholders on the session's connection; return its rows.

    A psycopg RawCursor takes the placeholders as they are: the batch statements are long,
    and psycopg would re-parse `%(name)s` placeholders of a query past its cache's length
    limit on every call. Its errors are handed to SQLAlchemy as SQLAlchemy's own, so a
    connection the server dropped (a restart) is discarded from the pool and the caller's
    retry of a database outage applies, as for every other statement.
    """
    connection = session.connection()
    try:
        with psycopg.RawCursor(connection.connection.driver_connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.fetchall() if cursor.description else []
    except psycopg.Error as exc:
        wrapped = DBAPIError.instance(sql, params, exc, psycopg.Error, connection_invalidated=False)
        if (
            isinstance(wrapped, SAOperationalError)
            or connection.connection.driver_connection.closed
        ):
            connection.invalidate(exc)
        raise wrapped from exc


def _store_postgres(
    session: Session, rows: list[PositionRow], now: datetime, counts: Counter[tuple[str, str]]
) -> tuple[dict[int, tuple[int, datetime]], set[int]]:
    """Write the batch, and add it and `counts` to the ingest counters, with `_PG_BATCH`.

    Returns, per vehicle, how many fixes it stored and the oldest; and which of those vehicles
    hold an open order.
    """
    batch = [
        (
            row.vehicle.id,
            fix.ts,
            fix.seq or 0,
            row.lat,
            row.lon,
            fix.acc,
            fix.speed,
            fix.heading,
            fix.batt,
            row.source,
            row.backfilled,
            row.datum,
            row.vehicle.vid,
        )
        for row in rows
        for fix in (row.fix,)
    ]
    tally = [(key, reason, n) for (key, reason), n in counts.items() if n]
    params = (orjson.dumps(batch).decode(), now, _OPEN_STATES, orjson.dumps(tally).decode())
    rows_out = _execute_raw(session, _PG_BATCH, params)
    stored = {int(vehicle_id): (int(n), ts) for vehicle_id, n, ts, _ in rows_out}
    return stored, {int(vehicle_id) for vehicle_id, _, _, holds in rows_out if holds}


def _store_generic(
    session: Session,
    dialect: str,
    unique: dict[tuple[int, datetime, int], PositionRow],
    now: datetime,
) -> dict[int, tuple[int, datetime]]:
    """SQLite: one multi-row insert through SQLAlchemy, then the state upsert and touch."""
    params = {key: row.as_params(now) for key, row in unique.items()}
    table = Position.__table__
    stmt = (
        _insert(dialect)(table)
        .on_conflict_do_nothing(index_elements=["vehicle_id", "ts", "seq"])
        .returning(table.c.vehicle_id, table.c.ts, table.c.seq)
    )
    stored = {(v, ts, seq) for v, ts, seq in session.execute(stmt, list(params.values()))}
    inserted: Counter[int] = Counter()
    newest: dict[int, PositionRow] = {}
    oldest: dict[int, datetime] = {}
    for key, row in unique.items():
        if key not in stored:
            continue
        vehicle_id, ts = row.vehicle.id, row.fix.ts
        inserted[vehicle_id] += 1
        if vehicle_id not in newest or ts > newest[vehicle_id].fix.ts:
            newest[vehicle_id] = row
        oldest[vehicle_id] = min(ts, oldest.get(vehicle_id, ts))
    upsert_states(session, dialect, newest.values(), now)
    touch_vehicles(session, inserted.keys(), now)
    return {vehicle_id: (n, oldest[vehicle_id]) for vehicle_id, n in inserted.items()}


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


def newest_fixes(
    session: Session, vehicle_ids: Iterable[int]
) -> list[tuple[int, datetime, float, float, float | None]]:
    """(vehicle id, ts, lat, lon, acc) of each vehicle's newest stored fix."""
    ids = sorted(set(vehicle_ids))
    if not ids:
        return []
    columns = (
        VehicleState.vehicle_id,
        VehicleState.ts,
        VehicleState.lat,
        VehicleState.lon,
        VehicleState.acc,
    )
    query = select(*columns).where(any_id(session, VehicleState.vehicle_id, ids))
    return [(v, ts, lat, lon, acc) for v, ts, lat, lon, acc in session.execute(query)]


_PG_STAMP_AND_NEWEST = """
SELECT NULL::bigint, NULL::timestamptz, NULL::float8, NULL::float8, NULL::float8, value
FROM registry_stamps WHERE name = $2
UNION ALL
SELECT vehicle_id, ts, lat, lon, acc, NULL FROM vehicle_states WHERE vehicle_id = ANY($1::bigint[])
"""


def stamp_and_newest_fixes(
    session: Session, stamp_name: str, vehicle_ids: Iterable[int]
) -> tuple[int | None, list[tuple[int, datetime, float, float, float | None]]]:
    """PostgreSQL: the registry stamp and `newest_fixes` in one round trip."""
    stamp: int | None = None
    found = []
    for vehicle_id, ts, lat, lon, acc, value in _execute_raw(
        session, _PG_STAMP_AND_NEWEST, (sorted(set(vehicle_ids)), stamp_name)
    ):
        if vehicle_id is None:
            stamp = int(value) if value is not None else None
        elif ts is not None:
            found.append((int(vehicle_id), ts, lat, lon, acc))
    return stamp, found


def any_id(session: Session, column: Any, ids: list[int]) -> Any:
    """`column IN ids`: one array parameter on PostgreSQL (a long IN list costs the driver)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", ids, type_=postgresql.ARRAY(BigInteger)))
    return column.in_(ids)


def set_connected(session: Session, vehicle_id: int, connected: bool, now: datetime) -> None:
    """Apply a terminal's retained status or Last Will."""
    values: dict[str, Any] = {"connected": connected, "updated_at": now}
    if not connected:
        values["liveness"] = Liveness.OFFLINE.value
    session.execute(
        update(VehicleState).where(VehicleState.vehicle_id == vehicle_id).values(**values)
    )


_PG_COUNTERS = """
INSERT INTO ingest_counters AS c (key, reason, count, updated_at)
SELECT key, reason, count, $4
FROM unnest($1::text[], $2::text[], $3::bigint[]) AS b(key, reason, count)
ORDER BY key, reason
ON CONFLICT (key, reason) DO UPDATE SET count = c.count + excluded.count, updated_at = $4
"""


def bump_counters(session: Session, counts: Counter[tuple[str, str]], now: datetime) -> None:
    """Add this batch's counts to the persisted totals (one statement, in key order)."""
    merged: Counter[tuple[str, str]] = Counter()
    for (key, reason), count in counts.items():
        if count:
            merged[(key[:140], reason[:32])] += count
    if not merged:
        return
    ordered = sorted(merged.items())
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        keys = [key for (key, _), _ in ordered]
        reasons = [reason for (_, reason), _ in ordered]
        _execute_raw(session, _PG_COUNTERS, (keys, reasons, [n for _, n in ordered], now))
        return
    table = IngestCounter.__table__
    stmt = _insert(dialect)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key", "reason"],
        set_={"count": table.c.count + stmt.excluded["count"], "updated_at": now},
    )
    rows = [
        {"key": key, "reason": reason, "count": count, "updated_at": now}
        for (key, reason), count in ordered
    ]
    session.execute(stmt, rows)


def refresh_liveness(
    session: Session, now: datetime, stale_factor: float = 3.0, offline_factor: float = 10.0
) -> list[tuple[int, str]]:
    """Mark vehicles silent past interval × factor stale, then offline; return the changes.

    One read and at most one UPDATE per new state, whatever the fleet's size: after an
    outage every vehicle changes at once, and a statement per vehicle held the ingest's writer
    (and with it every acknowledgement) for seconds to minutes while the backlog grew.
    """
    interval = Vehicle.report_interval_s
    silent = func.coalesce(interval, 10)
    rows = session.execute(
        select(VehicleState.vehicle_id, VehicleState.liveness, VehicleState.last_seen, silent)
        .join(Vehicle, Vehicle.id == VehicleState.vehicle_id)
        .where(VehicleState.liveness != Liveness.OFFLINE.value)
    ).all()
    wanted: dict[Liveness, list[tuple[int, datetime]]] = {Liveness.STALE: [], Liveness.OFFLINE: []}
    for vehicle_id, liveness, last_seen, seconds in rows:
        quiet = (now - last_seen).total_seconds()
        if quiet > seconds * offline_factor:
            state = Liveness.OFFLINE
        elif quiet > seconds * stale_factor and liveness != Liveness.STALE:
            state = Liveness.STALE
        else:
            continue  # online, or stale already (a fix brings it back online)
        wanted[state].append((vehicle_id, last_seen))
    changes = []
    for state, found in wanted.items():
        if not found:
            continue
        ids = sorted(vehicle_id for vehicle_id, _ in found)
        # A fix stored since the read moved last_seen past the newest one read: keep it online.
        heard_by = max(last_seen for _, last_seen in found)
        changed = session.scalars(
            update(VehicleState)
            .where(any_id(session, VehicleState.vehicle_id, ids))
            .where(VehicleState.last_seen <= heard_by)
            .values(liveness=state.value, updated_at=now)
            .returning(VehicleState.vehicle_id)
            .execution_options(synchronize_session=False)
        )
        changes += [(vehicle_id, state.value) for vehicle_id in sorted(changed)]
    return changes
