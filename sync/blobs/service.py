"""Resumable, verified, deduplicated blob uploads per uploader; blob state; garbage collection.

Each caller uploads into its own session (`BlobUpload`), so a pending upload by someone else
(even one squatting on a hash with a single byte) never blocks yours. The first upload to
complete with bytes matching the hash stores the blob; later ones are deduplicated after
verification. A caller that may already read a stored blob needs to send nothing.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sync.blobs.images import IMAGE_TYPES, analyse_image, thumbnail_name
from sync.blobs.scope import announce, referenced
from sync.blobs.storage import BlobStorage, StorageFull
from sync.registry import Registry, SyncActor
from sync.store import BlobRecord, BlobUpload, SyncError, to_wire

MB = 1024 * 1024
# Largest blob per media type; other types are refused.
SIZE_LIMITS: dict[str, int] = {
    "image/jpeg": 25 * MB,
    "image/png": 25 * MB,
    "image/webp": 25 * MB,
    "application/pdf": 50 * MB,
    "application/octet-stream": 10 * MB,
}
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


def partial_name(sha256: str, uploader: str) -> str:
    """Return the storage name of one uploader's unfinished upload of a blob."""
    return f"{sha256}.{hashlib.sha256(uploader.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Chunk:
    """One PUT: bytes `data` starting at `start` of a blob of `total` bytes."""

    start: int
    total: int
    data: bytes


@dataclass(frozen=True)
class BlobState:
    """What a caller may know of a blob: its stored record, or its own unfinished upload."""

    sha256: str
    media_type: str
    size: int
    offset: int
    blob: BlobRecord | None = None

    @property
    def complete(self) -> bool:
        """Return whether the verified bytes are stored."""
        return self.blob is not None

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form (EXIF values only once the blob is stored)."""
        blob = self.blob
        return {
            "sha256": self.sha256,
            "media_type": self.media_type,
            "size": self.size,
            "offset": self.offset,
            "complete": blob is not None,
            "taken_at": None if blob is None else to_wire(blob.taken_at),
            "lat": None if blob is None else blob.lat,
            "lon": None if blob is None else blob.lon,
            "thumbnail": blob is not None and blob.has_thumbnail,
        }


def _stored(blob: BlobRecord) -> BlobState:
    return BlobState(blob.sha256, blob.media_type, blob.size, blob.size, blob)


def _offset(storage: BlobStorage, upload: BlobUpload) -> int:
    """Return where an upload resumes: bytes both recorded and on storage."""
    return min(upload.received, storage.partial_size(upload.partial))


def state_of(
    session: Session, storage: BlobStorage, actor: SyncActor, sha256: str, *, readable: bool
) -> BlobState | None:
    """Return the blob as this caller may see it, or None (it then does not exist for them).

    `readable` says whether the caller may read the stored blob (`scope.may_read`); without it
    the caller sees only its own unfinished upload.
    """
    sha = check_sha(sha256)
    blob = session.get(BlobRecord, sha)
    if blob is not None and blob.complete and readable:
        return _stored(blob)
    upload = session.get(BlobUpload, (sha, actor.name))
    if upload is None or upload.complete:
        return None
    return BlobState(sha, upload.media_type, upload.size, _offset(storage, upload))


def ensure_may_upload(actor: SyncActor) -> None:
    """Refuse callers the policy does not let upload (auditors are read-only)."""
    if not actor.can_upload:
        raise SyncError(403, "forbidden", "Not allowed", "your role may not upload blobs")


def put_chunk(
    session: Session,
    storage: BlobStorage,
    registry: Registry,
    *,
    actor: SyncActor,
    sha256: str,
    media_type: str,
    chunk: Chunk,
    readable: bool,
    now: datetime,
) -> BlobState:
    """Store one chunk of the caller's upload; verify and store the blob on its last byte."""
    ensure_may_upload(actor)
    sha = check_sha(sha256)
    _check_limits(media_type, chunk.total)
    lock = session.get_bind().dialect.name == "postgresql"
    blob = session.get(BlobRecord, sha)
    if blob is not None and blob.complete and readable:
        return _stored(blob)  # deduplicated: the caller may read the stored bytes already
    upload = session.get(BlobUpload, (sha, actor.name), with_for_update=lock)
    if upload is None:
        upload = BlobUpload(
            sha256=sha,
            uploader=actor.name,
            media_type=media_type,
            size=chunk.total,
            received=0,
            partial=partial_name(sha, actor.name),
            complete=False,
            created_at=now,
        )
        session.add(upload)
    elif upload.complete or (upload.size != chunk.total and chunk.start == 0):
        # Uploading again (the stored blob was collected) or restarting with another size.
        storage.discard_partial(upload.partial)
        upload.size, upload.received, upload.complete = chunk.total, 0, False
    elif upload.size != chunk.total:
        raise SyncError(
            409,
            "blob-size-mismatch",
            "Blob size differs",
            f"your upload of {sha} was started with {upload.size} bytes, not {chunk.total}; "
            "continue it, or start again at offset 0",
            offset=_offset(storage, upload),
        )
    upload.media_type = media_type
    upload.updated_at = now
    offset = _write(storage, upload, chunk)
    if offset == chunk.total:
        return _finish(session, storage, registry, upload, now)
    session.flush()
    return BlobState(sha, media_type, upload.size, offset)


