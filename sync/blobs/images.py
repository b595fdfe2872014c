"""What is read from an image blob: EXIF capture time and position, and a thumbnail."""

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.blobs.storage import BlobStorage
from sync.store import BlobRecord

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
THUMBNAIL_SIZE = (320, 320)
THUMBNAIL_TYPE = "image/jpeg"


def thumbnail_name(sha256: str) -> str:
    """Return the storage name of a blob's thumbnail."""
    return f"{sha256}.thumb.jpg"


def analyse_image(storage: BlobStorage, blob: BlobRecord) -> None:
    """Read EXIF time and GPS into the blob and store a JPEG thumbnail, each as far as it goes.

    The bytes are stored already, verified by their hash: whatever a decoder fails on (a
    broken PNG chunk is a SyntaxError, others raise struct.error, EOFError...) costs only
    what it would have given, and the upload is answered. The EXIF block is read before the
    pixels, so a truncated photo keeps its capture time and position.
    """
    from PIL import Image

    data = storage.read(blob.sha256)
    try:
        with Image.open(io.BytesIO(data)) as image:
            blob.taken_at, blob.lat, blob.lon = read_exif(image)
    except Exception:  # noqa: BLE001, S110 - see above; the pixels may still decode
        pass
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=80)
        storage.write(thumbnail_name(blob.sha256), out.getvalue())
    except Exception:  # noqa: BLE001 - and the store full (StorageFull): no thumbnail
        return
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
        except (ValueError, OverflowError):  # year 1 minus an offset is before year 1
            taken = None
    gps = exif.get_ifd(0x8825)
    lat = _degrees(gps.get(2), gps.get(1)) if gps.get(2) else None
    lon = _degrees(gps.get(4), gps.get(3)) if gps.get(4) else None
    if lat is not None and not -90 <= lat <= 90 or lon is not None and not -180 <= lon <= 180:
        lat = lon = None  # nonsense coordinates are not a position
    return taken, lat, lon
