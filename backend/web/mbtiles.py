"""Raster tiles from a local MBTiles file (an SQLite database; MBTiles 1.3), read-only.

MBTiles stores rows in TMS order (row 0 at the south), Leaflet asks in XYZ order (y 0 at the
north): row = 2**z - 1 - y. The file is opened read-only per request, so it can be replaced
by a new extract while the app runs; nothing is ever written to it.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAX_ZOOM = 24
# MBTiles `format` metadata -> content type; raster only (Leaflet draws images, not vectors).
FORMATS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
MAGIC = ((b"\x89PNG", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"RIFF", "image/webp"))


@dataclass(frozen=True)
class Tile:
    """One tile's bytes and content type."""

    data: bytes
    content_type: str


def _connect(path: Path) -> sqlite3.Connection:
    # mode=ro: a read-only handle, and no empty database is created for a mistyped path.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)


def _content_type(data: bytes, declared: str | None) -> str | None:
    if declared in FORMATS:
        return FORMATS[declared]
    return next((kind for magic, kind in MAGIC if data.startswith(magic)), None)


def read_tile(path: Path, z: int, x: int, y: int) -> Tile | None:
    """Return the XYZ tile z/x/y, or None when outside the grid, absent or not an image."""
    if not 0 <= z <= MAX_ZOOM or not (0 <= x < 2**z and 0 <= y < 2**z):
        return None
    try:
        with closing(_connect(path)) as connection:
            row = connection.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ?"
                " AND tile_row = ?",
                (z, x, 2**z - 1 - y),
            ).fetchone()
            declared = connection.execute(
                "SELECT value FROM metadata WHERE name = 'format'"
            ).fetchone()
    except sqlite3.Error as error:
        log.error("basemap MBTiles %s unreadable: %s", path, error)
        return None
    if row is None or not row[0]:
        return None
    data = bytes(row[0])
    content_type = _content_type(data, (declared[0] or "").lower() if declared else None)
    if content_type is None:
        log.error("basemap MBTiles %s holds tiles that are not png/jpg/webp images", path)
        return None
    return Tile(data, content_type)
