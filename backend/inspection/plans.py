"""Inspection plans and their tasks: periodic by customer class and voltage, special on demand.

A periodic plan generates, for each matching premise, a task due `due_days` ahead unless the
premise has an open task of the plan or was inspected within `interval_days`; a special plan
(campaign, complaint, meter anomaly) covers its listed customers once. Tasks go to the plan's
inspectors in turn. Generation is derived from the database, so running it twice adds nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from backend.archive.records import Customer, Meter, Premise
from backend.auth.actor import Actor, visible_departments
from backend.auth.models import User
from backend.auth.policy import (
    Action,
    authorize,
    can,
    department_filter,
    holders,
    load_in_scope,
)
from backend.db import utcnow
from backend.errors import Conflict, OutOfScope, field_error
from backend.inspection import checklists
from backend.inspection.models import Inspection
from backend.inspection.plan_models import InspectionPlan, InspectionTask
from backend.network.models import CustomerFlag
from backend.org.models import Department
from sync.changes import insert_new_records

OPEN_TASK = ("open", "in_progress")
# The checklist a meter type is inspected with when the system raises a task itself.
EQUIPMENT_OF_METER = {"hv_metering": "hv_metering", "ct_operated": "hv_metering"}
DEFAULT_EQUIPMENT = "low_voltage_meter"


def _inspectors(session: Session, actor: Actor, ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(ids))
    found = session.scalars(
        select(User.id).where(
            User.id.in_(wanted), User.role.in_(holders(Action.TASK_ASSIGNEE)),
            User.active.is_(True),
            User.department_id.in_(visible_departments(actor)),
        )
    ).all()  # fmt: skip
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise field_error("inspector_ids", f"Not inspectors in your scope: {missing}.")
    return wanted


def create_plan(*, session: Session, actor: Actor, data: dict[str, Any]) -> InspectionPlan:
    """Create a periodic or special plan (its checklist type must exist)."""
    authorize(actor, Action.PLAN_MANAGE)
    department = load_in_scope(session, actor, Department, data["department_id"])
    checklists.latest(session, data["equipment_type"])
    if data["kind"] == "periodic" and not data.get("interval_days"):
        raise field_error("interval_days", "A periodic plan says how often (days).")
    if data["kind"] == "special" and not data.get("reason"):
        raise field_error("reason", "A special plan says why (campaign, complaint, ...).")
    if data["kind"] == "special" and not data.get("customer_ids"):
        raise field_error("customer_ids", "A special plan lists its customers.")
    if data["kind"] == "periodic" and data.get("reason"):
        raise field_error("reason", "Only special plans have a reason.")
    customer_ids = [str(c) for c in data.get("customer_ids") or []]
    for raw in customer_ids:
        customer = session.get(Customer, uuid.UUID(raw))
        if customer is None or not _owned_by(session, customer, department):
            raise field_error("customer_ids", f"No customer {raw} in the plan's department.")
    plan = InspectionPlan(
        name=data["name"], kind=data["kind"], reason=data.get("reason"),
        department_id=department.id, customer_types=data.get("customer_types") or [],
        voltage_levels=data.get("voltage_levels") or [],
        important_only=bool(data.get("important_only")), customer_ids=customer_ids,
        interval_days=data.get("interval_days"), due_days=data["due_days"],
        equipment_type=data["equipment_type"],
        inspector_ids=_inspectors(session, actor, data["inspector_ids"]),
        created_by=actor.audit_name, created_at=utcnow(),
    )  # fmt: skip
    session.add(plan)
    session.flush()
    return plan


def _owned_by(session: Session, customer: Customer, department: Department) -> bool:
    owner = session.get(Department, customer.department_id)
    return owner is not None and owner.path.startswith(department.path)


def find_plans(*, actor: Actor) -> Select[tuple[InspectionPlan]]:
    """Select the plans of the actor's departments."""
    authorize(actor, Action.PLAN_READ)
    return (
        select(InspectionPlan)
        .where(InspectionPlan.department_id.in_(department_filter(actor)))
        .order_by(InspectionPlan.created_at.desc(), InspectionPlan.id)
    )


