"""Field verification jobs for the archive (seed 003: 导出明细 → 现场核实 → 系统校验 → 短信校验).

select a batch (area, class, data-quality flags) → assigned to field staff → checked and
corrected offline on the handheld (`verification_item` pushes) → validated (rules, then a
supervisor's review) → the corrections become archive versions with source
`field_verification` → an SMS check to the customer through the pluggable sender →
the batch report: corrections made and the data-quality change.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.archive import meters as archive_meters
from backend.archive import service as archive
from backend.archive.records import Customer, Meter, MeterType, Premise
from backend.archive.seals import seal_holder, where_taken
from backend.archive.vocab import ReadingMethod, Source
from backend.auth.actor import Actor
from backend.auth.models import User
from backend.auth.policy import (
    Action,
    authorize,
    can,
    department_filter,
    holders,
    load_in_scope,
)
from backend.db import point_element, utcnow
from backend.errors import Conflict, InvalidTransition, OutOfScope, field_error
from backend.inspection.hazards import new_number
from backend.inspection.verification_models import VerificationBatch, VerificationItem
from backend.network import notify
from backend.org.models import Department

FLAGS = ("no_phone", "bad_phone", "no_location", "no_meter", "no_line", "no_seal")
# The meter's archive fields a field check corrects (seed 003: installation date → rotation,
# calibration date → calibration cycle, multiplier → billed energy, method, seals), each as
# `meter.<field>`; `meter_id` names which of the file's meters (default: the premise's only one).
METER_CORRECTABLE = (
    "meter.number", "meter.meter_type", "meter.multiplier", "meter.reading_method",
    "meter.installed_on", "meter.calibrated_on", "meter.seals",
)  # fmt: skip
CORRECTABLE = (
    "name", "phone", "address", "location", "access_notes", "meter_id", *METER_CORRECTABLE,
)  # fmt: skip
PHONE = re.compile(r"1\d{10}|0\d{9,11}")  # a mobile, or a landline with its area code
METER_NUMBER = re.compile(r"[A-Za-z0-9-]{1,32}")  # as the archive takes it
SEAL = re.compile(r"[A-Za-z0-9-]{1,32}")
# A multiplier as a number (40) or the transformers' ratios multiplied ("200/5*10000/100").
RATIO = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*")
MAX_SEALS = 20
MAX_BATCH = 500


def national(phone: str) -> str:
    """A phone number as national digits: no spaces or dashes, no +86 / 0086 prefix."""
    digits = re.sub(r"[\s-]", "", phone)
    return re.sub(r"^(\+86|0086)", "", digits)


def flags_of(customer: Customer, premises: list[Premise], meters: list[Meter]) -> list[str]:
    """The data-quality flags a customer file raises (what field verification fixes)."""
    phones = [str(c.get("phone") or "") for c in customer.contacts or [] if c.get("phone")]
    flags = []
    if not phones:
        flags.append("no_phone")
    elif not all(PHONE.fullmatch(national(p)) for p in phones):
        flags.append("bad_phone")
    if any(p.location is None for p in premises) or not premises:
        flags.append("no_location")
    if not meters:
        flags.append("no_meter")
    if any(p.line_id is None and not p.line_name for p in premises):
        flags.append("no_line")
    if any(m.status == "in_service" and not m.seals for m in meters):
        flags.append("no_seal")
    return flags


def file_flags(session: Session, customer: Customer) -> list[str]:
    """Flags of one customer file as stored now."""
    premises = list(session.scalars(select(Premise).where(Premise.customer_id == customer.id)))
    meters = list(session.scalars(select(Meter).where(Meter.customer_id == customer.id)))
    return flags_of(customer, premises, meters)


def quality(flag_lists: list[list[str]]) -> float:
    """Share of checks passed over the files (1.0: no flags anywhere)."""
    if not flag_lists:
        return 1.0
    failed = sum(len(flags) for flags in flag_lists)
    return round(1 - failed / (len(flag_lists) * len(FLAGS)), 4)


def create_batch(*, session: Session, actor: Actor, data: dict[str, Any]) -> VerificationBatch:
    """Select the files of a batch and spread them over the assignees."""
    authorize(actor, Action.VERIFICATION_MANAGE)
    department = load_in_scope(session, actor, Department, data["department_id"])
    assignees = sorted(set(data["assignee_ids"]))
    found = session.scalars(
        select(User.id).where(
            User.id.in_(assignees), User.active.is_(True),
            User.role.in_(holders(Action.VERIFICATION_WORK)),
            User.department_id.in_(department_filter(actor)),
        )
    ).all()  # fmt: skip
    if sorted(found) != assignees:
        raise field_error("assignee_ids", "Field staff (inspectors, crews) of your scope only.")
    subtree = select(Department.id).where(Department.path.startswith(department.path))
    query = (
        select(Customer)
        .where(Customer.department_id.in_(subtree), Customer.status == "active")
        .order_by(Customer.account_number)
    )
    if data.get("customer_type"):
        query = query.where(Customer.customer_type == data["customer_type"])
    if data.get("transformer_area_id"):
        area = select(Premise.customer_id).where(
            Premise.transformer_area_id == data["transformer_area_id"]
        )
        query = query.where(Customer.id.in_(area))
    wanted = set(data.get("flags") or [])
    limit = data.get("limit") or MAX_BATCH
    chosen: list[tuple[Customer, list[str]]] = []
    for customer in session.scalars(query):
        flags = file_flags(session, customer)
        if wanted and not wanted & set(flags):
            continue
        chosen.append((customer, flags))
        if len(chosen) >= limit:
            break
    if not chosen:
        raise Conflict("No customer file matches the batch's criteria.")
    now = utcnow()
    batch_id = uuid.uuid4()
    batch = VerificationBatch(
        id=batch_id, number=new_number(now, batch_id, prefix="FV"), name=data["name"],
        department_id=department.id, created_by=actor.audit_name, created_at=now,
        criteria={
            "customer_type": data.get("customer_type"), "flags": sorted(wanted),
            "transformer_area_id": str(data["transformer_area_id"])
            if data.get("transformer_area_id") else None, "limit": limit,
        },
        quality_before=quality([flags for _, flags in chosen]),
    )  # fmt: skip
    session.add(batch)
    session.flush()
    for index, (customer, flags) in enumerate(chosen):
        premise = session.scalar(
            select(Premise.id).where(Premise.customer_id == customer.id).order_by(Premise.id)
        )
        session.add(
            VerificationItem(
                batch_id=batch.id,
                department_id=customer.department_id,
                customer_id=customer.id,
                premise_id=premise,
                assignee_id=assignees[index % len(assignees)],
                status="pending",
                corrections={},
                flags_before=flags,
            )  # fmt: skip
        )
    session.flush()
    return batch


def find_batches(*, actor: Actor) -> Select[tuple[VerificationBatch]]:
    """Select the batches of the actor's departments."""
    authorize(actor, Action.VERIFICATION_READ)
    return (
        select(VerificationBatch)
        .where(VerificationBatch.department_id.in_(department_filter(actor)))
        .order_by(VerificationBatch.created_at.desc(), VerificationBatch.id)
    )


