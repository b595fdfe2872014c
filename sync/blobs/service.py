"""Resumable, verified, deduplicated blob uploads; EXIF and thumbnails; garbage collection."""

import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.blobs.storage import BlobStorage
from sync.registry import Registry
from sync.store import BlobRecord, SyncError

MB = 1024 * 1024
# Largest blob per media type; other types are refused.
SIZE_LIMITS: dict[str, int] = {
    "image/jpeg": 25 * MB,
    "image/png": 25 * MB,
    "image/webp": 25 * MB,
    "application/pdf": 50 * MB,
    "application/octet-stream": 10 * MB,
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
THUMBNAIL_SIZE = (320, 320)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha(sha256: str) -> str:
    """Return a lower-case SHA-256 hex digest or raise a 400."""
    sha = sha256.lower()
    if not _SHA256.fullmatch(sha):
        raise SyncError(
            400,
            "blob-bad-hash",
            "Not a SHA-256 digest",
            f"{sha256!r} is not a 64-digit hex SHA-256",
        )
    return sha


def stored_offset(storage: BlobStorage, blob: BlobRecord) -> int:
    """Return the offset an upload resumes at (bytes both recorded and on storage)."""
    if blob.complete:
        return blob.size
    return min(blob.received, storage.partial_size(blob.sha256))


@dataclass(frozen=True)
class Chunk:
    """One PUT: bytes `data` starting at `start` of a blob of `total` bytes."""

    start: int
    total: int
    data: bytes


def put_chunk(
    session: Session,
    storage: BlobStorage,
    *,
    sha256: str,
    media_type: str,
    chunk: Chunk,
    uploader: str,
    now: datetime,
) -> BlobRecord:
    """Store one chunk; verify, promote and analyse the blob when its last byte arrives."""
    sha = check_sha(sha256)
    limit = SIZE_LIMITS.get(media_type)
    if limit is None:
        raise SyncError(
            415,
            "blob-unsupported-type",
            "Unsupported media type",
            f"{media_type!r} is not accepted; use one of {', '.join(SIZE_LIMITS)}",
        )
    if chunk.total <= 0 or chunk.total > limit:
        raise SyncError(
            413,
            "blob-too-large",
            "Blob too large",
            f"{media_type} blobs may have 1 to {limit} bytes, not {chunk.total}",
        )
    lock = session.get_bind().dialect.name == "postgresql"
    blob = session.get(BlobRecord, sha, with_for_update=lock)
    if blob is not None and blob.complete:
        return blob  # deduplicated: the same content is already stored
    if blob is None:
        blob = BlobRecord(
            sha256=sha,
            media_type=media_type,
            size=chunk.total,
            received=0,
            complete=False,
            uploaded_by=uploader,
            created_at=now,
            updated_at=now,
        )
        session.add(blob)
    elif blob.size != chunk.total:
        raise SyncError(
            409,
            "blob-size-mismatch",
            "Blob size differs",
            f"the upload of {sha} was started with {blob.size} bytes, not {chunk.total}",
            offset=stored_offset(storage, blob),
        )
    offset = stored_offset(storage, blob)
    end = chunk.start + len(chunk.data)
    if chunk.start > offset or end > chunk.total or chunk.start < 0:
        raise SyncError(
            416,
            "blob-chunk-out-of-range",
            "Chunk out of range",
            f"bytes {chunk.start}-{end} do not continue the {offset} stored bytes "
            f"of a {chunk.total}-byte blob",
            offset=offset,
        )
    data = chunk.data[offset - chunk.start :]  # a resent overlap is skipped
    if data or offset == 0:
        offset = storage.write_partial(sha, offset, data)
    blob.received = offset
    blob.updated_at = now
    if offset == chunk.total:
        _complete(storage, blob)
    session.flush()
    return blob


def _complete(storage: BlobStorage, blob: BlobRecord) -> None:
    digest = storage.partial_digest(blob.sha256)
    if digest != blob.sha256:
        storage.discard_partial(blob.sha256)
        raise SyncError(
            422,
            "blob-hash-mismatch",
            "Content does not match its hash",
            f"the {blob.size} bytes received hash to {digest}, not {blob.sha256}; "
            "the upload was discarded, start again at offset 0",
            offset=0,
        )
    storage.promote(blob.sha256)
    blob.complete = True
    if blob.media_type in IMAGE_TYPES:
        _analyse_image(storage, blob)


def _analyse_image(storage: BlobStorage, blob: BlobRecord) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(storage.read(blob.sha256))) as image:
            blob.taken_at, blob.lat, blob.lon = read_exif(image)
            image.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=80)
    except (UnidentifiedImageError, OSError, ValueError):
        return  # not decodable: stored as is, without metadata
    storage.write(f"{blob.sha256}.thumb.jpg", out.getvalue())
    blob.has_thumbnail = True


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        degrees = float(value[0]) + float(value[1]) / 60 + float(value[2]) / 3600
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    return -degrees if str(ref).upper() in ("S", "W") else degrees


def read_exif(image: Any) -> tuple[datetime | None, float | None, float | None]:
    """Return the EXIF capture time (UTC unless an offset is given) and GPS position."""
    exif = image.getexif()
    details = exif.get_ifd(0x8769)
    raw = details.get(36867) or exif.get(306)
    offset = details.get(36881)
    taken = None
    if isinstance(raw, str):
        try:
            taken = datetime.strptime(raw.strip(), "%Y:%m:%d %H:%M:%S")
            if isinstance(offset, str) and re.fullmatch(r"[+-]\d{2}:\d{2}", offset):
                sign = -1 if offset[0] == "-" else 1
                delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
                taken = taken - sign * delta
            taken = taken.replace(tzinfo=UTC)
        except ValueError:
            taken = None
    gps = exif.get_ifd(0x8825)
    lat = _degrees(gps.get(2), gps.get(1)) if gps.get(2) else None
    lon = _degrees(gps.get(4), gps.get(3)) if gps.get(4) else None
    return taken, lat, lon


def referenced(session: Session, registry: Registry) -> set[str]:
    """Return every blob hash some record (deleted ones included) still references."""
    hashes: set[str] = set()
    for adapter in registry.adapters.values():
        for name in adapter.blob_fields:
            column = getattr(adapter.model, name)
            hashes.update(h for h in session.scalars(select(column).where(column.is_not(None))))
    return hashes


def collect_garbage(
    session: Session,
    registry: Registry,
    *,
    now: datetime,
    grace: timedelta = timedelta(days=7),
) -> list[str]:
    """Delete the rows of blobs untouched for `grace` that no record references.

    Only rows: remove the files with `remove_files` once this transaction has committed, so a
    rollback never leaves a blob marked complete whose bytes are gone.
    """
    keep = referenced(session, registry)
    stale = session.scalars(select(BlobRecord).where(BlobRecord.updated_at < now - grace))
    deleted = []
    for blob in stale:
        if blob.sha256 in keep:
            continue
        session.delete(blob)
        deleted.append(blob.sha256)
    session.flush()
    return deleted


def remove_files(storage: BlobStorage, hashes: list[str]) -> None:
    """Remove the stored bytes, thumbnails and partial uploads of collected blobs."""
    for sha256 in hashes:
        storage.delete(sha256)
        storage.delete(f"{sha256}.thumb.jpg")
        storage.discard_partial(sha256)