def _candidates(session: Session, plan: InspectionPlan, now: datetime) -> Select[Any]:
    """One query: the premises the plan covers, each with its meter and whether it is skipped.

    Skipped: a special plan's premise that has any task of the plan (it is covered once); a
    periodic plan's premise with an open task of the plan, or one inspected (a task done)
    within the plan's interval.
    """
    department = session.get(Department, plan.department_id)
    assert department is not None  # noqa: S101 - a foreign key
    subtree = select(Department.id).where(Department.path.startswith(department.path))
    of_plan = select(InspectionTask.id).where(
        InspectionTask.plan_id == plan.id, InspectionTask.premise_id == Premise.id
    )
    if plan.kind == "special":
        skip = of_plan.exists()
    else:
        since = now - timedelta(days=plan.interval_days or 0)
        recent = select(InspectionTask.id).where(
            InspectionTask.premise_id == Premise.id, InspectionTask.status == "done",
            InspectionTask.completed_at >= since,
        )  # fmt: skip
        skip = or_(of_plan.where(InspectionTask.status.in_(OPEN_TASK)).exists(), recent.exists())
    meter = (
        select(Meter.id)
        .where(Meter.premise_id == Premise.id)
        .order_by(Meter.number)
        .limit(1)
        .scalar_subquery()
    )
    query = (
        select(Premise.id, Premise.customer_id, Premise.department_id, meter, skip)
        .join(Customer, Customer.id == Premise.customer_id)
        .where(
            Customer.status == "active",
            Premise.status == "active",
            Customer.department_id.in_(subtree),
        )  # fmt: skip
        .order_by(Customer.account_number, Premise.id)
    )
    if plan.kind == "special":
        query = query.where(Customer.id.in_([uuid.UUID(c) for c in plan.customer_ids]))
    if plan.customer_types:
        query = query.where(Customer.customer_type.in_(plan.customer_types))
    if plan.voltage_levels:
        query = query.where(Customer.voltage_level.in_(plan.voltage_levels))
    if plan.important_only:
        important = select(CustomerFlag.customer_id).where(CustomerFlag.important.is_(True))
        query = query.where(Customer.id.in_(important))
    return query


def _open_for_plan(session: Session, plan: InspectionPlan) -> int:
    found = session.scalar(
        select(func.count(InspectionTask.id)).where(
            InspectionTask.plan_id == plan.id, InspectionTask.status.in_(OPEN_TASK)
        )
    )
    return int(found or 0)


def task_number(task_id: uuid.UUID, now: datetime) -> str:
    """A task's number: the day and 48 bits of its id (unique across a 100k-task plan)."""
    return f"IT-{now:%Y%m%d}-{task_id.hex[:12].upper()}"


def _meter(session: Session, premise_id: uuid.UUID) -> Meter | None:
    return session.scalar(
        select(Meter).where(Meter.premise_id == premise_id).order_by(Meter.number).limit(1)
    )


def new_task(
    session: Session, *, premise: Premise, inspector_id: int, due_at: datetime,
    equipment_type: str, kind: str, reason: str | None = None,
    plan: InspectionPlan | None = None, **links: Any,
) -> InspectionTask:  # fmt: skip
    """Add one task for an inspector at a premise, with the checklist version of today."""
    checklist = checklists.latest(session, equipment_type)
    meter = _meter(session, premise.id)
    task_id = uuid.uuid4()
    task = InspectionTask(
        id=task_id, number=task_number(task_id, utcnow()),
        plan_id=None if plan is None else plan.id, kind=kind, reason=reason,
        department_id=premise.department_id, inspector_id=inspector_id,
        customer_id=premise.customer_id, premise_id=premise.id,
        meter_id=None if meter is None else meter.id, equipment_type=equipment_type,
        checklist_version=checklist.version, due_at=due_at, status="open",
        created_at=utcnow(), **links,
    )  # fmt: skip
    session.add(task)
    return task