def items_of(session: Session, actor: Actor, batch: VerificationBatch) -> list[VerificationItem]:
    """The batch's items the actor sees (field staff: their own)."""
    query = select(VerificationItem).where(VerificationItem.batch_id == batch.id)
    if not can(actor, Action.VERIFICATION_MANAGE) and not can(actor, Action.VERIFICATION_REVIEW):
        if can(actor, Action.VERIFICATION_WORK):
            query = query.where(VerificationItem.assignee_id == actor.id)
    return list(session.scalars(query.order_by(VerificationItem.id)))


def correction_problems(corrections: Mapping[str, Any]) -> list[str]:
    """The validation rules of field corrections (fields, formats)."""
    problems = []
    for name, value in corrections.items():
        if name not in CORRECTABLE:
            problems.append(f"{name}: not a correctable field ({', '.join(CORRECTABLE)})")
            continue
        if value is None:
            continue
        text = str(value).strip()
        if name in ("name", "address") and not text:
            problems.append(f"{name}: must not be blank")
        elif name == "name" and len(text) > 200:
            problems.append("name: at most 200 characters")
        elif name == "phone" and not PHONE.fullmatch(national(text)):
            problems.append("phone: a mobile (11 digits from 1) or landline (0xx-xxxxxxx)")
        elif name == "location" and _point(text) is None:
            problems.append("location: 'lat,lon' in WGS-84")
        elif name == "meter_id" and _uuid(text) is None:
            problems.append("meter_id: the id of one of the file's meters")
        elif name.startswith("meter."):
            problem = _meter_value_problem(name, text)
            if problem:
                problems.append(f"{name}: {problem}")
    problems.extend(_date_order_problems(corrections))
    return problems


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def multiplier_of(text: str) -> float | None:
    """A multiplier from a number or from transformer ratios ("200/5*10000/100"); None if bad."""
    parts = re.split(r"[*×xX]", text)
    value = 1.0
    try:
        if len(parts) == 1 and "/" not in text:
            value = float(text)
        else:
            for part in parts:
                match = RATIO.fullmatch(part)
                if match is None or float(match[2]) == 0:
                    return None
                value *= float(match[1]) / float(match[2])
    except ValueError:
        return None
    if not math.isfinite(value) or not 0.001 <= value <= 100_000:
        return None
    return round(value, 6)


