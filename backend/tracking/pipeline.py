"""One ingest batch, broker-independent: validate, convert, store, apply events, count."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.tracking import checkpoints
from backend.tracking.decode import (
    DecodeError,
    OrderAck,
    PositionFix,
    TerminalEvent,
    VehicleStatus,
)
from backend.tracking.models import PositionSource
from backend.tracking.store import (
    BatchOutcome,
    PositionRow,
    VehicleDirectory,
    bump_counters,
    set_connected,
    store_positions,
    to_row,
    touch_vehicles,
)
from backend.tracking.terminal import apply_ack, apply_event
from gis.filters import FixFilter

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


@dataclass
class BatchReport:
    """What one batch did, for logs, metrics and the live feed."""

    stored: int = 0
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    outcome: BatchOutcome = field(default_factory=BatchOutcome)


class Pipeline:
    """Holds the per-worker state (fix filter, vehicle directory) across batches."""

    def __init__(self, fix_filter: FixFilter | None = None, geofences: bool = True) -> None:
        self.filter = fix_filter or FixFilter()
        self.directory = VehicleDirectory()
        self.geofences = geofences

    def process(self, session: Session, items: list[Inbound]) -> BatchReport:
        """Write a batch in the caller's transaction (the caller commits, then acks)."""
        now = utcnow()
        report = BatchReport()
        counts = report.counts
        rows: list[PositionRow] = []
        # Fixes first in time order per vehicle, so the filter sees a track, not a shuffle.
        fixes = [i for i in items if isinstance(i.value, PositionFix)]
        others = [i for i in items if not isinstance(i.value, PositionFix)]
        fixes.sort(key=lambda i: (i.key, i.value.ts))  # type: ignore[union-attr]
        for item in fixes:
            fix = item.value
            assert isinstance(fix, PositionFix)  # noqa: S101 - sorted out above
            vehicle = self.directory.resolve(session, fix.vehicle)
            if vehicle is None:
                counts[(item.key, "unknown_vehicle")] += 1
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
            self._other(session, item, counts, now)
        if self.geofences and report.outcome.inserted:
            checkpoints.evaluate(session, report.outcome.inserted.keys())
        bump_counters(session, counts, now)
        return report

    def _other(
        self, session: Session, item: Inbound, counts: Counter[tuple[str, str]], now: datetime
    ) -> None:
        value = item.value
        if isinstance(value, DecodeError):
            counts[(item.key, value.reason)] += 1
            return
        assert not isinstance(value, PositionFix)  # noqa: S101 - handled by the caller
        vehicle = self.directory.resolve(session, value.vehicle)
        if vehicle is None:
            counts[(item.key, "unknown_vehicle")] += 1
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