# Generation inserts in chunks (bounded statements on both backends); the reply lists a sample.
CHUNK = 5000
SAMPLE = 100


def generate(
    *, session: Session, actor: Actor, plan_id: uuid.UUID, now: datetime | None = None
) -> dict[str, Any]:
    """Generate the plan's due tasks in bulk; return counts (`progress` is 1.0 when it answers).

    One query selects the premises (with their meter and whether they are skipped), one reads
    the checklist version; the tasks and their sync feed entries are inserted in bulk
    (`sync.changes.insert_new_records`: versions, field versions and `upsert` rows exactly as
    a flush would write them). `tasks` lists the first `SAMPLE` created; list them all at
    `GET /inspection-tasks?plan_id=`.
    """
    plan = load_in_scope(session, actor, InspectionPlan, plan_id, action=Action.PLAN_MANAGE)
    if not plan.active:
        raise Conflict(f"Plan {plan.name!r} is inactive.")
    now = now or utcnow()
    checklist = checklists.latest(session, plan.equipment_type)
    candidates = session.execute(_candidates(session, plan, now)).all()
    turn = _open_for_plan(session, plan)
    due_at = now + timedelta(days=plan.due_days)
    rows: list[dict[str, Any]] = []
    for premise_id, customer_id, department_id, meter_id, skipped in candidates:
        if skipped:
            continue
        inspector = plan.inspector_ids[turn % len(plan.inspector_ids)]
        turn += 1
        task_id = uuid.uuid4()
        rows.append({
            "id": task_id, "number": task_number(task_id, now), "plan_id": plan.id,
            "kind": plan.kind, "reason": plan.reason, "department_id": department_id,
            "inspector_id": inspector, "customer_id": customer_id, "premise_id": premise_id,
            "meter_id": meter_id, "equipment_type": plan.equipment_type,
            "checklist_version": checklist.version, "due_at": due_at, "status": "open",
            "inspection_id": None, "hazard_id": None, "anomaly_id": None, "note": None,
            "created_at": now, "completed_at": None, "deleted": False,
        })  # fmt: skip
    for start in range(0, len(rows), CHUNK):
        insert_new_records(session, InspectionTask, rows[start : start + CHUNK])
    plan.last_generated_at = now
    session.flush()
    return {
        "plan_id": plan.id,
        "premises": len(candidates),
        "created": len(rows),
        "skipped": len(candidates) - len(rows),
        "progress": 1.0,
        "tasks": rows[:SAMPLE],
    }


def find_tasks(*, actor: Actor, filters: dict[str, Any]) -> Select[tuple[InspectionTask]]:
    """Select tasks: an inspector's own; planners see their departments' (filters apply)."""
    authorize(actor, Action.PLAN_READ)
    query = select(InspectionTask).where(InspectionTask.department_id.in_(department_filter(actor)))
    if not can(actor, Action.TASK_READ_ALL):
        query = query.where(InspectionTask.inspector_id == actor.id)
    for name in ("status", "plan_id", "inspector_id", "kind", "premise_id"):
        if filters.get(name) is not None:
            query = query.where(getattr(InspectionTask, name) == filters[name])
    if filters.get("overdue"):
        query = query.where(InspectionTask.status.in_(OPEN_TASK), InspectionTask.due_at < utcnow())
    return query.order_by(InspectionTask.due_at, InspectionTask.id)


def may_work(actor: Actor, task: InspectionTask) -> bool:
    """The assigned inspector works a task; a supervisor or admin may stand in."""
    if actor.kind == "system":
        return True
    if actor.kind != "user" or not can(actor, Action.TASK_WORK):
        return False
    return task.inspector_id == actor.id or can(actor, Action.PLAN_MANAGE)


def get_task(*, session: Session, actor: Actor, task_id: uuid.UUID) -> InspectionTask:
    """Load a task the actor may read (an inspector: only their own)."""
    task = load_in_scope(session, actor, InspectionTask, task_id, action=Action.PLAN_READ)
    if not can(actor, Action.TASK_READ_ALL) and task.inspector_id != actor.id:
        raise OutOfScope("This task is another inspector's.")
    return task