def seals_of(text: str) -> list[str]:
    """Seal numbers as found: comma-separated ("" when the meter carries none)."""
    return [seal.strip() for seal in text.split(",") if seal.strip()]


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _meter_value_problem(name: str, text: str) -> str | None:
    field = name.removeprefix("meter.")
    if field == "number" and not METER_NUMBER.fullmatch(text):
        return "1-32 letters, digits or dashes"
    if field == "meter_type" and not re.fullmatch(r"[a-z0-9_]{1,32}", text):
        return "a meter type code"
    if field == "multiplier" and multiplier_of(text) is None:
        return "a number from 0.001 to 100000, or ratios such as 200/5 or 200/5*10000/100"
    if field == "reading_method" and text not in [m.value for m in ReadingMethod]:
        return f"one of {', '.join(m.value for m in ReadingMethod)}"
    if field in archive_meters.METER_DAYS:
        day = _day(text)
        return "a date (YYYY-MM-DD)" if day is None else archive_meters.meter_day_problem(day)
    if field == "seals":
        seals = seals_of(text)
        if len(seals) > MAX_SEALS:
            return f"at most {MAX_SEALS} seal numbers"
        if any(not SEAL.fullmatch(seal) for seal in seals):
            return "comma-separated seal numbers of 1-32 letters, digits or dashes"
        if len(set(seals)) != len(seals):
            return "a seal number is listed twice"
    return None


def _date_order_problems(corrections: Mapping[str, Any]) -> list[str]:
    installed = _day(str(corrections.get("meter.installed_on") or ""))
    calibrated = _day(str(corrections.get("meter.calibrated_on") or ""))
    problem = archive_meters.calibration_day_problem(installed, calibrated)
    return [f"meter.calibrated_on: {problem}"] if problem else []


def meter_of(session: Session, item: VerificationItem, corrections: Mapping[str, Any]) -> Meter:
    """The meter the item's `meter.*` corrections are about (a problem if it is unclear)."""
    raw = corrections.get("meter_id")
    if raw:
        meter = session.get(Meter, _uuid(str(raw)))
        if meter is None or meter.customer_id != item.customer_id:
            raise field_error("corrections", "meter_id: not a meter of this customer file")
        return meter
    query = select(Meter).where(Meter.customer_id == item.customer_id)
    if item.premise_id is not None:
        query = query.where(Meter.premise_id == item.premise_id)
    meters = list(session.scalars(query.order_by(Meter.number)))
    if len(meters) != 1:
        detail = (
            "the file has no meter to correct" if not meters
            else f"meter_id: the file has {len(meters)} meters; name the one corrected"
        )  # fmt: skip
        raise field_error("corrections", detail)
    return meters[0]


