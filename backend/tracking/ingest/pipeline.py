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
from backend.tracking.ingest.registry import VehicleDirectory
from backend.tracking.ingest.store import (
    BatchOutcome,
    PositionRow,
    bump_counters,
    set_connected,
    store_positions,
    to_row,
    touch_vehicles,
)
from backend.tracking.models import PositionSource
from backend.tracking.terminal import apply_ack, apply_event
from gis.filters import FixFilter
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
        value: Decoded | DecodeError = decode_mqtt(topic, payload, root=root)
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
        refresh = self.directory.refresh(session)
        for vid in refresh.reconfigured:
            self.filter.forget(vid)
        rows: list[PositionRow] = []
        # Fixes first in time order per vehicle, so the filter sees a track, not a shuffle.
        fixes = [i for i in items if isinstance(i.value, PositionFix)]
        others = [i for i in items if not isinstance(i.value, PositionFix)]
        fixes.sort(key=lambda i: (i.key, i.value.ts))  # type: ignore[union-attr]
        for item in fixes:
            fix = item.value
            assert isinstance(fix, PositionFix)  # noqa: S101 - sorted out above
            vehicle = self.directory.resolve(fix.vehicle)
            if vehicle is None:
                counts[(item.key, UNKNOWN_VEHICLE)] += 1
                report.unattributed.append(item)
                continue
            row = to_row(vehicle, fix, item.source, item.received_at)
            rejection = self.filter.check(_Converted(vehicle.vid, row), now)
            if rejection is not None:
                counts[(vehicle.vid, str(rejection.reason))] += 1
                continue
            rows.append(row)
        report.outcome = store_positions(session, rows, now)
        for vid, n in report.outcome.duplicates.items():
            counts[(vid, "duplicate")] += n
        vids = {r.vehicle.id: r.vehicle.vid for r in rows}
        for vehicle_id, vehicle_rows in report.outcome.inserted.items():
            report.stored += len(vehicle_rows)
            counts[(vids[vehicle_id], "stored")] += len(vehicle_rows)
        touch_vehicles(session, report.outcome.inserted.keys(), now)
        for item in others:
            self._other(session, item, report, now)
        if self.geofences and report.outcome.inserted:
            checkpoints.evaluate(session, report.outcome.inserted.keys(), arrival=self.arrival)
        if not replaying:
            report.parked = dead_letters.park(session, report.unattributed, now)
            if refresh.reloaded and not refresh.first:
                replayed, _ = dead_letters.replay(session, self, limit=self.replay_limit)
                report.replayed, report.stored = (
                    replayed.attributed,
                    report.stored + replayed.stored,
                )
        bump_counters(session, counts, now)
        return report

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
    """The filter judges the WGS-84 fix, keyed by the vehicle's vid."""

    vehicle: str
    row: PositionRow

    @property
    def lat(self) -> float:
        return self.row.lat

    @property
    def lon(self) -> float:
        return self.row.lon

    @property
    def ts(self) -> datetime:
        return self.row.fix.ts

    @property
    def acc(self) -> float | None:
        return self.row.fix.acc

    @property
    def seq(self) -> int | None:
        return self.row.fix.seq
