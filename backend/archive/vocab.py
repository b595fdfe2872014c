"""The archive's fixed vocabularies: customer types, voltage levels, sources, stages, meters."""

from __future__ import annotations

from enum import StrEnum


class CustomerType(StrEnum):
    """Residential or not: decides tariffs, retention and which contract applies."""

    RESIDENTIAL = "residential"
    NON_RESIDENTIAL = "non_residential"


class AccountStatus(StrEnum):
    """An account is open until closed; closing is a version like any other change."""

    ACTIVE = "active"
    CLOSED = "closed"


class Source(StrEnum):
    """Where a version came from (seed 003: "every change leaves a trace")."""

    UI = "ui"
    IMPORT = "import"
    SYNC = "sync"
    FIELD_VERIFICATION = "field_verification"


class Stage(StrEnum):
    """The business step a document or photo belongs to (业扩 stages, then later changes)."""

    APPLICATION = "application"
    SURVEY = "survey"
    DESIGN = "design"
    INSTALLATION = "installation"
    ACCEPTANCE = "acceptance"
    INSPECTION = "inspection"
    CONTRACT = "contract"
    CHANGE = "change"
    CLOSURE = "closure"
    OTHER = "other"


class ReadingMethod(StrEnum):
    """How a meter is read."""

    REMOTE = "remote"
    MANUAL = "manual"


class MeterFault(StrEnum):
    """Meter fault states an inspector records (seed 002)."""

    STUCK = "stuck"
    SLOW = "slow"
    STOPPED = "stopped"
    DAMAGED_WIRING = "damaged_wiring"
    BROKEN_SEAL = "broken_seal"


# Supply voltage levels, low to high; "high voltage" (retention, gates) starts at 10 kV.
VOLTAGE_LEVELS = ("220V", "380V", "10kV", "20kV", "35kV", "110kV", "220kV")
HIGH_VOLTAGE = frozenset({"10kV", "20kV", "35kV", "110kV", "220kV"})

# Default replacement and calibration intervals per meter type, in months; the live values are
# rows of `meter_types` (seeded by the migration, changed through the API).
DEFAULT_METER_TYPES = (
    # (code, name, replacement months, calibration months)
    ("single_phase", "Single-phase smart meter", 96, 96),
    ("three_phase", "Three-phase smart meter", 96, 72),
    ("ct_operated", "CT-operated three-phase meter", 96, 12),
    ("hv_metering", "High-voltage metering unit", 120, 6),
)