def meter_problems(
    session: Session, actor: Actor, item: VerificationItem, corrections: Mapping[str, Any]
) -> list[str]:
    """The rules that ask the archive: which meter, a known type, a number and seals not taken.

    A taken seal or number names the other meter only if `actor` may read it.

    Dates are checked against the meter as it stands (calibrated not before installed).
    """
    if not any(k.startswith("meter") for k in corrections):
        return []
    meter = meter_of(session, item, corrections)
    problems = []
    number = corrections.get("meter.number")
    if number and number != meter.number:
        holder = archive_meters.number_holder(session, number, meter.id)
        if holder is not None:  # the archive's rule for every door (409 elsewhere)
            problems.append(
                f"meter.number: {archive_meters.number_in_use(session, actor, number, holder)}"
            )
    code = corrections.get("meter.meter_type")
    if code and session.get(MeterType, code) is None:
        problems.append(f"meter.meter_type: unknown meter type {code!r}")
    installed = _day(str(corrections.get("meter.installed_on") or "")) or meter.installed_on
    calibrated = _day(str(corrections.get("meter.calibrated_on") or "")) or meter.calibrated_on
    problem = archive_meters.calibration_day_problem(installed, calibrated)
    if problem:  # the archive's rule for every door (422 on `calibrated_on` elsewhere)
        problems.append(f"meter.calibrated_on: {problem}")
    taken = seal_holder(
        session, seals=seals_of(str(corrections.get("meter.seals") or "")), meter_id=meter.id
    )
    if taken is not None:  # the archive's rule for every door (409 `seal-taken` elsewhere)
        problems.append(f"meter.seals: {where_taken(session, actor, *taken)}")
    return problems


def _point(text: str) -> tuple[float, float] | None:
    try:
        lat_text, lon_text = text.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _may_check(actor: Actor, item: VerificationItem) -> bool:
    # Files are assigned to people (who log in on their handheld), not to crew devices.
    return (
        actor.kind == "user"
        and can(actor, Action.VERIFICATION_WORK)
        and (item.assignee_id == actor.id)
    )


def may_check(*, session: Session, actor: Actor, item_id: uuid.UUID) -> None:
    """Check, before the corrections are read, that the item is the actor's to check."""
    item = load_in_scope(session, actor, VerificationItem, item_id)
    if not _may_check(actor, item):
        raise OutOfScope("This file is assigned to someone else.")


def check_item(
    *, session: Session, actor: Actor, item: VerificationItem, values: Mapping[str, Any]
) -> VerificationItem:
    """Record what was found on site (REST and sync pushes): corrections pass the rules."""
    if not _may_check(actor, item):
        raise OutOfScope("This file is assigned to someone else.")
    if item.status not in ("pending", "rejected", "checked"):
        raise InvalidTransition(f"The file is {item.status}.", current_state=item.status)
    corrections = {**(item.corrections or {}), **dict(values.get("corrections") or {})}
    problems = correction_problems(corrections) or meter_problems(session, actor, item, corrections)
    if problems:
        raise field_error("corrections", "; ".join(problems))
    item.corrections = corrections
    if "notes" in values:
        item.notes = values["notes"]
    if values.get("status", "checked") == "checked":
        item.status, item.checked_by, item.checked_at = "checked", actor.audit_name, utcnow()
    session.flush()
    return item


def load_item(
    session: Session, actor: Actor, item_id: uuid.UUID, action: Action
) -> VerificationItem:
    """An item in the actor's departments."""
    return load_in_scope(session, actor, VerificationItem, item_id, action=action, lock=True)


