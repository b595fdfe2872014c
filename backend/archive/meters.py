"""Meters of a premise: versions, due dates from their type's intervals, readings."""

from __future__ import annotations

import calendar
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive import versions
from backend.archive.access import ArchiveAction, in_scope, require
from backend.archive.records import Meter, MeterType, Premise
from backend.archive.seals import IN_SERVICE, check_seals_free, may_read_meter
from backend.archive.service import get_customer, get_premise
from backend.archive.vocab import AccountStatus, Source
from backend.auth.actor import Actor
from backend.auth.policy import Action, load_in_scope
from backend.db import utcnow
from backend.errors import Conflict, OutOfScope, field_error
from backend.inputs import refuse_ahead_of_server
from backend.inspection.models import MeterReading
from sync.entities import FUTURE_ALLOWANCE

METER_EDITABLE = (
    "meter_type", "multiplier", "reading_method", "installed_on", "calibrated_on", "seals",
    "faults", "status",
)  # fmt: skip
# What a field verification may correct (seed 003): the number as found on the meter too.
METER_CORRECTABLE = ("number", *METER_EDITABLE)


# No meter in service was installed or calibrated earlier: an older date is a slip (0001-01-01
# from a blank cell, a two-digit year), and it would make every meter look overdue at once.
EARLIEST_METER_DAY = date(1950, 1, 1)
METER_DAYS = ("installed_on", "calibrated_on")


# The reason of the meter version each new reading appends (its value on the file's head):
# a reading, not an update of the file (`deadlines`: a changed customer's file stays due).
READING_REASON = "meter reading"


def meter_day_problem(day: date) -> str | None:
    """What makes an installation or calibration date implausible, or None.

    The one rule for every door that writes a meter's dates: REST (its schemas' `MeterDay`
    too), the import and the field verification (its corrections are checked when pushed).
    "The future" starts after today in the zone furthest ahead (UTC+14), so a meter fitted
    today anywhere is never refused.
    """
    if day < EARLIEST_METER_DAY:
        return f"a date from {EARLIEST_METER_DAY.isoformat()} on"
    if day > (utcnow() + timedelta(hours=14)).date():
        return "a date not in the future"
    return None


def calibration_day_problem(installed_on: date | None, calibrated_on: date | None) -> str | None:
    """What is wrong with the calibration date against the installation date, or None.

    The meter was calibrated before it was fitted only by a slip, and its calibration cycle
    would then count from before it was in service. The same doors ask, with the meter's
    dates as they would stand after the change.
    """
    if installed_on is not None and calibrated_on is not None and calibrated_on < installed_on:
        return "a date not before the meter's installation date"
    return None


def _check_days(values: dict[str, Any], meter: Meter | None = None) -> None:
    for field in METER_DAYS:
        day = values.get(field)
        problem = meter_day_problem(day) if day is not None else None
        if problem:
            raise field_error(field, f"Expected {problem}.")
    if meter is not None:  # a change: the dates it leaves alone stand
        values = {field: getattr(meter, field) for field in METER_DAYS} | values
    problem = calibration_day_problem(values.get("installed_on"), values.get("calibrated_on"))
    if problem:
        raise field_error("calibrated_on", f"Expected {problem}.")


def add_months(day: date, months: int) -> date:
    """Return the same day `months` later (the month's last day when it is shorter)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_dates(meter: Meter, meter_type: MeterType) -> dict[str, date | None]:
    """Return when the meter is due for replacement and for calibration.

    Replacement counts from installation; calibration from the last calibration, or from
    installation when it was never calibrated after.
    """
    calibrated = meter.calibrated_on or meter.installed_on
    return {
        "replacement_due": add_months(meter.installed_on, meter_type.replacement_months),
        "calibration_due": add_months(calibrated, meter_type.calibration_months),
    }


class MeterNumberTaken(Conflict):
    """A meter number is another meter's (numbers are unique across the archive).

    Extensions: `meter_number` (as asked); `meter_id` when the caller may read that meter.
    """

    slug, title = "meter-number-taken", "Meter number in use"


def number_holder(session: Session, number: str, meter_id: uuid.UUID | None = None) -> Meter | None:
    """The meter other than `meter_id` that carries `number`, if any."""
    query = select(Meter).where(Meter.number == number)
    if meter_id is not None:
        query = query.where(Meter.id != meter_id)
    return session.scalar(query)


def number_in_use(session: Session, actor: Actor, number: str, other: Meter) -> str:
    """Say that the number is taken; more only to a caller who may read the other meter.

    Anyone else learns that the number cannot be used, not where: the one rule for every door
    (a new meter, a change, the import, field verification), as `seals.where_taken` for seals.
    """
    if may_read_meter(session, actor, other):
        return f"Meter {number} already exists"
    return f"Meter number {number} is already registered"


def check_number_free(
    session: Session, *, actor: Actor, number: str, meter_id: uuid.UUID | None = None
) -> None:
    """Raise `MeterNumberTaken` (409) if a meter other than `meter_id` has the number."""
    other = number_holder(session, number, meter_id)
    if other is None:
        return
    detail = f"{number_in_use(session, actor, number, other)}; meter numbers are unique."
    if may_read_meter(session, actor, other):
        raise MeterNumberTaken(detail, meter_number=number, meter_id=str(other.id))
    raise MeterNumberTaken(detail, meter_number=number)


def _meter_type(session: Session, code: str) -> MeterType:
    found = session.get(MeterType, code)
    if found is None:
        raise field_error("meter_type", f"Unknown meter type {code!r}.")
    return found


def add_meter(
    *, session: Session, actor: Actor, premise_id: uuid.UUID, data: dict[str, Any],
    source: str = Source.UI, reason: str = "meter installed",
) -> Meter:  # fmt: skip
    """Add a meter to a premise (version 1 of the meter)."""
    require(actor, ArchiveAction.EDIT_METER)
    premise = get_premise(session=session, actor=actor, premise_id=premise_id)
    _meter_type(session, data["meter_type"])
    _check_days(data)
    if data.get("status", IN_SERVICE) == IN_SERVICE:
        check_seals_free(session, actor=actor, seals=data.get("seals") or [])
    check_number_free(session, actor=actor, number=data["number"])
    meter = Meter(
        **data, premise_id=premise.id, customer_id=premise.customer_id,
        department_id=premise.department_id,
    )  # fmt: skip
    versions.create(session, meter, actor=actor.audit_name, reason=reason, source=source)
    return meter


def get_meter(*, session: Session, actor: Actor, meter_id: uuid.UUID) -> Meter:
    """Load a meter whose customer is in the actor's scope."""
    require(actor, ArchiveAction.READ_CUSTOMER)
    return load_in_scope(session, actor, Meter, meter_id)