def _check_limits(media_type: str, total: int) -> None:
    limit = SIZE_LIMITS.get(media_type)
    if limit is None:
        raise SyncError(
            415,
            "blob-unsupported-type",
            "Unsupported media type",
            f"{media_type!r} is not accepted; use one of {', '.join(SIZE_LIMITS)}",
        )
    if total <= 0 or total > limit:
        raise SyncError(
            413,
            "blob-too-large",
            "Blob too large",
            f"{media_type} blobs may have 1 to {limit} bytes, not {total}",
        )


def _write(storage: BlobStorage, upload: BlobUpload, chunk: Chunk) -> int:
    offset = _offset(storage, upload)
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
        try:
            offset = storage.write_partial(upload.partial, offset, data)
        except StorageFull as exc:
            raise SyncError(
                507,
                "storage-full",
                "Blob storage full",
                f"the server has no room for this chunk ({exc.strerror}); the {offset} bytes "
                "stored before it are kept: resume from there later",
                offset=offset,
            ) from exc
    upload.received = offset
    return offset


def _finish(
    session: Session,
    storage: BlobStorage,
    registry: Registry,
    upload: BlobUpload,
    now: datetime,
) -> BlobState:
    """Verify the caller's bytes; the first verified upload stores the blob, others dedupe."""
    digest = storage.partial_digest(upload.partial)
    if digest != upload.sha256:
        storage.discard_partial(upload.partial)
        raise SyncError(
            422,
            "blob-hash-mismatch",
            "Content does not match its hash",
            f"the {upload.size} bytes received hash to {digest}, not {upload.sha256}; "
            "the upload was discarded, start again at offset 0",
            offset=0,
        )
    upload.complete = True
    blob = _claim(session, upload, now)
    if blob.complete:
        storage.discard_partial(upload.partial)  # the same bytes are stored already
    else:
        storage.promote(upload.partial, upload.sha256)
        blob.complete = True
        if blob.media_type in IMAGE_TYPES:
            analyse_image(storage, blob)
        announce(session, registry, blob.sha256)
    session.flush()
    return _stored(blob)


def _claim(session: Session, upload: BlobUpload, now: datetime) -> BlobRecord:
    """Return the blob's row, locked; a new one (not yet complete) when this upload is first."""
    lock = session.get_bind().dialect.name == "postgresql"
    blob = session.get(BlobRecord, upload.sha256, with_for_update=lock)
    if blob is not None:
        return blob
    blob = BlobRecord(
        sha256=upload.sha256,
        media_type=upload.media_type,
        size=upload.size,
        received=upload.size,
        complete=False,
        uploaded_by=upload.uploader,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # another upload may complete the same blob right now
            session.add(blob)
    except IntegrityError:
        stored = session.get(BlobRecord, upload.sha256, with_for_update=lock)
        if stored is None:  # pragma: no cover - the unique violation means a row exists
            raise
        return stored
    return blob


def collect_garbage(
    session: Session,
    registry: Registry,
    *,
    now: datetime,
    grace: timedelta = timedelta(days=7),
) -> list[str]:
    """Delete the rows of blobs and unfinished uploads untouched for `grace` no row references.

    Only rows: pass the returned storage names to `remove_files` once this transaction has
    committed, so a rollback never leaves a blob marked complete whose bytes are gone.
    """
    keep = referenced(session, registry)
    cutoff = now - grace
    names = []
    for blob in list(session.scalars(select(BlobRecord).where(BlobRecord.updated_at < cutoff))):
        if blob.sha256 in keep:
            continue
        session.delete(blob)
        session.execute(delete(BlobUpload).where(BlobUpload.sha256 == blob.sha256))
        names.append(blob.sha256)
    stale = select(BlobUpload).where(BlobUpload.updated_at < cutoff, BlobUpload.complete.is_(False))
    for upload in list(session.scalars(stale)):
        session.delete(upload)
        names.append(upload.partial)
    session.flush()
    return names


def remove_files(storage: BlobStorage, names: list[str]) -> None:
    """Remove the bytes, thumbnails and unfinished uploads that `collect_garbage` returned."""
    for name in names:
        storage.discard_partial(name)
        if "." not in name:  # a blob: its bytes and thumbnail
            storage.delete(name)
            storage.delete(thumbnail_name(name))
