"""Tiny basemap files for the console tests: solid PNG tiles in a PMTiles archive.

Written with the PyPI `pmtiles` package's writer (as tile tools write them), so the
console's reader and the app's byte-range route are tested against a real archive.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer


def solid_png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A valid size x size PNG of one colour (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * size  # filter byte 0, then RGB pixels
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def write_pmtiles(path: Path, tiles: dict[tuple[int, int, int], bytes]) -> Path:
    """A raster PMTiles archive of the given XYZ tiles (PNG), covering the whole world."""
    zooms = [z for z, _, _ in tiles]
    with path.open("wb") as f:
        writer = Writer(f)
        for (z, x, y), data in sorted(tiles.items(), key=lambda t: zxy_to_tileid(*t[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        writer.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_zoom": min(zooms),
                "max_zoom": max(zooms),
                "min_lon_e7": -1_800_000_000,
                "min_lat_e7": -850_000_000,
                "max_lon_e7": 1_800_000_000,
                "max_lat_e7": 850_000_000,
                "center_zoom": min(zooms),
                "center_lon_e7": 1_201_600_000,
                "center_lat_e7": 302_700_000,
            },
            {"name": "fieldline test basemap", "attribution": "test"},
        )
    return path
