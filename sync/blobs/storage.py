"""Where blob bytes live: an interface, and the local-directory implementation."""

import errno
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

# Hex digests and derived names (`<sha>.thumb.jpg`, `<sha>.<key>`): never a path.
_NAME = re.compile(r"[0-9a-f]{64}(\.[0-9a-z]{1,16}){0,2}")


# What a full disk, an exhausted quota or a file size limit look like to a write.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class StorageFull(OSError):
    """The blob directory took no more bytes; nothing half-written was kept."""


class BlobStorage(Protocol):
    """Byte storage for blobs; partial uploads are kept apart from verified blobs.

    A partial upload is named by its session (`<sha>.<uploader key>`), so several callers may
    upload the same blob at once without touching each other's bytes.
    """

    def partial_size(self, partial: str) -> int:
        """Return how many bytes of an unfinished upload are stored."""

    def write_partial(self, partial: str, offset: int, data: bytes) -> int:
        """Write `data` at `offset` of the unfinished upload; return its new size."""

    def discard_partial(self, partial: str) -> None:
        """Forget an unfinished upload."""

    def partial_digest(self, partial: str) -> str:
        """Return the SHA-256 hex digest of the unfinished upload's bytes."""

    def promote(self, partial: str, sha256: str) -> None:
        """Turn a verified upload into the stored blob `sha256`."""

    def read(self, name: str) -> bytes:
        """Return a stored blob (or derived file such as `<sha>.thumb.jpg`)."""

    def write(self, name: str, data: bytes) -> None:
        """Store a derived file."""

    def exists(self, name: str) -> bool:
        """Return whether a stored blob or derived file exists."""

    def delete(self, name: str) -> None:
        """Delete a stored blob or derived file (missing is fine)."""


class LocalBlobStorage:
    """Blobs in a local directory: `<root>/<aa>/<sha>`, partial uploads in `<root>/partial/`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "partial").mkdir(parents=True, exist_ok=True)

    def _partial(self, partial: str) -> Path:
        if not _NAME.fullmatch(partial):
            raise ValueError(f"bad partial name {partial!r}")
        return self.root / "partial" / partial

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"bad blob name {name!r}")
        return self.root / name[:2] / name

    def partial_size(self, partial: str) -> int:
        path = self._partial(partial)
        return path.stat().st_size if path.exists() else 0

    def write_partial(self, partial: str, offset: int, data: bytes) -> int:
        path = self._partial(partial)
        with path.open("r+b" if path.exists() else "wb") as handle:
            try:
                handle.seek(offset)
                handle.write(data)
                handle.truncate(offset + len(data))
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as exc:
                if exc.errno not in _FULL:
                    raise
                # Back to the bytes acknowledged before: the caller resumes from `offset`.
                handle.truncate(offset)
                raise StorageFull(exc.errno, f"blob storage full: {exc.strerror}") from exc
        return offset + len(data)

    def discard_partial(self, partial: str) -> None:
        self._partial(partial).unlink(missing_ok=True)

    def partial_digest(self, partial: str) -> str:
        digest = hashlib.sha256()
        with self._partial(partial).open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def promote(self, partial: str, sha256: str) -> None:
        target = self._path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self._partial(partial), target)

    def read(self, name: str) -> bytes:
        return self._path(name).read_bytes()

    def write(self, name: str, data: bytes) -> None:
        target = self._path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        try:
            temporary.write_bytes(data)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            if exc.errno in _FULL:
                raise StorageFull(exc.errno, f"blob storage full: {exc.strerror}") from exc
            raise
        os.replace(temporary, target)

    def exists(self, name: str) -> bool:
        return self._path(name).exists()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)
