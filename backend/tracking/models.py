"""Positions, vehicle state, terminal events, outbound order messages and ingest counters."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Liveness(StrEnum):
    """Whether a vehicle is reporting as often as its terminal is configured to."""

    ONLINE = "online"
    STALE = "stale"
    OFFLINE = "offline"


class PositionSource(StrEnum):
    """Which protocol a fix arrived by."""

    MQTT = "mqtt"
    OWNTRACKS = "owntracks"
    OSMAND = "osmand"
    TRACCAR = "traccar"


class Position(Base):
    """One accepted GPS fix, WGS-84; (vehicle, fix time, seq) is unique so replays are no-ops.

    On PostgreSQL the table is range-partitioned by `ts` (monthly, see the 0200 migration and
    `fieldline tracking partitions`); on SQLite it is a plain table.
    """

    __tablename__ = "positions"
    __table_args__ = ({"postgresql_partition_by": "RANGE (ts)"},)

    vehicle_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    # 0 when the device sends none: the fix time alone then identifies the fix.
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    lat: Mapped[float] = mapped_column()
    lon: Mapped[float] = mapped_column()
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    acc: Mapped[float | None] = mapped_column()
    speed: Mapped[float | None] = mapped_column()
    heading: Mapped[float | None] = mapped_column()
    batt: Mapped[float | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(16), default=PositionSource.MQTT)
    # True when the fix reached us well after it was taken (terminal out of coverage).
    backfilled: Mapped[bool] = mapped_column(default=False)
    # The datum the device reported in; lat/lon are always converted to WGS-84.
    datum: Mapped[str] = mapped_column(String(8), default="wgs84")


class VehicleState(Base):
    """A vehicle's newest fix and liveness; the fix columns only move forward in time."""

    __tablename__ = "vehicle_states"

    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    ts: Mapped[datetime] = mapped_column()
    lat: Mapped[float] = mapped_column()
    lon: Mapped[float] = mapped_column()
    geom: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=True))
    acc: Mapped[float | None] = mapped_column()
    speed: Mapped[float | None] = mapped_column()
    heading: Mapped[float | None] = mapped_column()
    batt: Mapped[float | None] = mapped_column()
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    liveness: Mapped[str] = mapped_column(String(16), default=Liveness.ONLINE, index=True)
    # From the terminal's retained status / Last Will.
    connected: Mapped[bool] = mapped_column(default=True)
    # The crew declared the vehicle (un)available from the terminal.
    available: Mapped[bool] = mapped_column(default=True)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)


class TerminalMessage(Base):
    """A terminal event or order ack, stored once per (vehicle, event id): replays are no-ops."""

    __tablename__ = "terminal_messages"
    __table_args__ = (UniqueConstraint("vehicle_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(140))
    kind: Mapped[str] = mapped_column(String(16))  # accepted, departed, ..., ack
    order_id: Mapped[str | None] = mapped_column(String(128), index=True)
    occurred_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the ingest did with it: applied, ignored (order not held), ...
    outcome: Mapped[str] = mapped_column(String(32), default="applied")


class ClaimStatus(StrEnum):
    """Whether dispatch took a witness's claim of a point, or it waits for an earlier point."""

    ACCEPTED = "accepted"
    PARKED = "parked"


class Checkpoint(Base):
    """A terminal's or geofence's claim of a timing point (E-H, finished) in one dispatch round.

    Written only once dispatch took the point, so a refused report never blocks the real one.
    A geofence proof refused only because an earlier point is missing is kept `parked` and
    taken when that point arrives (`backend.dispatch.timing.recording.take_parked`). Another
    dispatch round (recall, re-dispatch) claims its points afresh.
    """

    __tablename__ = "tracking_checkpoints"
    __table_args__ = (UniqueConstraint("order_id", "dispatch_round", "point", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[str] = mapped_column(String(128))
    dispatch_round: Mapped[int] = mapped_column(default=0)
    point: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))  # terminal or geofence
    status: Mapped[str] = mapped_column(String(8), default=ClaimStatus.ACCEPTED)
    # The timing event's id (a parked proof is recorded under it when taken).
    event_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    backfilled: Mapped[bool] = mapped_column(default=False)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)


class GeofenceWatch(Base):
    """Where a geofence detector stands for one order's point (G or H) in one dispatch round.

    Each ingest batch feeds the detector only the fixes newer than `fed_until` and saves its
    state, so an order's track is read once, not again on every batch. Fixes stored after
    `checked_at` but older than `fed_until` (a terminal's late burst) restart it from the
    dispatch.
    """

    __tablename__ = "geofence_watches"
    __table_args__ = (UniqueConstraint("order_id", "dispatch_round", "point"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[str] = mapped_column(String(128), index=True)
    dispatch_round: Mapped[int] = mapped_column(default=0)
    point: Mapped[str] = mapped_column(String(1))
    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fed_until: Mapped[datetime | None] = mapped_column()
    checked_at: Mapped[datetime | None] = mapped_column()
    fired: Mapped[bool] = mapped_column(default=False)


class OutboundMessage(Base):
    """An order or recall to publish to a terminal; kept until the terminal acknowledges it."""

    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_messages_pending", "published_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # order or recall
    order_id: Mapped[str] = mapped_column(String(128), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    acked_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)


class AlertOutbox(Base):
    """An escalation alert to publish on `{root}/alerts/{department_id}` (and to a webhook).

    Written in the transaction that raises the alert, so a crash between the commit and the
    publish loses nothing; the ingest worker's outbox loop delivers it (at least once).
    """

    __tablename__ = "alert_outbox"
    __table_args__ = (Index("ix_alert_outbox_pending", "published_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), unique=True)
    department_id: Mapped[int] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    # ALERT_WEBHOOK_URL when the alert was raised; None: no webhook delivery.
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_sent_at: Mapped[datetime | None] = mapped_column()
    webhook_attempts: Mapped[int] = mapped_column(default=0)
    webhook_next_at: Mapped[datetime | None] = mapped_column(index=True)
    webhook_error: Mapped[str | None] = mapped_column(String(300))


class IngestCounter(Base):
    """Running totals of what the ingest stored, dropped and why, per vehicle (or topic key)."""

    __tablename__ = "ingest_counters"

    key: Mapped[str] = mapped_column(String(140), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegistryStamp(Base):
    """A counter database triggers bump on every change of a watched table (`vehicles`).

    The ingest reads it once per batch and reloads its vehicle directory only when it moved:
    a vehicle registered or re-configured (datum) counts from the very next message.
    """

    __tablename__ = "registry_stamps"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class DeadLetter(Base):
    """An MQTT message the ingest could not attribute (no such vehicle yet), kept for replay.

    Parked in the batch's transaction, so the broker is acknowledged only once it is stored;
    replayed when the vehicle registry changes or by `fieldline ingest replay-dead-letters`.
    """

    __tablename__ = "ingest_dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(400))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    key: Mapped[str] = mapped_column(String(140), index=True)
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column()


class MqttCredential(Base):
    """An MQTT login: one per vehicle terminal, plus service users (the ingest) with no vehicle.

    `password_hash` is Mosquitto's PBKDF2-SHA512 `$7$` format, so the same hash is written to
    the Mosquitto password file and checked by the embedded broker.
    """

    __tablename__ = "mqtt_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    vehicle_id: Mapped[int | None] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), unique=True
    )
    # The vid the vehicle publishes under (its terminal id).
    vid: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="vehicle")  # vehicle or service
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