def check_answers(session: Session, task: InspectionTask, answers: dict[str, Any]) -> list[str]:
    """Problems with answers for the task's checklist version (unknown items, kinds)."""
    checklist = checklists.version_of(session, task.equipment_type, task.checklist_version)
    return checklists.answer_problems(checklist, answers)


def missing_answers(session: Session, task: InspectionTask, answers: dict[str, Any]) -> list[str]:
    """Required items of the task's checklist not answered."""
    checklist = checklists.version_of(session, task.equipment_type, task.checklist_version)
    return checklists.unanswered(checklist, answers)


def task_follows(session: Session, task: InspectionTask, inspection: Inspection) -> None:
    """Move a task with its inspection: started when it exists, done when it is submitted."""
    if task.status not in OPEN_TASK:
        return
    if task.inspection_id is None:
        task.inspection_id = inspection.id
    if inspection.premise_id is None:
        inspection.premise_id = task.premise_id
    if inspection.customer_id is None:
        inspection.customer_id = task.customer_id
    if inspection.status in ("submitted", "closed"):
        task.status, task.completed_at = "done", utcnow()
    elif task.status == "open":
        task.status = "in_progress"


def submit_result(
    *, session: Session, actor: Actor, task_id: uuid.UUID, data: dict[str, Any]
) -> Inspection:
    """Record a task's result over REST: one submitted inspection.

    The answers are checked against the task's checklist version, as a synced one is.
    """
    task = load_in_scope(session, actor, InspectionTask, task_id, action=Action.TASK_WORK)
    if not may_work(actor, task):
        raise OutOfScope("This task is another inspector's.")
    if task.status not in OPEN_TASK:
        raise Conflict(f"Task {task.number} is {task.status}.")
    answers = data.get("checklist") or {}
    problems = check_answers(session, task, answers) or [
        f"{key}: required" for key in missing_answers(session, task, answers)
    ]
    if problems:
        raise field_error("checklist", "; ".join(problems))
    now = utcnow()
    inspection = Inspection(
        department_id=task.department_id, crew_id=None, created_by=actor.audit_name,
        occurred_at=now, recorded_at=now, status="submitted", result=data.get("result"),
        checklist=answers, notes=data.get("notes"), premise_id=task.premise_id,
        customer_id=task.customer_id, task_id=task.id,
    )  # fmt: skip
    session.add(inspection)
    session.flush()
    task_follows(session, task, inspection)
    session.flush()
    return inspection


def inspector_for(session: Session, department_id: int, preferred: str | None = None) -> int | None:
    """Who gets a task the system raises.

    `preferred` (an audit name) if it is an inspector who sees the department, else the first
    inspector of the department or above it.
    """
    department = session.get(Department, department_id)
    if department is None:
        return None
    candidates = session.execute(
        select(User.id, User.username, Department.path)
        .join(Department, Department.id == User.department_id)
        .where(User.role.in_(holders(Action.TASK_ASSIGNEE)), User.active.is_(True))
        .order_by(User.id)
    ).all()
    eligible = [(uid, name) for uid, name, path in candidates if department.path.startswith(path)]
    if preferred is not None:
        for uid, name in eligible:
            if preferred == f"user:{uid}:{name}":
                return int(uid)
    return int(eligible[0][0]) if eligible else None


def cancel_task(
    *, session: Session, actor: Actor, task_id: uuid.UUID, reason: str
) -> InspectionTask:
    """Cancel an open task (a planner's decision, with a reason kept on the task)."""
    task = load_in_scope(session, actor, InspectionTask, task_id, action=Action.PLAN_MANAGE)
    if task.status not in OPEN_TASK:
        raise Conflict(f"Task {task.number} is {task.status}.")
    if not reason.strip():
        raise field_error("reason", "A cancellation needs a reason.")
    task.status, task.note = "cancelled", f"cancelled: {reason.strip()}"
    session.flush()
    return task
