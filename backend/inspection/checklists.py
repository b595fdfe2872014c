"""Checklists per equipment type, as versioned data: a change appends the next version.

A task records the version it was planned with, so answers are always checked against the
items the inspector was shown, even after the checklist changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.db import utcnow
from backend.errors import NotFound, field_error
from backend.inspection.plan_models import ChecklistVersion

ITEM_KINDS = ("yes_no", "choice", "number", "text")

# Version 1 of each equipment type's checklist (written by the migration `1700_inspection_plans`).
# fmt: off
DEFAULTS: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "low_voltage_meter": ("Low-voltage metering point (表箱/计量装置)", [
        {"key": "seal_intact", "label": "Meter and box seals intact, numbers match the file", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "wiring_ok", "label": "No bypass or damaged wiring before the meter", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "meter_running", "label": "Meter running under load (not stuck, slow or stopped)", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "box_condition", "label": "Meter box condition", "kind": "choice", "choices": ["good", "worn", "damaged"], "required": True},  # noqa: E501
        {"key": "reading_kwh", "label": "Reading on the display (kWh)", "kind": "number", "required": False},  # noqa: E501
    ]),
    "distribution_room": ("Customer distribution room (配电室)", [
        {"key": "protection_ok", "label": "Protection relays tested and within date", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "earthing_ok", "label": "Earthing intact and measured", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "safety_tools", "label": "Insulated tools and signs present and tested", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "capacity_matches", "label": "Transformer capacity matches the contract", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "housekeeping", "label": "Room condition", "kind": "choice", "choices": ["good", "fair", "poor"], "required": False},  # noqa: E501
    ]),
    "hv_metering": ("High-voltage metering unit (高压计量)", [
        {"key": "seal_intact", "label": "Seals intact, numbers match the file", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "ct_pt_ok", "label": "CT/PT wiring and ratios as on file", "kind": "yes_no", "required": True},  # noqa: E501
        {"key": "phase_sequence", "label": "Phase sequence correct", "kind": "yes_no", "required": True},  # noqa: E501
    ]),
}
# fmt: on


def latest(session: Session, equipment_type: str) -> ChecklistVersion:
    """Return the newest version of a type's checklist (422 on the field when none exists)."""
    found = session.scalar(
        select(ChecklistVersion)
        .where(ChecklistVersion.equipment_type == equipment_type)
        .order_by(ChecklistVersion.version.desc())
        .limit(1)
    )
    if found is None:
        raise field_error("equipment_type", f"No checklist for equipment type {equipment_type!r}.")
    return found


def version_of(session: Session, equipment_type: str, version: int) -> ChecklistVersion:
    """Return one version of a type's checklist."""
    found = session.scalar(
        select(ChecklistVersion).where(
            ChecklistVersion.equipment_type == equipment_type, ChecklistVersion.version == version
        )
    )
    if found is None:
        raise NotFound(f"Checklist {equipment_type} version {version} does not exist.")
    return found


def all_latest(session: Session) -> list[ChecklistVersion]:
    """Return the newest version of every type's checklist."""
    newest = (
        select(ChecklistVersion.equipment_type, func.max(ChecklistVersion.version).label("v"))
        .group_by(ChecklistVersion.equipment_type)
        .subquery()
    )
    return list(
        session.scalars(
            select(ChecklistVersion)
            .join(
                newest,
                (newest.c.equipment_type == ChecklistVersion.equipment_type)
                & (newest.c.v == ChecklistVersion.version),
            )
            .order_by(ChecklistVersion.equipment_type)
        )
    )


def publish(
    *, session: Session, actor: Actor, equipment_type: str, data: dict[str, Any]
) -> ChecklistVersion:
    """Append the next version of a type's checklist (tasks already planned keep theirs)."""
    authorize(actor, Action.PLAN_MANAGE)
    keys = [item["key"] for item in data["items"]]
    if len(set(keys)) != len(keys):
        raise field_error("items", "Item keys must be unique.")
    for item in data["items"]:
        if item["kind"] == "choice" and not item.get("choices"):
            raise field_error("items", f"{item['key']}: a choice item lists its choices.")
    current = session.scalar(
        select(func.max(ChecklistVersion.version)).where(
            ChecklistVersion.equipment_type == equipment_type
        )
    )
    row = ChecklistVersion(
        equipment_type=equipment_type, version=(current or 0) + 1, title=data["title"],
        items=data["items"], created_by=actor.audit_name, created_at=utcnow(),
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row


def answer_problems(checklist: ChecklistVersion, answers: dict[str, Any]) -> list[str]:
    """Return what is wrong with answers to this version: unknown items, wrong kinds."""
    items = {item["key"]: item for item in checklist.items}
    problems = []
    for key, value in answers.items():
        item = items.get(key)
        if item is None:
            problems.append(
                f"{key!r} is not an item of checklist {checklist.equipment_type} "
                f"v{checklist.version}"
            )
            continue
        kind = item["kind"]
        if value is None:
            continue
        if kind == "yes_no" and not isinstance(value, bool):
            problems.append(f"{key}: answer true or false")
        elif kind == "choice" and value not in item.get("choices", []):
            problems.append(f"{key}: one of {', '.join(item.get('choices', []))}")
        elif kind == "number" and not _is_number(value):
            problems.append(f"{key}: a number")
        elif kind == "text" and not isinstance(value, str):
            problems.append(f"{key}: text")
    return problems


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def unanswered(checklist: ChecklistVersion, answers: dict[str, Any]) -> list[str]:
    """Return the required items without an answer."""
    return [
        item["key"]
        for item in checklist.items
        if item.get("required") and answers.get(item["key"]) is None
    ]
