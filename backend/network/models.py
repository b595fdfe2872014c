"""Network tree: substations, feeder lines, transformer areas (台区), customer flags, regions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, JSONType, UUIDPrimaryKey, utcnow
from sync.changes import Synced


class Substation(UUIDPrimaryKey, Audited, Base):
    """A substation feeding lines (optional in the tree: a line may name none)."""

    __tablename__ = "substations"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    voltage: Mapped[str | None] = mapped_column(String(16))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    location: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeederLine(UUIDPrimaryKey, Synced, Audited, Base):
    """A feeder line (线路): its route, voltage and switch points that split it into sections.

    `switch_points` is `[{"code", "name", "lon", "lat", "section"}]`: opening a switch cuts the
    section named after it (transformer areas name the section they hang on).
    """

    __tablename__ = "feeder_lines"
    # Handhelds pull lines near their crews' work (`network.handheld`); the owner's department
    # routes the feed rows office callers read.
    __sync_entity__ = "feeder_line"
    __sync_scope__ = ("department_id", None)

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    voltage: Mapped[str] = mapped_column(String(16))
    substation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("substations.id"), index=True
    )
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(32), index=True)
    route: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326))
    switch_points: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TransformerArea(UUIDPrimaryKey, Synced, Audited, Base):
    """A transformer area (台区): one distribution transformer and the customers behind it."""

    __tablename__ = "transformer_areas"
    __sync_entity__ = "transformer_area"
    __sync_scope__ = ("department_id", None)

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120), index=True)
    line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feeder_lines.id"), index=True)
    # The line section (named by its switch point) the area hangs on; None: the main section.
    section: Mapped[str | None] = mapped_column(String(32))
    capacity_kva: Mapped[float] = mapped_column()
    ownership: Mapped[str] = mapped_column(String(12))  # public | dedicated
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(32), index=True)
    # The transformer's point; `boundary` the area's polygon when it is known.
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326))
    boundary: Mapped[WKBElement | None] = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=False)
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerFlag(Audited, Base):
    """Important / high-risk marks on a customer (hospitals, life support, chemical plants)."""

    __tablename__ = "customer_flags"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    important: Mapped[bool] = mapped_column(default=False, index=True)
    high_risk: Mapped[bool] = mapped_column(default=False, index=True)
    note: Mapped[str | None] = mapped_column(String(400))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))


class RegionCode(Audited, Base):
    """A region code (stored upper-case; matched case-insensitively) and its service contact."""

    __tablename__ = "region_codes"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    service_contact: Mapped[str] = mapped_column(String(120))
    service_phone: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
