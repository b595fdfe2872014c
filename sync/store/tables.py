"""Sync tables on `SyncBase`: verdicts, conflicts, tombstones, blobs and device clocks."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from sync.changes import SyncBase
from sync.columns import UTCDateTime
from sync.protocol import format_time


class StoredMutation(SyncBase):
    """The verdict of one mutation, kept so a replay gets the same answer.

    Keyed by (principal, mutation id): a mutation id is unique per device or user only, so
    another principal reusing one gets its own mutation applied, never this verdict.
    """

    __tablename__ = "sync_mutations"
    # The mutation id first: a push looks up its batch's 500 ids as `mutation_id = ANY(...)`,
    # one index probe each. With the device first, PostgreSQL's cached plan for that lookup
    # read all of the device's verdicts and filtered them: slower with every push the device
    # had made (migration 2600_sync_write_indexes).
    __table_args__ = (PrimaryKeyConstraint("mutation_id", "device", name="pk_sync_mutations"),)

    # The principal's audit name (`device:3:H-1001`, `user:5:alice`).
    device: Mapped[str] = mapped_column(String(120), primary_key=True)
    mutation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # Only the key is read (a replay); every other index would cost each push a B-tree insert
    # per mutation for nobody (migration 2600_sync_write_indexes).
    batch_id: Mapped[str] = mapped_column(String(36))
    entity: Mapped[str] = mapped_column(String(128))
    record_id: Mapped[str] = mapped_column(String(36))
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    device_occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clock_corrected: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SyncConflict(SyncBase):
    """A field (or set key) both sides changed to different values; the server value stands."""

    __tablename__ = "sync_conflicts"
    __table_args__ = (Index("ix_sync_conflicts_status_department", "status", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(36), index=True)
    field: Mapped[str] = mapped_column(String(128))
    key: Mapped[str | None] = mapped_column(String(64))
    server_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    client_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    mutation_id: Mapped[str] = mapped_column(String(36), index=True)
    device: Mapped[str] = mapped_column(String(120))
    department_id: Mapped[int | None] = mapped_column(Integer)
    crew_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(16))
    resolved_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form."""
        return {
            "id": self.id,
            "entity": self.entity,
            "record_id": self.record_id,
            "field": self.field,
            "key": self.key,
            "server": self.server_value,
            "client": self.client_value,
            "mutation_id": self.mutation_id,
            "device": self.device,
            "status": self.status,
            "created_at": format_time(self.created_at),
            "resolution": self.resolution,
            "resolved_value": self.resolved_value,
            "resolved_by": self.resolved_by,
            "resolved_at": None if self.resolved_at is None else format_time(self.resolved_at),
        }


class Tombstone(SyncBase):
    """An id whose row was purged: a stale device's create or update must not bring it back."""

    __tablename__ = "sync_tombstones"
    # The record id first, as for `StoredMutation`: a push asks for its batch's ids at once.
    __table_args__ = (PrimaryKeyConstraint("record_id", "entity", name="pk_sync_tombstones"),)

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    purged_by: Mapped[str] = mapped_column(String(120))


class BlobRecord(SyncBase):
    """A verified content-addressed blob and what was read from it.

    Rows exist once the bytes are complete and verified (`complete`); unfinished uploads are
    `BlobUpload` sessions of their uploader. `uploaded_by` is whoever completed it first.
    """

    __tablename__ = "sync_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    has_thumbnail: Mapped[bool] = mapped_column(Boolean, default=False)
    uploaded_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BlobUpload(SyncBase):
    """One principal's upload of a blob: a pending upload of someone else never blocks yours.

    The bytes go to the storage's partial file `partial`; the first upload to complete with
    bytes matching the hash creates the `BlobRecord`, later ones are deduplicated. A complete
    upload also proves its uploader holds the bytes (it may read the blob).
    """

    __tablename__ = "sync_blob_uploads"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    uploader: Mapped[str] = mapped_column(String(120), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    partial: Mapped[str] = mapped_column(String(100))
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DeviceClock(SyncBase):
    """One clock-skew estimate: server receive time minus the device's `sent_at`."""

    __tablename__ = "sync_device_clocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(120), index=True)
    batch_id: Mapped[str] = mapped_column(String(36))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    skew_seconds: Mapped[float] = mapped_column(Float)
    corrected: Mapped[bool] = mapped_column(Boolean)
