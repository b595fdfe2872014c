"""Hazards found on inspections, the notice to the customer and the follow-up inspection.

Recorded on site, then a notice with a rectification deadline, a follow-up inspection task
due at the deadline, then the outcome.

open → notified (notice served, follow-up task planned) → rectified | unrectified
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from backend.archive.records import Premise
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, department_filter, in_scope, load_in_scope
from backend.auth.sync_access import refuse_foreign_blob
from backend.db import utcnow
from backend.errors import InvalidTransition, field_error
from backend.inspection import plans
from backend.inspection.models import Inspection
from backend.inspection.plan_models import Hazard, InspectionTask

SEVERITIES = ("low", "medium", "high", "critical")
CATEGORIES = (
    "exposed_live_parts", "no_earthing", "overloaded", "illegal_connection", "meter_tampering",
    "fire_risk", "protection_missing", "other",
)  # fmt: skip
RESOLUTIONS = ("rectified", "unrectified")


def new_number(now: datetime, record_id: uuid.UUID, prefix: str = "HZ") -> str:
    """A readable number: prefix, day, and the start of the id."""
    return f"{prefix}-{now:%Y%m%d}-{record_id.hex[:8].upper()}"


def resolve_site(
    session: Session, actor: Actor, values: dict[str, Any]
) -> tuple[Premise, Inspection | None, InspectionTask | None]:
    """Find the hazard's premise from its inspection, task or premise (all in scope)."""
    inspection = task = None
    if values.get("inspection_id") is not None:
        inspection = session.get(Inspection, uuid.UUID(str(values["inspection_id"])))
        if inspection is None or not in_scope(session, actor, inspection):
            raise field_error("inspection_id", "No inspection with this id in your scope.")
    if values.get("task_id") is not None:
        task = session.get(InspectionTask, uuid.UUID(str(values["task_id"])))
        if task is None or not plans.may_work(actor, task):
            raise field_error("task_id", "No task of yours with this id.")
    premise_id = values.get("premise_id") or (
        inspection.premise_id if inspection is not None else None
    ) or (task.premise_id if task is not None else None)  # fmt: skip
    if premise_id is None:
        raise field_error("premise_id", "A hazard names its premise, inspection or task.")
    premise = session.get(Premise, uuid.UUID(str(premise_id)))
    if premise is None or not in_scope(session, actor, premise):
        raise field_error("premise_id", "No premise with this id in your scope.")
    for linked in (inspection, task):
        if linked is not None and linked.premise_id not in (None, premise.id):
            raise field_error("premise_id", "The inspection or task was at another premise.")
    return premise, inspection, task


def check_hazard(values: dict[str, Any]) -> None:
    """A hazard has a severity and a category from the lists, and a description."""
    if values.get("severity") not in SEVERITIES:
        raise field_error("severity", f"One of {', '.join(SEVERITIES)}.")
    if values.get("category") not in CATEGORIES:
        raise field_error("category", f"One of {', '.join(CATEGORIES)}.")
    if not str(values.get("description") or "").strip():
        raise field_error("description", "Describe the hazard.")
    if values.get("severity") in ("high", "critical") and not values.get("photo_sha256"):
        raise field_error("photo_sha256", "A high or critical hazard needs a photo.")


def record_hazard(
    *, session: Session, actor: Actor, data: dict[str, Any], hazard_id: uuid.UUID | None = None,
    department_id: int | None = None, crew_id: int | None = None,
    occurred_at: datetime | None = None,
) -> Hazard:  # fmt: skip
    """Record a hazard found on site (REST and sync pushes both come here)."""
    authorize(actor, Action.TASK_WORK)
    check_hazard(data)
    premise, inspection, task = resolve_site(session, actor, data)
    refuse_foreign_blob(session, actor, data.get("photo_sha256"), "photo_sha256")
    now = utcnow()
    record_id = hazard_id or uuid.uuid4()
    hazard = Hazard(
        id=record_id, number=new_number(now, record_id),
        department_id=department_id or premise.department_id, crew_id=crew_id,
        created_by=actor.audit_name, occurred_at=occurred_at or now, recorded_at=now,
        inspection_id=None if inspection is None else inspection.id,
        task_id=None if task is None else task.id, premise_id=premise.id,
        customer_id=premise.customer_id, severity=data["severity"], category=data["category"],
        description=data["description"], photo_sha256=data.get("photo_sha256"),
        lat=data.get("lat"), lon=data.get("lon"), reading=data.get("reading"), status="open",
    )  # fmt: skip
    session.add(hazard)
    session.flush()
    return hazard


def find_hazards(*, actor: Actor, filters: dict[str, Any]) -> Select[tuple[Hazard]]:
    """Select hazards of the actor's departments, newest first."""
    authorize(actor, Action.PLAN_READ)
    query = select(Hazard).where(
        Hazard.department_id.in_(department_filter(actor)), Hazard.deleted.is_(False)
    )
    for name in ("status", "severity", "premise_id", "customer_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(Hazard, name) == filters[name])
    return query.order_by(Hazard.occurred_at.desc(), Hazard.id)


def serve_notice(
    *, session: Session, actor: Actor, hazard_id: uuid.UUID, rectify_by: datetime,
    notes: str | None = None,
) -> Hazard:  # fmt: skip
    """Serve the customer a hazard notice with a deadline; plan the follow-up inspection."""
    hazard = load_in_scope(
        session, actor, Hazard, hazard_id, action=Action.HAZARD_NOTICE, lock=True
    )
    if hazard.status != "open":
        raise InvalidTransition(
            f"Hazard {hazard.number} is {hazard.status}; a notice is served once.",
            current_state=hazard.status,
        )
    now = utcnow()
    if rectify_by <= now:
        raise field_error("rectify_by", "The rectification deadline lies ahead.")
    premise = session.get(Premise, hazard.premise_id)
    assert premise is not None  # noqa: S101 - a foreign key
    inspector = plans.inspector_for(session, hazard.department_id, preferred=actor.audit_name)
    if inspector is None:
        raise field_error("hazard_id", "No inspector covers the hazard's department.")
    source = session.get(InspectionTask, hazard.task_id) if hazard.task_id else None
    task = plans.new_task(
        session, premise=premise, inspector_id=inspector, due_at=rectify_by,
        equipment_type=source.equipment_type if source else plans.DEFAULT_EQUIPMENT,
        kind="special", reason="hazard_follow_up", hazard_id=hazard.id,
        note=f"Follow-up of hazard {hazard.number}: {hazard.description}"[:4000],
    )  # fmt: skip
    hazard.status, hazard.rectify_by = "notified", rectify_by
    hazard.notice_number = new_number(now, hazard.id, prefix="HN")
    hazard.notice_served_at, hazard.notice_served_by = now, actor.audit_name
    hazard.follow_up_task_id = task.id
    if notes:
        task.note = f"{task.note}\n{notes}"[:4000]
    session.flush()
    return hazard


def resolve(*, session: Session, actor: Actor, hazard_id: uuid.UUID, resolution: str) -> Hazard:
    """Record the follow-up's outcome: rectified, or not (the hazard stays on record)."""
    hazard = load_in_scope(
        session, actor, Hazard, hazard_id, action=Action.HAZARD_NOTICE, lock=True
    )
    if hazard.status != "notified":
        raise InvalidTransition(
            f"Hazard {hazard.number} is {hazard.status}; serve a notice first.",
            current_state=hazard.status,
        )
    hazard.status, hazard.resolution = resolution, resolution
    hazard.resolved_at, hazard.resolved_by = utcnow(), actor.audit_name
    session.flush()
    return hazard
