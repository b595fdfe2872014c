"""Customer files: current heads (customers, premises, meters) and their add-only versions.

Every change appends an `ArchiveVersion` (a full snapshot, who, when, why, source); the head
row is the current view, moved only to a newer appended version. Database triggers (see
`backend.migrate.guard_head`) refuse any other UPDATE and every DELETE, on both backends.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, ClassVar

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, JSONType, UUIDPrimaryKey, utcnow
from sync.changes import Synced


class VersionedHead(UUIDPrimaryKey, Synced):
    """Columns of every head: its current version number and who wrote it when."""

    # The fields copied into each version's snapshot (and compared by the diff).
    __archive_entity__: ClassVar[str]
    __archive_fields__: ClassVar[tuple[str, ...]]

    version_no: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(120))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)


class Customer(VersionedHead, Base):
    """One account (一户一档): basic data, contacts, contract and supply scheme."""

    __tablename__ = "customers"
    __sync_entity__ = "customer"
    __archive_entity__ = "customer"
    __archive_fields__ = (
        "account_number", "name", "customer_type", "voltage_level", "contract_capacity_kw",
        "status", "region_code", "department_id", "contacts", "contract_number",
        "contract_signed_on", "contract_expires_on", "supply_scheme", "closed_at",
        "classification", "tier", "account_owner", "classified_on",
    )  # fmt: skip
    __table_args__ = (
        Index(
            "ix_customers_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        Index(
            "ix_customers_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        ),
    )

    account_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    customer_type: Mapped[str] = mapped_column(String(16))
    voltage_level: Mapped[str] = mapped_column(String(8))
    contract_capacity_kw: Mapped[float] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(8), default="active", index=True)
    region_code: Mapped[str] = mapped_column(String(32), index=True)
    # [{"name", "phone", "role"}]; phones are masked in API output unless the policy allows.
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    contract_number: Mapped[str | None] = mapped_column(String(64))
    contract_signed_on: Mapped[date | None] = mapped_column()
    contract_expires_on: Mapped[date | None] = mapped_column(index=True)
    supply_scheme: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column()
    # [Customer risk]: 重要/特殊/一般 (important / special / ordinary), reviewed about every two
    # months (`classified_on`); tier ordinary / key / vip with its owner (a username).
    classification: Mapped[str] = mapped_column(
        String(12), default="ordinary", server_default="ordinary"
    )
    tier: Mapped[str] = mapped_column(String(8), default="ordinary", server_default="ordinary")
    account_owner: Mapped[str | None] = mapped_column(String(120))
    classified_on: Mapped[date | None] = mapped_column(index=True)
    # Derived, not history: name, account, phones, premise addresses and lines, run through
    # `backend.archive.search.search_terms` (CJK bigrams) for pg_trgm / FTS5.
    search_text: Mapped[str] = mapped_column(Text, default="")


class Premise(VersionedHead, Base):
    """Where supply is delivered: address, point, and the network links [Network] fills."""

    __tablename__ = "premises"
    __sync_entity__ = "premise"
    __archive_entity__ = "premise"
    __archive_fields__ = (
        "customer_id", "address", "location", "region_code", "department_id",
        "transformer_area_id", "line_id", "line_name", "access_notes", "status",
    )  # fmt: skip

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    address: Mapped[str] = mapped_column(String(400))
    location: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    region_code: Mapped[str] = mapped_column(String(32))
    # References into the network model (the area's line when an area is named).
    transformer_area_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("transformer_areas.id"), index=True
    )
    line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("feeder_lines.id"), index=True)
    line_name: Mapped[str | None] = mapped_column(String(120), index=True)
    access_notes: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(8), default="active")


class MeterType(Audited, Base):
    """Replacement and calibration intervals of one meter type (configurable data)."""

    __tablename__ = "meter_types"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    replacement_months: Mapped[int] = mapped_column()
    calibration_months: Mapped[int] = mapped_column()


class Meter(VersionedHead, Base):
    """A revenue meter at a premise; due dates follow its type's intervals."""

    __tablename__ = "meters"
    __sync_entity__ = "meter"
    __archive_entity__ = "meter"
    __archive_fields__ = (
        "number", "premise_id", "customer_id", "meter_type", "multiplier", "reading_method",
        "installed_on", "calibrated_on", "seals", "faults", "status", "department_id",
        "last_reading", "last_read_at",
    )  # fmt: skip

    number: Mapped[str] = mapped_column(String(32), unique=True)
    premise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("premises.id"), index=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    meter_type: Mapped[str] = mapped_column(ForeignKey("meter_types.code"))
    multiplier: Mapped[float] = mapped_column(default=1.0)
    reading_method: Mapped[str] = mapped_column(String(8))
    installed_on: Mapped[date] = mapped_column()
    calibrated_on: Mapped[date | None] = mapped_column()
    seals: Mapped[list[str]] = mapped_column(default=list)
    faults: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(12), default="in_service")
    last_reading: Mapped[float | None] = mapped_column()
    last_read_at: Mapped[datetime | None] = mapped_column()


class ArchiveVersion(Base):
    """One appended version of a customer, premise or meter: never updated or deleted."""

    __tablename__ = "archive_versions"
    __table_args__ = (UniqueConstraint("entity", "record_id", "version_no"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # The file (account) this version belongs to: a file's history lists all three kinds.
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    version_no: Mapped[int] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column()
    changed_by: Mapped[str] = mapped_column(String(120))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    reason: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(24))


HEADS: dict[str, type[VersionedHead]] = {"customer": Customer, "premise": Premise, "meter": Meter}