def change_meter(
    *, session: Session, actor: Actor, meter: Meter, changes: dict[str, Any], reason: str,
    source: str = Source.UI, base_version: int | None = None,
    editable: tuple[str, ...] = METER_EDITABLE,
) -> Meter:  # fmt: skip
    """Append a version of a meter (faults, seals, calibration, replacement ...).

    `editable` widens the fields for a field verification (`METER_CORRECTABLE`: the number).
    """
    require(actor, ArchiveAction.EDIT_METER)
    customer = get_customer(session=session, actor=actor, customer_id=meter.customer_id)
    if customer.status == AccountStatus.CLOSED:
        raise Conflict(f"Account {customer.account_number} is closed; its file is read-only.")
    unknown = sorted(set(changes) - set(editable))
    if unknown:
        raise field_error(unknown[0], f"{unknown[0]} cannot be changed this way.")
    if "meter_type" in changes:
        _meter_type(session, changes["meter_type"])
    _check_days(changes, meter)
    # New seals, or a meter back in service with its seals: none may be on another meter.
    if {"seals", "status"} & set(changes) and changes.get("status", meter.status) == IN_SERVICE:
        seals = changes.get("seals", meter.seals) or []
        check_seals_free(session, actor=actor, seals=seals, meter_id=meter.id)
    if "number" in changes and changes["number"] != meter.number:
        check_number_free(session, actor=actor, number=changes["number"], meter_id=meter.id)
    versions.append(
        session, meter, changes, actor=actor.audit_name, reason=reason, source=source,
        base_version=base_version,
    )  # fmt: skip
    return meter


def note_reading(
    session: Session, meter: Meter, *, value: float, read_at: datetime, actor: Actor, source: str
) -> None:
    """Move the meter's last reading forward (a version) when a newer reading arrives.

    The last reading is the one with the latest `read_at` among accepted readings. A reading
    from the future is refused (every door refuses it first), and a head that is itself from
    the future (stored before doors checked) gives way to the next reading, so none can pin it.
    The reader must be allowed to capture readings and have the meter's file in scope (the
    service asks, whichever door the reading came through).
    """
    require(actor, Action.FIELD_CAPTURE)
    if not in_scope(session, actor, meter.customer_id):
        raise OutOfScope.of("Meter")
    latest_believable = utcnow() + FUTURE_ALLOWANCE
    refuse_ahead_of_server("read_at", read_at)
    head = meter.last_read_at
    if head is not None and head <= latest_believable and read_at <= head:
        return  # an older reading synced late: history only, the head stays
    versions.append(
        session, meter, {"last_reading": value, "last_read_at": read_at}, actor=actor.audit_name,
        reason=READING_REASON, source=source,
    )  # fmt: skip


def readings(session: Session, meter_id: uuid.UUID, visible: Any) -> list[MeterReading]:
    """Return those of a meter's readings `visible` (a WHERE clause) admits, newest first."""
    return list(
        session.scalars(
            select(MeterReading)
            .where(MeterReading.meter_id == meter_id, MeterReading.deleted.is_(False), visible)
            .order_by(MeterReading.read_at.desc())
        )
    )


def meter_types(session: Session) -> list[MeterType]:
    """Return the meter types and their intervals."""
    return list(session.scalars(select(MeterType).order_by(MeterType.code)))


def set_meter_type(*, session: Session, actor: Actor, data: dict[str, Any]) -> MeterType:
    """Create or change a meter type's intervals (due dates follow at once)."""
    require(actor, ArchiveAction.CONFIGURE)
    found = session.get(MeterType, data["code"])
    if found is None:
        found = MeterType(**data)
        session.add(found)
    else:
        for key, value in data.items():
            setattr(found, key, value)
    session.flush()
    return found


def premise_of(session: Session, meter: Meter) -> Premise:
    """Return the premise a meter is at."""
    premise = session.get(Premise, meter.premise_id)
    assert premise is not None  # noqa: S101 - a foreign key
    return premise
