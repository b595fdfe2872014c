"""One ingest batch, broker-independent: validate, convert, store, apply events, count."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.tracking import checkpoints
from backend.tracking.ingest import dead_letters
from backend.tracking.ingest.dead_letters import UNKNOWN_VEHICLE
from backend.tracking.ingest.decode import (
    DecodeError,
    OrderAck,
    PositionFix,
    TerminalEvent,
    VehicleStatus,
    decode_mqtt,
    parse_topic,
)
from backend.tracking.ingest.registry import STAMP, VehicleDirectory
from backend.tracking.ingest.store import (
    BatchOutcome,
    PositionRow,
    VehicleRef,
    bump_counters,
    newest_fixes,
    set_connected,
    stamp_and_newest_fixes,
    store_positions,
    to_row,
)
from backend.tracking.models import PositionSource
from backend.tracking.terminal import apply_ack, apply_event
from gis.filters import FixFilter, RejectReason
from gis.geofence import ArrivalRules

log = logging.getLogger(__name__)

Decoded = PositionFix | TerminalEvent | OrderAck | VehicleStatus


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received message after decoding: the value or the decode error, and its topic key."""

    key: str  # vid or device key, for counters
    value: Decoded | DecodeError
    received_at: datetime
    source: str = PositionSource.MQTT
    # The vid in the topic; a vehicle may only speak for itself.
    topic_vehicle: str | None = None
    # The message as received (MQTT), kept so an unattributable one can be parked and replayed.
    topic: str | None = None
    payload: bytes | None = None


def decode_message(
    topic: str,
    payload: bytes,
    root: str,
    *,
    received_at: datetime | None = None,
    source: str | None = None,
) -> Inbound:
    """Decode one MQTT message into an `Inbound` (a decode error is carried, not raised)."""
    ref = parse_topic(topic, root)
    key = ref.vehicle if ref is not None else "-"
    if source is None:
        owntracks = ref is not None and ref.kind == "owntracks"
        source = PositionSource.OWNTRACKS if owntracks else PositionSource.MQTT
    try:
        value: Decoded | DecodeError = decode_mqtt(topic, payload, root=root, ref=ref)
    except DecodeError as exc:
        value = exc
    except Exception as exc:  # noqa: BLE001 - a decoder bug must cost one message, not the worker
        log.exception("decoder failed on %s", topic[:200])
        value = DecodeError("malformed_json", type(exc).__name__)
    return Inbound(
        key=key,
        value=value,
        received_at=received_at or utcnow(),
        source=source,
        topic_vehicle=key,
        topic=topic,
        payload=payload,
    )


@dataclass
class BatchReport:
    """What one batch did, for logs, metrics and the live feed."""

    stored: int = 0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Fixes not stored, by the fix filter's reason (or `duplicate`): what a sender is told.
    dropped: Counter[str] = field(default_factory=Counter)
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    # Messages naming no known vehicle: parked as dead letters (or, replaying, left parked).
    unattributed: list[Inbound] = field(default_factory=list)
    parked: int = 0
    replayed: int = 0


