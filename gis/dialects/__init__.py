"""Per-dialect spatial SQL: PostGIS and SpatiaLite spell the same operations differently."""

from __future__ import annotations

from types import ModuleType

from gis.dialects import postgis, spatialite

_DIALECTS: dict[str, ModuleType] = {"postgresql": postgis, "sqlite": spatialite}


def select_dialect(name: str) -> ModuleType:
    """Return the module implementing spatial SQL for a SQLAlchemy dialect name."""
    try:
        return _DIALECTS[name]
    except KeyError:
        raise ValueError(f"no spatial dialect for database '{name}'") from None
