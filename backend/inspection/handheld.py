"""The inspection domain on handhelds: what its sync adapters (`sync_adapters`) call.

Pulls: an inspector's tasks (with premise, meter, last readings and the checklist version),
hazards, cases and verification items of their scope. Pushes: inspections carrying out a
task (answers checked against the task's checklist version), hazards, meter seal and fault
events, case steps and field-verification corrections — each through the same service as
REST, so the policy, the procedure and the evidence gate decide alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import object_session

from backend.archive.handheld import visible as archive_visible
from backend.archive.records import Customer, Meter, Premise
from backend.archive.versions import plain
from backend.archive.vocab import Source
from backend.auth import policy
from backend.auth.actor import Actor
from backend.errors import Conflict, Forbidden, InvalidTransition, NotFound, Problem
from backend.inspection import (
    case_service,
    checklists,
    evidence,
    hazards,
    meter_field,
    plans,
    procedure,
    verification,
)
from backend.inspection.cases import CaseStep, CaseStepPush, InspectionCase
from backend.inspection.meter_models import MeterEvent
from backend.inspection.models import Inspection, MeterReading
from backend.inspection.plan_models import Hazard, InspectionTask
from backend.inspection.verification_models import VerificationItem
from sync.entities import RejectionError
from sync.protocol import RejectReason, format_time
from sync.registry import SyncActor


def _caller(actor: SyncActor) -> Actor:
    assert isinstance(actor.origin, Actor)  # noqa: S101 - sync_access always sets it
    return actor.origin


def rejection(exc: Problem) -> RejectionError:
    """A service's problem as a sync verdict."""
    if isinstance(exc, Forbidden):
        return RejectionError(RejectReason.OUT_OF_SCOPE, exc.detail)
    if isinstance(exc, NotFound):
        return RejectionError(RejectReason.NOT_FOUND, exc.detail)
    if isinstance(exc, InvalidTransition | Conflict):
        return RejectionError(RejectReason.SERVER_STATE, exc.detail)
    errors = exc.extensions.get("errors") or []
    named = "; ".join(f"{e['field']}: {' '.join(e['messages'])}" for e in errors)
    return RejectionError(RejectReason.INVALID_VALUE, named or exc.detail)


def _in_departments(
    actor: SyncActor, records: Sequence[Any], action: policy.Action
) -> set[uuid.UUID]:
    if actor.kind != "user" or not policy.can(_caller(actor), action):
        return set()
    return {r.id for r in records if r.department_id in actor.department_ids}


# --- tasks -------------------------------------------------------------------------------


def task_fields(task: InspectionTask) -> dict[str, object]:
    """What the inspector's handheld shows of a task: enough to work offline at the meter."""
    session = object_session(task)
    assert session is not None  # noqa: S101 - read from a loaded record
    premise = session.get(Premise, task.premise_id)
    customer = session.get(Customer, task.customer_id)
    meter = session.get(Meter, task.meter_id) if task.meter_id else None
    readings = []
    if meter is not None:
        readings = [
            {"value": r.value, "read_at": format_time(r.read_at), "source": r.source}
            for r in session.scalars(
                select(MeterReading)
                .where(MeterReading.meter_id == meter.id, MeterReading.deleted.is_(False))
                .order_by(MeterReading.read_at.desc())
                .limit(3)
            )
        ]
    checklist = checklists.version_of(session, task.equipment_type, task.checklist_version)
    return {
        "number": task.number,
        "kind": task.kind,
        "reason": task.reason,
        "status": task.status,
        "due_at": format_time(task.due_at),
        "customer_id": str(task.customer_id),
        "customer_name": None if customer is None else customer.name,
        "premise_id": str(task.premise_id),
        "address": None if premise is None else premise.address,
        "location": None if premise is None else plain(premise.location),
        "meter_id": None if meter is None else str(meter.id),
        "meter_number": None if meter is None else meter.number,
        "last_readings": readings,
        "equipment_type": task.equipment_type,
        "checklist_version": task.checklist_version,
        "checklist_items": list(checklist.items),
        "inspection_id": None if task.inspection_id is None else str(task.inspection_id),
        "hazard_id": None if task.hazard_id is None else str(task.hazard_id),
        "note": task.note,
    }


