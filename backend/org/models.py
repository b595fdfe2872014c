"""Departments (a tree that defines data scope), crews with members, and vehicles."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.auth.audit import Audited
from backend.db import Base, utcnow

if TYPE_CHECKING:
    from backend.auth.models import User


class DepartmentKind(StrEnum):
    """Where a department sits in the three-tier repair flow."""

    COMPANY = "company"
    CALL_CENTER = "call_center"
    REPAIR_CENTER = "repair_center"
    STATION = "station"


class Specialty(StrEnum):
    """Kinds of work a station, crew or vehicle is equipped for (seed 001 division of labour)."""

    LOW_VOLTAGE = "low_voltage"
    MV_10KV = "10kv"
    METERS = "meters"
    WATER = "water"


class Department(Audited, Base):
    """A node of the organisation tree; `path` lists its ancestors' ids for scope queries."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), index=True)
    # "/1/4/9/": a user of department 4 sees every department whose path starts with "/1/4/".
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")
    region_code: Mapped[str | None] = mapped_column(String(32), index=True)
    address: Mapped[str | None] = mapped_column(String(400))
    site: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    supervisor_phone_1: Mapped[str | None] = mapped_column(String(32))
    supervisor_phone_2: Mapped[str | None] = mapped_column(String(32))
    specialties: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped[Department | None] = relationship(remote_side=[id])


class Crew(Audited, Base):
    """A repair crew (班组) of a station, with the work types its members cover."""

    __tablename__ = "crews"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    work_types: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()
    members: Mapped[list[CrewMember]] = relationship(
        back_populates="crew", cascade="all, delete-orphan", order_by="CrewMember.id"
    )


class CrewMember(Audited, Base):
    """A user's membership of a crew, with the work type they cover."""

    __tablename__ = "crew_members"
    __table_args__ = (UniqueConstraint("crew_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    crew_id: Mapped[int] = mapped_column(ForeignKey("crews.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    work_type: Mapped[str] = mapped_column(String(32))
    # The member who receives orders on the terminal answers for segment EF.
    receives_orders: Mapped[bool] = mapped_column(default=False)

    crew: Mapped[Crew] = relationship(back_populates="members")
    # The member's name for the roster (read only: membership is changed by user id).
    user: Mapped[User] = relationship(viewonly=True)


class Vehicle(Audited, Base):
    """A repair vehicle with its home department, specialty and on-board terminal."""

    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    plate: Mapped[str] = mapped_column(String(32), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    specialty: Mapped[str] = mapped_column(String(32))
    terminal_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Datum the terminal reports in (wgs84, gcj02, bd09); positions are stored as WGS-84.
    datum: Mapped[str] = mapped_column(String(8), default="wgs84")
    # Expected seconds between positions; liveness marks the vehicle stale after a multiple.
    report_interval_s: Mapped[int] = mapped_column(default=10)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    department: Mapped[Department] = relationship()
    crew: Mapped[Crew | None] = relationship()