def _customer_changes(customer: Customer, corrections: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if corrections.get("name"):
        changes["name"] = str(corrections["name"]).strip()
    if corrections.get("phone"):
        contacts = [dict(c) for c in customer.contacts or []]
        phone = str(corrections["phone"]).replace(" ", "")
        if contacts:
            contacts[0]["phone"] = phone
        else:
            contacts = [{"name": customer.name, "phone": phone, "role": "owner"}]
        changes["contacts"] = contacts
    return changes


def _premise_changes(corrections: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if corrections.get("address"):
        changes["address"] = str(corrections["address"]).strip()
    if corrections.get("access_notes"):
        changes["access_notes"] = str(corrections["access_notes"])
    if corrections.get("location"):
        point = _point(str(corrections["location"]))
        assert point is not None  # noqa: S101 - validated when checked
        changes["location"] = point_element(point[1], point[0])
    return changes


def _meter_changes(corrections: dict[str, Any]) -> dict[str, Any]:
    """The meter's new values (only the fields corrected; validated when checked)."""
    changes: dict[str, Any] = {}
    for key in METER_CORRECTABLE:
        value = corrections.get(key)
        if value is None:
            continue
        field, text = key.removeprefix("meter."), str(value).strip()
        if field == "multiplier":
            changes[field] = multiplier_of(text)
        elif field in ("installed_on", "calibrated_on"):
            changes[field] = date.fromisoformat(text)
        elif field == "seals":
            changes[field] = seals_of(text)
        else:
            changes[field] = text
    return changes


def review_item(
    *, session: Session, actor: Actor, item_id: uuid.UUID, approve: bool, note: str | None
) -> VerificationItem:
    """A supervisor validates a checked file: approved corrections become archive versions."""
    item = load_item(session, actor, item_id, Action.VERIFICATION_REVIEW)
    if item.status != "checked":
        raise InvalidTransition(
            f"Only checked files are reviewed; this one is {item.status}.",
            current_state=item.status,
        )
    problems = correction_problems(item.corrections or {}) or meter_problems(
        session, actor, item, item.corrections or {}
    )
    if problems:  # rules changed since the check, or the archive since the push
        raise field_error("corrections", "; ".join(problems))
    now = utcnow()
    item.reviewed_by, item.reviewed_at, item.review_note = actor.audit_name, now, note
    if not approve:
        if not (note or "").strip():
            raise field_error("note", "Say why the corrections go back to the field.")
        item.status = "rejected"
        session.flush()
        return item
    batch = session.get(VerificationBatch, item.batch_id)
    assert batch is not None  # noqa: S101 - a foreign key
    reason = f"field verification {batch.number} (checked by {item.checked_by})"
    applied = []
    customer = session.get(Customer, item.customer_id)
    assert customer is not None  # noqa: S101 - a foreign key
    changes = _customer_changes(customer, item.corrections or {})
    if changes:
        archive.change_customer(
            session=session, actor=actor, customer_id=customer.id, changes=changes,
            reason=reason, source=Source.FIELD_VERIFICATION,
        )  # fmt: skip
        applied.append(
            {"entity": "customer", "id": str(customer.id), "version_no": customer.version_no}
        )  # noqa: E501
    premise = session.get(Premise, item.premise_id) if item.premise_id else None
    premise_changes = _premise_changes(item.corrections or {})
    if premise_changes and premise is not None:
        archive.change_premise(
            session=session, actor=actor, premise=premise, changes=premise_changes,
            reason=reason, source=Source.FIELD_VERIFICATION,
        )  # fmt: skip
        applied.append(
            {"entity": "premise", "id": str(premise.id), "version_no": premise.version_no}
        )  # noqa: E501
    meter_changes = _meter_changes(item.corrections or {})
    if meter_changes:
        meter = meter_of(session, item, item.corrections or {})
        archive_meters.change_meter(
            session=session, actor=actor, meter=meter, changes=meter_changes, reason=reason,
            source=Source.FIELD_VERIFICATION, editable=archive_meters.METER_CORRECTABLE,
        )  # fmt: skip
        applied.append({"entity": "meter", "id": str(meter.id), "version_no": meter.version_no})
    item.applied_versions = applied
    item.status = "validated"
    session.flush()
    item.flags_after = file_flags(session, customer)
    session.flush()
    return item


def confirm_batch(*, session: Session, actor: Actor, batch_id: uuid.UUID) -> dict[str, Any]:
    """Text each validated file's customer to confirm the corrections (recorded per file)."""
    batch = load_in_scope(
        session, actor, VerificationBatch, batch_id, action=Action.VERIFICATION_MANAGE, lock=True
    )
    sender = notify.current_sender()
    sent = failed = no_phone = 0
    items = session.scalars(
        select(VerificationItem).where(
            VerificationItem.batch_id == batch.id, VerificationItem.status == "validated"
        )
    ).all()
    for item in items:
        customer = session.get(Customer, item.customer_id)
        assert customer is not None  # noqa: S101 - a foreign key
        phone = next((c.get("phone") for c in customer.contacts or [] if c.get("phone")), None)
        if phone is None:
            item.sms_status = "no_phone"
            no_phone += 1
        else:
            fields = ", ".join(sorted(item.corrections or {})) or "no changes"
            text = (f"Fieldline: your electricity account {customer.account_number} was verified "
                    f"on site ({fields}). Reply N if anything is wrong.")  # fmt: skip
            ok = sender.send(str(phone), text)
            item.sms_status = "sent" if ok else "failed"
            sent, failed = sent + ok, failed + (not ok)
        item.sms_sent_at = utcnow()
        if item.sms_status == "sent":
            item.status = "confirmed"
    open_items = session.scalar(
        select(VerificationItem.id)
        .where(
            VerificationItem.batch_id == batch.id,
            VerificationItem.status.in_(["pending", "rejected", "checked"]),
        )
        .limit(1)
    )
    if open_items is None:
        batch.status, batch.closed_at = "closed", utcnow()
    session.flush()
    return {"sent": sent, "failed": failed, "no_phone": no_phone, "channel": sender.channel}


def report(session: Session, batch: VerificationBatch) -> dict[str, list[dict[str, Any]]]:
    """The batch's corrections and the data-quality change (tables for JSON, CSV, XLSX)."""
    items = session.scalars(
        select(VerificationItem)
        .where(VerificationItem.batch_id == batch.id)
        .order_by(VerificationItem.id)
    ).all()
    statuses = Counter(i.status for i in items)
    now_flags = []
    rows = []
    fields: Counter[str] = Counter()
    for item in items:
        customer = session.get(Customer, item.customer_id)
        assert customer is not None  # noqa: S101 - a foreign key
        after = file_flags(session, customer)
        now_flags.append(after)
        if item.status in ("validated", "confirmed"):
            fields.update(list(item.corrections or {}))
        rows.append({
            "account_number": customer.account_number, "status": item.status,
            "corrected": ", ".join(sorted(item.corrections or {})),
            "flags_before": ", ".join(item.flags_before or []), "flags_after": ", ".join(after),
            "versions": ", ".join(f"{v['entity']} v{v['version_no']}" for v in item.applied_versions or []),  # noqa: E501
            "sms": item.sms_status or "",
        })  # fmt: skip
    done = statuses["validated"] + statuses["confirmed"]
    summary = {
        "batch": batch.number, "name": batch.name, "files": len(items),
        **{status: statuses.get(status, 0) for status in
           ("pending", "checked", "rejected", "validated", "confirmed")},
        "progress": round(done / len(items), 4) if items else 1.0,
        "corrections": sum(fields.values()),
        "quality_before": batch.quality_before, "quality_after": quality(now_flags),
    }  # fmt: skip
    return {
        "summary": [summary],
        "items": rows,
        "fields": [{"field": f, "corrections": n} for f, n in sorted(fields.items())],
    }