def tasks_visible(session: Any, actor: SyncActor, records: Sequence[Any]) -> set[uuid.UUID]:
    """An inspector pulls their own tasks; whoever reads all tasks, the departments' (as REST)."""
    own = {r.id for r in records if actor.kind == "user" and r.inspector_id == _caller(actor).id}
    return own | _in_departments(actor, records, policy.Action.TASK_READ_ALL)


# --- inspections carrying out a task -----------------------------------------------------


def authorize_inspection(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """An inspection naming a task: the caller's task, its premise, its checklist version."""
    raw = values.get("task_id") if record is None else record.task_id
    if raw is None:
        return None
    task = session.get(InspectionTask, uuid.UUID(str(raw)))
    if task is None or not plans.may_work(_caller(actor), task):
        return f"task {raw} is not yours"
    if record is None and task.status not in plans.OPEN_TASK:
        raise RejectionError(RejectReason.SERVER_STATE, f"task {task.number} is {task.status}")
    premise = values.get("premise_id")
    if premise is not None and uuid.UUID(str(premise)) != task.premise_id:
        return f"task {task.number} is at premise {task.premise_id}, not {premise}"
    patch = values.get("checklist")
    answers = dict(patch) if isinstance(patch, Mapping) else {}
    problems = plans.check_answers(session, task, answers)
    if problems:
        raise RejectionError(RejectReason.INVALID_VALUE, "; ".join(problems))
    if values.get("status") in ("submitted", "closed"):
        held = {**((record.checklist or {}) if record is not None else {}), **answers}
        missing = plans.missing_answers(session, task, held)
        if missing:
            detail = f"required checklist items unanswered: {', '.join(missing)}"
            raise RejectionError(RejectReason.INVALID_VALUE, detail)
    return None


def inspection_written(session: Any, actor: SyncActor, inspection: Inspection) -> None:
    """Move the task with its inspection (started, done when submitted)."""
    if inspection.task_id is None:
        return
    task = session.get(InspectionTask, inspection.task_id)
    if task is not None:
        plans.task_follows(session, task, inspection)


# --- hazards -----------------------------------------------------------------------------


def create_hazard(
    session: Any, actor: SyncActor, record_id: uuid.UUID, values: Mapping[str, object],
    correction: timedelta,
) -> Hazard:  # fmt: skip
    """Record a pushed hazard through the hazard service."""
    try:
        return hazards.record_hazard(
            session=session, actor=_caller(actor), data=dict(values), hazard_id=record_id,
            crew_id=actor.crew_id,
        )  # fmt: skip
    except Problem as exc:
        raise rejection(exc) from exc


def captured_visible(session: Any, actor: SyncActor, records: Sequence[Any]) -> set[uuid.UUID]:
    """Hazards and meter events: whoever captured them, and inspection staff of the department.

    Not every crew member of the station: they are the inspectors' records.
    """
    own = {r.id for r in records if r.created_by == actor.name}
    return own | _in_departments(actor, records, policy.Action.PLAN_READ)


# --- meter events ------------------------------------------------------------------------


def authorize_meter_event(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """A seal or fault event of a meter the caller works at, that fits the meter's state."""
    meter = session.get(Meter, uuid.UUID(str(values["meter_id"])))
    if meter is None:
        return f"meter {values['meter_id']} is not in the customer archive"
    if meter.id not in archive_visible(session, actor, [meter]):
        return f"meter {values['meter_id']} is outside your scope"  # the id it sent, no number
    seal, fault = values.get("seal_number"), values.get("fault")
    try:
        meter_field.meter_changes(
            session,
            _caller(actor),
            meter,
            str(values["kind"]),
            seal and str(seal),
            fault and str(fault),
        )  # type: ignore[arg-type]  # noqa: E501
    except Problem as exc:
        raise rejection(exc) from exc
    return None


def meter_event_written(session: Any, actor: SyncActor, event: MeterEvent) -> None:
    """Move the meter to its next version (source `sync`)."""
    meter = session.get(Meter, event.meter_id)
    if meter is not None:
        event.department_id = meter.department_id
    meter_field.apply_event(session, _caller(actor), event, source=Source.SYNC)


def reading_written(session: Any, actor: SyncActor, reading: MeterReading) -> None:
    """A photographed manual reading is reconciled with the remote ones at once."""
    if not meter_field.reconciles_on_arrival(reading):
        return  # most readings: nothing to reconcile, so no rules to read from the config
    meter_field.reading_arrived(
        session, reading, meter_field.ReconcileRules.from_config(current_app.config)
    )


# --- cases -------------------------------------------------------------------------------


def case_fields(case: InspectionCase) -> dict[str, object]:
    """What a handheld shows of a case: the step due and its lawful-procedure items."""
    step = procedure.BY_NAME.get(case.stage)
    return {
        "number": case.number,
        "kind": case.kind,
        "customer_id": str(case.customer_id),
        "premise_id": str(case.premise_id),
        "inspection_id": None if case.inspection_id is None else str(case.inspection_id),
        "summary": case.summary,
        "stage": case.stage,
        "awaiting_approval": case.awaiting_approval,
        "stage_due_at": None if step is None else format_time(case.stage_due_at),
        "outcome": case.outcome,
        "pending_items": [] if step is None else [
            {"key": i.key, "label": i.label, "choices": list(i.choices), "required": i.required}
            for i in step.items
        ],
    }  # fmt: skip


def cases_visible(session: Any, actor: SyncActor, records: Sequence[Any]) -> set[uuid.UUID]:
    """Cases (and their pushed steps) reach whoever may read cases in the department."""
    return _in_departments(actor, records, policy.Action.CASE_READ)


def create_case_step(
    session: Any, actor: SyncActor, record_id: uuid.UUID, values: Mapping[str, object],
    correction: timedelta,
) -> CaseStepPush:  # fmt: skip
    """Complete the case's step through the case service (order, checklist, evidence gate)."""
    case_id = uuid.UUID(str(values["case_id"]))
    data = {
        "step": values["step"],
        "checklist": dict(values.get("checklist") or {}),  # type: ignore[call-overload]
        "notes": values.get("notes"),
        "outcome": values.get("outcome"),
        "back_billing_amount": _money(values.get("back_billing_amount")),
        "recovered_amount": _money(values.get("recovered_amount")),
        "actions": list(values.get("actions") or []),  # type: ignore[call-overload]
    }
    if data["step"] not in procedure.ORDER:
        detail = f"step must be one of {', '.join(procedure.ORDER)}"
        raise RejectionError(RejectReason.INVALID_VALUE, detail)
    try:
        case = case_service.complete_step(
            session=session, actor=_caller(actor), case_id=case_id, data=data,
            rules=evidence.EvidenceRules.from_config(current_app.config),
        )  # fmt: skip
    except Problem as exc:
        raise rejection(exc) from exc
    step_id = session.scalar(
        select(CaseStep.id).where(CaseStep.case_id == case.id).order_by(CaseStep.id.desc()).limit(1)
    )
    push = CaseStepPush(
        id=record_id, department_id=case.department_id, crew_id=None, created_by=actor.name,
        case_id=case.id, step=str(values["step"]), checklist=data["checklist"],
        notes=data["notes"], outcome=data["outcome"],
        back_billing_amount=values.get("back_billing_amount"),
        recovered_amount=values.get("recovered_amount"), actions=data["actions"], step_id=step_id,
    )  # fmt: skip
    session.add(push)
    return push


def _money(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


# --- field verification ------------------------------------------------------------------


def items_visible(session: Any, actor: SyncActor, records: Sequence[Any]) -> set[uuid.UUID]:
    """A file to verify reaches its assignee; managers and reviewers see their departments'."""
    own = {r.id for r in records if actor.kind == "user" and r.assignee_id == _caller(actor).id}
    return (
        own
        | _in_departments(actor, records, policy.Action.VERIFICATION_MANAGE)
        | _in_departments(actor, records, policy.Action.VERIFICATION_REVIEW)
    )


def update_item(
    session: Any, actor: SyncActor, item: VerificationItem, values: Mapping[str, object],
    mutation_id: uuid.UUID, occurred: Any,
) -> None:  # fmt: skip
    """Corrections and the `checked` move go through the verification service's rules."""
    try:
        verification.check_item(session=session, actor=_caller(actor), item=item, values=values)
    except Problem as exc:
        raise rejection(exc) from exc