class Pipeline:
    """Holds the per-worker state (fix filter, vehicle directory) across batches."""

    def __init__(
        self,
        fix_filter: FixFilter | None = None,
        geofences: bool = True,
        *,
        topic_root: str = "fieldline/v1",
        replay_limit: int = 1000,
        arrival: ArrivalRules | None = None,
    ) -> None:
        self.filter = fix_filter or FixFilter()
        self.directory = VehicleDirectory()
        self.geofences = geofences
        self.topic_root = topic_root
        # Parked messages replayed by the batch that sees a registry change (0: never).
        self.replay_limit = replay_limit
        self.arrival = arrival

    def process(
        self, session: Session, items: list[Inbound], *, replaying: bool = False
    ) -> BatchReport:
        """Write a batch in the caller's transaction (the caller commits, then acks).

        The registry stamp is checked first, so a vehicle registered or re-configured before
        this batch counts for it. Messages naming no known vehicle are parked, never dropped.
        """
        now = utcnow()
        report = BatchReport()
        counts = report.counts
        # Fixes first in time order per vehicle, so the filter sees a track, not a shuffle.
        fixes = [i for i in items if isinstance(i.value, PositionFix)]
        others = [i for i in items if not isinstance(i.value, PositionFix)]
        fixes.sort(key=lambda i: (i.key, i.value.ts))  # type: ignore[union-attr]
        # PostgreSQL, once the directory is loaded: read the stamp with the anchors of the
        # vehicles the directory names now (one round trip); when the stamp moved, reload and
        # read the anchors again (rare: the registry changed).
        anchors: list[tuple[int, datetime, float, float, float | None]] | None = None
        if self.directory.loaded and session.get_bind().dialect.name == "postgresql":
            guess = {v.id for i in fixes if (v := self.directory.resolve(i.value.vehicle))}  # type: ignore[union-attr]
            stamp, anchors = stamp_and_newest_fixes(session, STAMP, guess)
            refresh = self.directory.refresh(session, stamp=stamp)
            if refresh.reloaded:
                anchors = None
        else:
            refresh = self.directory.refresh(session)
        for vid in refresh.reconfigured:
            self.filter.forget(vid)
        rows: list[PositionRow] = []
        resolved: list[tuple[Inbound, PositionFix, VehicleRef]] = []
        for item in fixes:
            fix = item.value
            assert isinstance(fix, PositionFix)  # noqa: S101 - sorted out above
            vehicle = self.directory.resolve(fix.vehicle)
            if vehicle is None:
                counts[(item.key, UNKNOWN_VEHICLE)] += 1
                report.unattributed.append(item)
                continue
            resolved.append((item, fix, vehicle))
        # A re-configured vehicle's stored fix was converted with its old datum: no anchor.
        anchored = {v.id: v.vid for _, _, v in resolved if v.vid not in refresh.reconfigured}
        self._anchor(session, anchored, anchors)
        for item, fix, vehicle in resolved:
            row = to_row(vehicle, fix, item.source, item.received_at)
            rejection = self.filter.check(_Converted.of(row), now)
            if rejection is not None:
                counts[(vehicle.vid, str(rejection.reason))] += 1
                report.dropped[str(rejection.reason)] += 1
                continue
            rows.append(row)
        report.outcome = store_positions(session, rows, now, counts)
        for vid, n in report.outcome.duplicates.items():
            counts[(vid, "duplicate")] += n
            report.dropped[str(RejectReason.DUPLICATE)] += n
        vids = {r.vehicle.id: r.vehicle.vid for r in rows}
        for vehicle_id, stored in report.outcome.inserted.items():
            report.stored += stored
            counts[(vids[vehicle_id], "stored")] += stored
        # What the batch statement counted already; events, acks and parking count below.
        counted = Counter(counts) if report.outcome.counted else Counter()
        for item in others:
            self._other(session, item, report, now)
        if self.geofences and report.outcome.inserted:
            earliest, holding = report.outcome.earliest, report.outcome.holding
            if holding is not None:  # the store already knows who holds an open order
                earliest = {v: ts for v, ts in earliest.items() if v in holding}
            if earliest:
                checkpoints.evaluate(session, earliest, arrival=self.arrival)
        if not replaying:
            report.parked = dead_letters.park(session, report.unattributed, now)
            if refresh.reloaded and not refresh.first:
                replayed, _ = dead_letters.replay(session, self, limit=self.replay_limit)
                report.replayed, report.stored = (
                    replayed.attributed,
                    report.stored + replayed.stored,
                )
        bump_counters(session, counts - counted, now)
        return report

    def _anchor(
        self,
        session: Session,
        vids: dict[int, str],
        found: list[tuple[int, datetime, float, float, float | None]] | None = None,
    ) -> None:
        """Show the filter each vehicle's newest stored fix before it judges the batch.

        Workers on a shared subscription each see part of a vehicle's stream: the fix another
        worker stored is the reference a jump is measured from, so speed checks hold whichever
        worker a message lands on (and after a restart, when this filter remembers nothing).
        """
        # Without its seq: a seq repeats after a terminal restarts, and only (ts, seq) together
        # name a fix; the filter would take a new fix with the anchor's seq for a duplicate.
        if found is None:
            found = newest_fixes(session, vids.keys())
        for vehicle_id, ts, lat, lon, acc in found:
            if vehicle_id in vids:  # (read ahead for every vehicle the batch named)
                self.filter.anchor(_Converted(vids[vehicle_id], lat, lon, ts, acc, None))

    def _other(self, session: Session, item: Inbound, report: BatchReport, now: datetime) -> None:
        counts = report.counts
        value = item.value
        if isinstance(value, DecodeError):
            counts[(item.key, value.reason)] += 1
            return
        assert not isinstance(value, PositionFix)  # noqa: S101 - handled by the caller
        vehicle = self.directory.resolve(value.vehicle)
        if vehicle is None:
            counts[(item.key, UNKNOWN_VEHICLE)] += 1
            report.unattributed.append(item)
            return
        if isinstance(value, VehicleStatus):
            set_connected(session, vehicle.id, value.online, now)
            counts[(vehicle.vid, "online" if value.online else "offline")] += 1
        elif isinstance(value, TerminalEvent):
            counts[(vehicle.vid, f"event_{apply_event(session, vehicle, value, now)}")] += 1
        else:
            counts[(vehicle.vid, f"ack_{apply_ack(session, vehicle, value, now)}")] += 1


@dataclass(frozen=True, slots=True)
class _Converted:
    """The filter judges the WGS-84 fix, keyed by the vehicle's vid (plain fields: it is hot)."""

    vehicle: str
    lat: float
    lon: float
    ts: datetime
    acc: float | None
    seq: int | None

    @classmethod
    def of(cls, row: PositionRow) -> _Converted:
        fix = row.fix
        return cls(row.vehicle.vid, row.lat, row.lon, fix.ts, fix.acc, fix.seq)
