"""The one authorization policy: which role may do what (actions), and on which records (scopes).

Every door asks here — REST routes (`requires(Action.X)` checks the token), the services
behind them (`authorize`, `load_in_scope`), the sync adapters, the tracking ingest and the
SSE streams — so a rule changes in one place. To add a permission: add an `Action` member and
its `Rule` in `RULES` (the README table and the authorization matrix test read them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.models import Device, User
from backend.auth.roles import Role
from backend.dispatch.models import Alert, WorkOrder
from backend.errors import Forbidden, NotFound, OutOfScope
from backend.org.models import Crew, Department, Vehicle

__all__ = [
    "RULES",
    "SYNC_ACTIONS",
    "SYNC_READ_ACTIONS",
    "Action",
    "Role",
    "Rule",
    "authorize",
    "can",
    "holders",
    "crew_bound",
    "department_filter",
    "field_record_filter",
    "holds_order",
    "in_scope",
    "is_own_crew",
    "network_filter",
    "load_in_scope",
    "order_child_filter",
    "own_crews",
    "order_filter",
    "sees_crew",
    "sees_department",
    "sees_network",
    "sees_order",
    "sees_vehicle",
    "sync_action",
]


class Action(StrEnum):
    """Something a caller may be allowed to do; the value is a stable slug."""

    # Own session: whoever holds a valid token.
    SESSION = "session"
    # Any user token (no devices); the service decides the rest (archive, until its actions
    # move into this table).
    SIGNED_IN = "signed_in"
    # Users, devices (credentials) and the audit log.
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"
    DEVICE_READ = "device.read"
    DEVICE_MANAGE = "device.manage"
    AUDIT_READ = "audit.read"
    # Organisation.
    DEPARTMENT_READ = "department.read"
    DEPARTMENT_CREATE = "department.create"
    DEPARTMENT_UPDATE = "department.update"
    CREW_READ = "crew.read"
    CREW_MANAGE = "crew.manage"
    VEHICLE_READ = "vehicle.read"
    VEHICLE_MANAGE = "vehicle.manage"
    # Work orders.
    ORDER_READ = "order.read"
    ORDER_CREATE = "order.create"
    ORDER_ISSUE = "order.issue"
    REPAIR_CENTER_LIST = "order.repair_centers"
    ORDER_RECALL = "order.recall"
    ORDER_RECALL_FROM_CENTER = "order.recall_from_center"
    ORDER_ACCEPT = "order.accept"
    ORDER_DISPATCH = "order.dispatch"
    ORDER_RECALL_FROM_CREW = "order.recall_from_crew"
    CREW_POINT_REPORT = "order.crew_point.report"
    CREW_POINT_CORRECT = "order.crew_point.correct"
    FAULT_RECORD_WRITE = "order.fault_record.write"
    FAULT_RECORD_CORRECT = "order.fault_record.correct"
    ORDER_FOLLOW_UP = "order.follow_up"
    ORDER_CLOSE = "order.close"
    QUEUE_READ = "queue.read"
    QUEUE_REORDER = "queue.reorder"
    AVAILABILITY_READ = "availability.read"
    AVAILABILITY_SET = "availability.set"
    SLA_POLICY_READ = "sla_policy.read"
    SLA_POLICY_WRITE = "sla_policy.write"
    ALERT_READ = "alert.read"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    # Tracking and reports.
    TRACKING_READ = "tracking.read"
    METRICS_READ = "metrics.read"
    REPORT_READ = "report.read"
    # Offline sync and blobs.
    SYNC = "sync"
    ORDER_SYNC_UPDATE = "sync.work_order.update"
    FIELD_CAPTURE = "sync.field_capture"
    INSPECTION_EDIT = "sync.inspection.edit"
    CONFLICT_RESOLVE = "sync.conflict.resolve"
    FIELD_RECORD_READ = "field_record.read"
    FIELD_RECORD_READ_DEPARTMENT = "field_record.read_department"
    GPS_FIX_READ = "gps_fix.read"
    UPLOAD_BLOB = "blob.upload"
    READ_BLOB = "blob.read"
    # Network: lines, transformer areas, customer flags, region codes, outages.
    NETWORK_READ = "network.read"
    NETWORK_MANAGE = "network.manage"
    WATER_MANAGE = "network.water.manage"
    NETWORK_IMPORT = "network.import"
    CUSTOMER_FLAG_SET = "network.customer_flag.set"
    REGION_READ = "region.read"
    REGION_MANAGE = "region.manage"
    OUTAGE_READ = "outage.read"
    OUTAGE_MANAGE = "outage.manage"
    QUICK_QUERY = "network.quick_query"
    # Customer archive (field-level permissions: `backend.archive.access.FIELD_ACCESS`).
    ARCHIVE_READ = "archive.read"
    ARCHIVE_EDIT = "archive.edit"
    ARCHIVE_CLOSE = "archive.close"
    PREMISE_CORRECT = "archive.premise.correct"
    METER_EDIT = "archive.meter.edit"
    DOCUMENT_ATTACH = "archive.document.attach"
    ARCHIVE_IMPORT = "archive.import"
    ARCHIVE_EXPORT = "archive.export"
    ARCHIVE_CONFIGURE = "archive.configure"
    ARCHIVE_READ_REGION = "archive.read_region"
    ARCHIVE_IMPORT_READ_ALL = "archive.import.read_all"
    ARCHIVE_STEP_RECORD = "archive.step.record"
    ARCHIVE_DEADLINE_READ = "archive.deadline.read"
    ARCHIVE_ACCESS_REQUEST = "archive.access.request"
    ARCHIVE_ACCESS_READ = "archive.access.read"
    ARCHIVE_ACCESS_APPROVE_DEPARTMENT = "archive.access.approve_department"
    ARCHIVE_ACCESS_APPROVE_ARCHIVE = "archive.access.approve_archive"
    ARCHIVE_READ_LOG = "archive.read_log.read"
    ARCHIVE_LOAN_REQUEST = "archive.loan.request"
    ARCHIVE_LOAN_READ = "archive.loan.read"
    ARCHIVE_LOAN_APPROVE = "archive.loan.approve"
    ARCHIVE_LOAN_HANDLE = "archive.loan.handle"
    ARCHIVE_RETENTION_READ = "archive.retention.read"
    ARCHIVE_DESTRUCTION_PROPOSE = "archive.destruction.propose"
    ARCHIVE_DESTRUCTION_APPROVE = "archive.destruction.approve"
    ARCHIVE_LEGAL_HOLD = "archive.legal_hold"
    ARCHIVE_QUALITY_READ = "archive.quality.read"
    # Inspection cases (theft, violation) and the evidence gate.
    CASE_READ = "case.read"
    CASE_OPEN = "case.open"
    CASE_STEP = "case.step"
    CASE_APPROVE = "case.approve"
    EVIDENCE_OVERRIDE = "case.evidence_override"
    # Customer risk (credit data: readable only by these rules' roles, never crews or 95598).
    RISK_READ = "risk.read"
    RISK_ASSESS = "risk.assess"
    RISK_CONFIGURE = "risk.configure"
    RISK_BILLING_IMPORT = "risk.billing.import"
    RISK_LIMIT_SET = "risk.credit_limit.set"
    RISK_CLASSIFY = "risk.classify"
    RISK_LIST_MANAGE = "risk.list.manage"
    RISK_COLLECT = "risk.collect"
    RISK_VISIT_REPORT = "risk.visit.report"
    # Inspection plans, tasks, checklists, hazards, meters in the field, reports.
    PLAN_READ = "inspection.read"
    PLAN_MANAGE = "inspection.plan.manage"
    TASK_WORK = "inspection.task.work"
    TASK_ASSIGNEE = "inspection.task.assignee"
    TASK_READ_ALL = "inspection.task.read_all"
    HAZARD_NOTICE = "inspection.hazard.notice"
    METER_EVENT_RECORD = "inspection.meter_event.record"
    REMOTE_READING_IMPORT = "inspection.remote_readings.import"
    INSPECTION_REPORT_READ = "inspection.report.read"
    # Field verification of the archive (seed 003).
    VERIFICATION_READ = "verification.read"
    VERIFICATION_MANAGE = "verification.manage"
    VERIFICATION_WORK = "verification.work"
    VERIFICATION_REVIEW = "verification.review"


@dataclass(frozen=True)
class Rule:
    """Who may do one action: user roles, and whether device tokens may."""

    summary: str
    roles: frozenset[Role]
    devices: bool = False
    writes: bool = True

    def __post_init__(self) -> None:
        # The auditor is read-only by construction: no write rule may name it.
        if self.writes and Role.AUDITOR in self.roles:
            raise ValueError(f"{self.summary}: the auditor is read-only")


EVERYONE = frozenset(Role)
CALL = frozenset({Role.CALL_CENTER, Role.ADMIN})
CENTER = frozenset({Role.REPAIR_CENTER, Role.SUPERVISOR, Role.ADMIN})
WATCH = frozenset({Role.CALL_CENTER, Role.REPAIR_CENTER, Role.SUPERVISOR, Role.ADMIN})
FIELD = frozenset({Role.CREW})
FILES = frozenset({Role.ARCHIVIST, Role.SUPERVISOR, Role.ADMIN})
INSPECT = frozenset({Role.INSPECTOR, Role.SUPERVISOR, Role.ADMIN})
APPROVE = frozenset({Role.SUPERVISOR, Role.ADMIN})
CREDIT = frozenset({Role.COLLECTIONS, Role.KEY_ACCOUNT, Role.SUPERVISOR, Role.ADMIN})


def _read(summary: str, roles: frozenset[Role], *, devices: bool = False) -> Rule:
    return Rule(summary, roles, devices=devices, writes=False)


# fmt: off
RULES: Mapping[Action, Rule] = MappingProxyType({
    Action.SESSION: _read("refresh, log out, show your own account", EVERYONE, devices=True),
    Action.SIGNED_IN: _read("call endpoints whose service checks the action itself", EVERYONE),
    Action.USER_READ: _read("list and show users", frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR})),  # noqa: E501
    Action.USER_MANAGE: Rule("create and change users", frozenset({Role.ADMIN})),
    Action.DEVICE_READ: _read("list device credentials", CENTER | {Role.AUDITOR}),
    Action.DEVICE_MANAGE: Rule("register, disable and re-enable devices, rotate their secrets", frozenset({Role.ADMIN})),  # noqa: E501
    Action.AUDIT_READ: _read("read the audit log", frozenset({Role.AUDITOR, Role.ADMIN})),
    Action.DEPARTMENT_READ: _read("list and show departments", EVERYONE),
    Action.DEPARTMENT_CREATE: Rule("create departments", frozenset({Role.ADMIN})),
    Action.DEPARTMENT_UPDATE: Rule("change departments", frozenset({Role.ADMIN, Role.SUPERVISOR})),  # noqa: E501
    Action.CREW_READ: _read("list and show crews", EVERYONE),
    Action.CREW_MANAGE: Rule("create and change crews", CENTER),
    Action.VEHICLE_READ: _read("list and show vehicles", EVERYONE),
    Action.VEHICLE_MANAGE: Rule("register and change vehicles", CENTER),
    Action.ORDER_READ: _read("list and show work orders, their events and timeline", EVERYONE, devices=True),  # noqa: E501
    Action.ORDER_CREATE: Rule("take a repair call (A)", CALL),
    Action.ORDER_ISSUE: Rule("issue an order to a repair center (B, C)", CALL),
    Action.REPAIR_CENTER_LIST: _read("list the repair centers an order may go to", CALL | CENTER),
    Action.ORDER_RECALL: Rule("recall an order (from a center or a crew, below)", CALL | CENTER),
    Action.ORDER_RECALL_FROM_CENTER: Rule("recall an order from a repair center", CALL),
    Action.ORDER_ACCEPT: Rule("accept an order at the repair center", CENTER),
    Action.ORDER_DISPATCH: Rule("rank candidate crews, dispatch (D), reassign", CENTER),
    Action.ORDER_RECALL_FROM_CREW: Rule("recall an order from its crew", CENTER),
    Action.CREW_POINT_REPORT: Rule("report crew points E, F, G, H, finished (own crew's orders)", FIELD, devices=True),  # noqa: E501
    Action.CREW_POINT_CORRECT: Rule("correct a crew point by hand (source manual, with a reason)", frozenset({Role.SUPERVISOR, Role.ADMIN})),  # noqa: E501
    Action.FAULT_RECORD_WRITE: Rule("fill in the fault record (own crew's orders)", FIELD, devices=True),  # noqa: E501
    Action.FAULT_RECORD_CORRECT: Rule("correct the fault record of an order in scope", CENTER),
    Action.ORDER_FOLLOW_UP: Rule("record the customer follow-up call", CALL),
    Action.ORDER_CLOSE: Rule("close a followed-up order", CALL | CENTER),
    Action.QUEUE_READ: _read("show a vehicle's queue", EVERYONE, devices=True),
    Action.QUEUE_REORDER: Rule("reorder a vehicle's queue", CENTER),
    Action.AVAILABILITY_READ: _read("show a crew's availability", EVERYONE, devices=True),
    Action.AVAILABILITY_SET: Rule("stand a crew down or up (crews: their own)", CENTER | FIELD, devices=True),  # noqa: E501
    Action.SLA_POLICY_READ: _read("list SLA policies", EVERYONE),
    Action.SLA_POLICY_WRITE: Rule("set SLA policies", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    Action.ALERT_READ: _read("list and stream alerts (acceptance escalations, archive chasing)", WATCH | {Role.ARCHIVIST}),  # noqa: E501
    Action.ALERT_ACKNOWLEDGE: Rule("acknowledge an alert", WATCH | {Role.ARCHIVIST}),
    Action.TRACKING_READ: _read("live vehicles, tracks, nearest vehicles, live feed", WATCH | {Role.AUDITOR}),  # noqa: E501
    Action.METRICS_READ: _read("ingest metrics", frozenset({Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})),  # noqa: E501
    Action.REPORT_READ: _read("SLA, workload and vehicle reports", WATCH | {Role.AUDITOR}),
    Action.SYNC: _read("sync: pull your scope, list its conflicts, push (each mutation is checked on its own, below)", EVERYONE, devices=True),  # noqa: E501
    Action.ORDER_SYNC_UPDATE: Rule("push an order's crew note (a status move is a crew point)", CENTER | FIELD, devices=True),  # noqa: E501
    Action.FIELD_CAPTURE: Rule("capture inspections, meter readings, photos, GPS fixes", frozenset({Role.CREW, Role.INSPECTOR}), devices=True),  # noqa: E501
    Action.INSPECTION_EDIT: Rule("edit inspections (field staff; dispatchers review them)", CENTER | {Role.CREW, Role.INSPECTOR}, devices=True),  # noqa: E501
    Action.CONFLICT_RESOLVE: Rule("resolve sync conflicts (and make the write the resolution is)", CENTER),  # noqa: E501
    Action.FIELD_RECORD_READ: _read("read inspections, meter readings and photos: your crews' and your own crew-less ones", FIELD | INSPECT | CENTER | {Role.AUDITOR}, devices=True),  # noqa: E501
    Action.FIELD_RECORD_READ_DEPARTMENT: _read("read the inspections, readings and photos of your whole department subtree", INSPECT | CENTER | {Role.AUDITOR}),  # noqa: E501
    Action.GPS_FIX_READ: _read("read handheld GPS fixes: your crews' and your own crew-less ones (tracking roles: the subtree's)", FIELD | {Role.INSPECTOR} | WATCH | {Role.AUDITOR}, devices=True),  # noqa: E501
    Action.UPLOAD_BLOB: Rule("upload photo and document blobs", frozenset({Role.CREW, Role.INSPECTOR, Role.ARCHIVIST}), devices=True),  # noqa: E501
    Action.READ_BLOB: _read("read a blob referenced by a record you may read", EVERYONE, devices=True),  # noqa: E501
    Action.NETWORK_READ: _read("read the network: lines, transformer areas, the tree, water pipes and valves (with the valves isolating a pipe), GeoJSON layers", EVERYONE, devices=True),  # noqa: E501
    Action.NETWORK_MANAGE: Rule("create and change substations, lines and transformer areas", CENTER),  # noqa: E501
    Action.NETWORK_IMPORT: Rule("import lines, areas and water assets (GeoJSON, CSV, XLSX; each row also needs the action that creates it) and customers' areas (with archive.edit)", CENTER | {Role.ARCHIVIST}),  # noqa: E501
    Action.WATER_MANAGE: Rule("register water pipes, valves, hydrants, sources and monitoring points", CENTER),  # noqa: E501
    Action.CUSTOMER_FLAG_SET: Rule("mark customers important or high-risk", frozenset({Role.ARCHIVIST, Role.SUPERVISOR, Role.ADMIN})),  # noqa: E501
    Action.REGION_READ: _read("list region codes and their service contacts", EVERYONE),
    Action.REGION_MANAGE: Rule("create, change and delete region codes", frozenset({Role.SUPERVISOR, Role.ADMIN})),  # noqa: E501
    Action.OUTAGE_READ: _read("list outages, the areas and customers they cut, notifications", EVERYONE, devices=True),  # noqa: E501
    Action.OUTAGE_MANAGE: Rule("set, extend, restore and close outages; decide probable-outage suggestions", CENTER),  # noqa: E501
    Action.QUICK_QUERY: _read("ask the quick query: is this customer's line out, until when", CALL | CENTER),  # noqa: E501
    Action.ARCHIVE_READ: _read("find and read customer files of your scope (fields as your role may)", EVERYONE, devices=True),  # noqa: E501
    Action.ARCHIVE_EDIT: Rule("open customer files and change them (a new version)", FILES),
    Action.ARCHIVE_CLOSE: Rule("close an account (a new version)", FILES),
    Action.PREMISE_CORRECT: Rule("correct a premise's address, location and access notes (crews: where they work)", FILES | FIELD, devices=True),  # noqa: E501
    Action.METER_EDIT: Rule("install and change meters (faults, seals, calibration)", FILES | {Role.INSPECTOR}),  # noqa: E501
    Action.DOCUMENT_ATTACH: Rule("attach documents and photos to a customer file", FILES | {Role.INSPECTOR, Role.CREW}),  # noqa: E501
    Action.ARCHIVE_IMPORT: Rule("import customer files (CSV, XLSX)", frozenset({Role.ARCHIVIST, Role.ADMIN})),  # noqa: E501
    Action.ARCHIVE_EXPORT: _read("export customer files of your scope", FILES | {Role.AUDITOR}),
    Action.ARCHIVE_CONFIGURE: Rule("set meter types' intervals, the archive's deadline and retention rules", frozenset({Role.ADMIN})),  # noqa: E501
    Action.ARCHIVE_READ_REGION: _read("read every customer file of one's region, wherever it is kept (95598)", frozenset({Role.CALL_CENTER})),  # noqa: E501
    Action.ARCHIVE_IMPORT_READ_ALL: _read("read anyone's import jobs", frozenset({Role.ADMIN})),
    Action.ARCHIVE_STEP_RECORD: Rule("record a file's business step (refused while its documents are missing)", FILES),  # noqa: E501
    Action.ARCHIVE_DEADLINE_READ: _read("the deadline worklist of your scope (normal, warning, overdue)", FILES | {Role.AUDITOR}),  # noqa: E501
    Action.ARCHIVE_ACCESS_REQUEST: Rule("ask to read a file outside your scope (purpose, period)", EVERYONE - {Role.AUDITOR}),  # noqa: E501
    Action.ARCHIVE_ACCESS_READ: _read("list your access requests and those you may decide", EVERYONE),  # noqa: E501
    Action.ARCHIVE_ACCESS_APPROVE_DEPARTMENT: Rule("approve an access request as the requester's department head (level 1)", APPROVE),  # noqa: E501
    Action.ARCHIVE_ACCESS_APPROVE_ARCHIVE: Rule("approve an access request as the archive keeping the file (level 2)", frozenset({Role.ARCHIVIST, Role.ADMIN})),  # noqa: E501
    Action.ARCHIVE_READ_LOG: _read("the read log: who read which file, when and why", FILES | {Role.AUDITOR}),  # noqa: E501
    Action.ARCHIVE_LOAN_REQUEST: Rule("ask to sign out a paper file", EVERYONE - {Role.AUDITOR}),
    Action.ARCHIVE_LOAN_READ: _read("list paper loans (your own; the archive and supervisors: their scope's)", EVERYONE),  # noqa: E501
    Action.ARCHIVE_LOAN_APPROVE: Rule("approve a paper-file loan (supervisor sign-out)", APPROVE),
    Action.ARCHIVE_LOAN_HANDLE: Rule("hand a paper file out and take it back", frozenset({Role.ARCHIVIST, Role.ADMIN})),  # noqa: E501
    Action.ARCHIVE_RETENTION_READ: _read("closed files due for destruction, destruction lists, legal holds", FILES | {Role.AUDITOR}),  # noqa: E501
    Action.ARCHIVE_DESTRUCTION_PROPOSE: Rule("propose a destruction list of files past retention", frozenset({Role.ARCHIVIST, Role.ADMIN})),  # noqa: E501
    Action.ARCHIVE_DESTRUCTION_APPROVE: Rule("approve (destroy) or refuse a destruction list (not your own)", APPROVE),  # noqa: E501
    Action.ARCHIVE_LEGAL_HOLD: Rule("place and release legal holds on files", FILES),
    Action.ARCHIVE_QUALITY_READ: _read("the archive's data-quality figures and report", FILES | {Role.AUDITOR}),  # noqa: E501
    Action.CASE_READ: _read("list and show theft/violation cases and their evidence", INSPECT | {Role.AUDITOR}),  # noqa: E501
    Action.CASE_OPEN: Rule("open a theft/violation case", INSPECT),
    Action.CASE_STEP: Rule("complete a case's current step with its procedure checklist", INSPECT),  # noqa: E501
    Action.CASE_APPROVE: Rule("approve a case step that needs a supervisor (decision, closure)", APPROVE),  # noqa: E501
    Action.EVIDENCE_OVERRIDE: Rule("override the evidence gate before enforcement, with a reason", APPROVE),  # noqa: E501
    Action.RISK_READ: _read("read credit ratings, grade history, credit models and risk reports", CREDIT | {Role.AUDITOR}),  # noqa: E501
    Action.RISK_ASSESS: Rule("record credit assessments and re-rate customers", CREDIT),
    Action.RISK_CONFIGURE: Rule("change credit models and risk thresholds (a new version)", APPROVE),  # noqa: E501
    Action.RISK_BILLING_IMPORT: Rule("import the billing table (CSV, XLSX) and read one's imports", frozenset({Role.COLLECTIONS, Role.ADMIN})),  # noqa: E501
    Action.RISK_LIMIT_SET: Rule("set a customer's credit limit (within its risk class's policy)", CREDIT),  # noqa: E501
    Action.RISK_CLASSIFY: Rule("record a classification review: important/special/ordinary, tier, owner (a new version)", frozenset({Role.KEY_ACCOUNT, Role.SUPERVISOR, Role.ADMIN})),  # noqa: E501
    Action.RISK_LIST_MANAGE: Rule("put customers on the red or black list and end entries", CREDIT),  # noqa: E501
    Action.RISK_COLLECT: Rule("open collection cases, complete ladder steps, send visits to crews", frozenset({Role.COLLECTIONS, Role.SUPERVISOR, Role.ADMIN})),  # noqa: E501
    Action.RISK_VISIT_REPORT: Rule("report a collection visit's outcome (own crew's visits)", FIELD, devices=True),  # noqa: E501
    Action.PLAN_READ: _read("list inspection plans, tasks, checklists, hazards, anomalies, reminders", INSPECT | {Role.AUDITOR}),  # noqa: E501
    Action.PLAN_MANAGE: Rule("create inspection plans, generate their tasks, publish checklist versions", APPROVE),  # noqa: E501
    Action.TASK_WORK: Rule("carry out an inspection task (results, hazards) and mark meter faults and seals", INSPECT),  # noqa: E501
    Action.TASK_ASSIGNEE: Rule("be given inspection tasks (plans and the system spread them over these roles)", frozenset({Role.INSPECTOR})),  # noqa: E501
    Action.TASK_READ_ALL: _read("read every inspection task and reminder of your departments, REST and sync (without it: your own)", APPROVE | {Role.AUDITOR}),  # noqa: E501
    Action.HAZARD_NOTICE: Rule("serve a hazard notice with a rectification deadline; record the follow-up", INSPECT),  # noqa: E501
    Action.METER_EVENT_RECORD: Rule("record meter seals applied/removed and faults found/cleared", INSPECT | {Role.CREW}, devices=True),  # noqa: E501
    Action.REMOTE_READING_IMPORT: Rule("import remote (metering system) readings for reconciliation", APPROVE),  # noqa: E501
    Action.INSPECTION_REPORT_READ: _read("inspection reports: due/done/overdue, hazards, cases, recoveries, repeat offenders, field verification", INSPECT | {Role.AUDITOR}),  # noqa: E501
    Action.VERIFICATION_READ: _read("list field-verification batches, their items and report", FILES | INSPECT | {Role.AUDITOR}),  # noqa: E501
    Action.VERIFICATION_MANAGE: Rule("select field-verification batches, assign them, send the customer SMS check", FILES),  # noqa: E501
    Action.VERIFICATION_WORK: Rule("check and correct customer files on site (field verification)", frozenset({Role.INSPECTOR, Role.CREW, Role.ARCHIVIST})),  # noqa: E501
    Action.VERIFICATION_REVIEW: Rule("review field-verification corrections (they become archive versions)", APPROVE),  # noqa: E501
})
# fmt: on

# Which action a sync push needs, per (entity, op). Pairs the entity's merge policy refuses
# anyway (updating an append-only record ...) are not listed: they get `sync-op-not-allowed`.
# A work order's status move is the crew reporting a point: it needs CREW_POINT_REPORT too.
# fmt: off
SYNC_ACTIONS: Mapping[tuple[str, str], Action] = MappingProxyType({
    ("work_order", "update"): Action.ORDER_SYNC_UPDATE,
    ("timing_event", "append"): Action.CREW_POINT_REPORT,
    ("timing_event", "create"): Action.CREW_POINT_REPORT,
    ("fault_record", "create"): Action.FAULT_RECORD_WRITE,
    ("fault_record", "update"): Action.FAULT_RECORD_WRITE,
    ("inspection", "create"): Action.FIELD_CAPTURE,
    ("inspection", "update"): Action.INSPECTION_EDIT,
    ("inspection", "delete"): Action.FIELD_CAPTURE,
    ("meter_reading", "append"): Action.FIELD_CAPTURE,
    ("meter_reading", "create"): Action.FIELD_CAPTURE,
    ("gps_fix", "append"): Action.FIELD_CAPTURE,
    ("gps_fix", "create"): Action.FIELD_CAPTURE,
    ("photo", "append"): Action.FIELD_CAPTURE,
    ("photo", "create"): Action.FIELD_CAPTURE,
    ("premise", "update"): Action.PREMISE_CORRECT,
    ("collection_visit", "update"): Action.RISK_VISIT_REPORT,
    ("hazard", "create"): Action.TASK_WORK,
    ("meter_event", "append"): Action.METER_EVENT_RECORD,
    ("case_step", "append"): Action.CASE_STEP,
    ("verification_item", "update"): Action.VERIFICATION_WORK,
})
# fmt: on

# Which action a sync pull needs to receive an entity's records: the one its REST door asks.
# fmt: off
SYNC_READ_ACTIONS: Mapping[str, Action] = MappingProxyType({
    "work_order": Action.ORDER_READ,
    "timing_event": Action.ORDER_READ,
    "fault_record": Action.ORDER_READ,
    "inspection": Action.FIELD_RECORD_READ,
    "meter_reading": Action.FIELD_RECORD_READ,
    "gps_fix": Action.GPS_FIX_READ,
    "photo": Action.FIELD_RECORD_READ,
    "customer": Action.ARCHIVE_READ,
    "premise": Action.ARCHIVE_READ,
    "meter": Action.ARCHIVE_READ,
    # A visit carries what is owed: only the crew sent on it pulls it (collections use REST).
    "collection_visit": Action.RISK_VISIT_REPORT,
    # Lines, areas and active outages near the crew's work (pull only: no SYNC_ACTIONS row).
    "feeder_line": Action.NETWORK_READ,
    "transformer_area": Action.NETWORK_READ,
    "outage": Action.OUTAGE_READ,
})
# fmt: on


def can(actor: Actor, action: Action) -> bool:
    """Tell whether the actor's role (or device token) may do `action` at all."""
    if actor.kind == "system":  # the server's own workers (ingest, escalation)
        return True
    rule = RULES[action]
    if actor.kind == "device":
        return rule.devices
    return actor.role in rule.roles


def holders(action: Action) -> list[str]:
    """Return the user roles a rule names, sorted (to select the users who may do `action`)."""
    return sorted(role.value for role in RULES[action].roles)


def authorize(actor: Actor, action: Action) -> None:
    """Raise 403 unless the actor may do `action`."""
    if can(actor, action):
        return
    rule = RULES[action]
    if actor.kind == "device":
        raise Forbidden(f"Device credentials may not {rule.summary}.")
    allowed = ", ".join(sorted(r.value for r in rule.roles)) or "nobody"
    raise Forbidden(f"Your role '{actor.role}' may not {rule.summary}; allowed: {allowed}.")


def sync_action(entity: str, op: str) -> Action | None:
    """Return the action a sync push of `op` on `entity` needs (None: nobody may)."""
    return SYNC_ACTIONS.get((entity, op))


# --- scopes ------------------------------------------------------------------------------


def crew_bound(actor: Actor) -> bool:
    """Devices and crew members see the records of their own crew (vehicle), not a subtree."""
    return actor.kind == "device" or (actor.kind == "user" and actor.role == Role.CREW)


def own_crews(actor: Actor) -> frozenset[int]:
    """Return the crews the actor belongs to (a member, or the crew's device)."""
    return actor.crew_ids or (frozenset({actor.crew_id}) if actor.crew_id else frozenset())


def department_filter(actor: Actor) -> Select[tuple[int]]:
    """Return a select of the ids of the actor's department and every department below it."""
    return select(Department.id).where(Department.path.startswith(actor.department_path))


def _company_path(actor: Actor) -> str:
    root = actor.department_path.strip("/").split("/")[0]
    return f"/{root}/" if root else "/"


def network_filter(actor: Actor, department_column: Any) -> ColumnElement[bool]:
    """WHERE clause for the network (lines, areas, outages): the actor's whole company.

    The network is the company's reference data: the call center answers for every line of
    its company, whichever repair center owns it. Another company's tree stays invisible;
    writes are still limited to one's own subtree (the services check the owner).
    """
    company = select(Department.id).where(Department.path.startswith(_company_path(actor)))
    return department_column.in_(company)


def sees_network(session: Session, actor: Actor, department_id: int) -> bool:
    """Tell whether a network record owned by `department_id` is readable (`network_filter`)."""
    if actor.kind == "system":
        return True
    department = session.get(Department, department_id)
    return department is not None and department.path.startswith(_company_path(actor))


def sees_department(actor: Actor, department: Department) -> bool:
    """Tell whether the department is the actor's or below it."""
    return actor.kind == "system" or department.path.startswith(actor.department_path)


def order_filter(actor: Actor) -> ColumnElement[bool]:
    """Return a WHERE clause keeping the work orders the actor may see.

    Devices and crew members: the orders sent to their crew (a vehicle terminal without a
    crew: its vehicle's). Everyone else: orders owned, created or received by a department
    of their subtree, or sent to a crew of it (and, for crew members in other roles, to
    their crews).
    """
    crews = own_crews(actor)
    if crew_bound(actor):
        clauses: list[ColumnElement[bool]] = []
        if crews:
            clauses.append(WorkOrder.crew_id.in_(sorted(crews)))
        if actor.kind == "device" and actor.vehicle_id is not None:
            clauses.append(WorkOrder.vehicle_id == actor.vehicle_id)
        return or_(*clauses) if clauses else false()
    visible = department_filter(actor)
    clauses = [
        WorkOrder.department_id.in_(visible),
        WorkOrder.call_center_id.in_(visible),
        WorkOrder.repair_center_id.in_(visible),
        WorkOrder.crew_id.in_(select(Crew.id).where(Crew.department_id.in_(visible))),
    ]
    if crews:
        clauses.append(WorkOrder.crew_id.in_(sorted(crews)))
    return or_(*clauses)


def order_child_filter(actor: Actor, order_column: Any) -> ColumnElement[bool]:
    """WHERE clause for records of an order (timing events, fault records): the order's scope."""
    return order_column.in_(select(WorkOrder.id).where(order_filter(actor)))


def field_record_filter(
    actor: Actor,
    model: Any,
    *,
    read: Action = Action.FIELD_RECORD_READ,
    department: Action = Action.FIELD_RECORD_READ_DEPARTMENT,
) -> ColumnElement[bool]:
    """WHERE clause for field records (inspections, readings, photos, GPS fixes) one may read.

    Whoever may `read` them reads their own crews' records and the crew-less ones they
    captured themselves (an inspector's, who has no crew); whoever may `department` also
    every record of their department subtree. A crew-less record is therefore not its
    station's: the crews there do not see an inspector's photos or positions. GPS fixes
    pass `GPS_FIX_READ` and `TRACKING_READ` (positions are the tracking roles').
    """
    if actor.kind == "system":
        return true()
    if not can(actor, read):
        return false()
    clauses: list[ColumnElement[bool]] = [
        and_(model.crew_id.is_(None), model.created_by == actor.audit_name)
    ]
    crews = own_crews(actor)
    if crews:
        clauses.append(model.crew_id.in_(sorted(crews)))
    if can(actor, department):
        clauses.append(model.department_id.in_(department_filter(actor)))
    return or_(*clauses)


def sees_order(session: Session, actor: Actor, order: WorkOrder) -> bool:
    """Tell whether the actor may see the work order (`order_filter` for one row)."""
    if actor.kind == "system":
        return True
    found = session.scalar(
        select(func.count()).where(WorkOrder.id == order.id, order_filter(actor))
    )
    return bool(found)


def holds_order(actor: Actor, order: WorkOrder, *, vehicle_id: int | None = None) -> bool:
    """Tell whether the order is currently with the actor's crew (or the reporting vehicle)."""
    if vehicle_id is not None:
        return order.vehicle_id == vehicle_id
    if actor.kind == "device" and actor.vehicle_id is not None and order.vehicle_id is not None:
        if order.vehicle_id == actor.vehicle_id:
            return True
    return order.crew_id is not None and order.crew_id in own_crews(actor)


def is_own_crew(actor: Actor, crew: Crew) -> bool:
    """Tell whether the actor belongs to the crew (a member, or the crew's device)."""
    return crew.id in own_crews(actor)


def sees_crew(actor: Actor, crew: Crew) -> bool:
    """Own crew for devices; for users, own crews and the crews of their subtree."""
    if actor.kind == "system" or is_own_crew(actor, crew):
        return True
    return actor.kind == "user" and sees_department(actor, crew.department)


def sees_vehicle(actor: Actor, vehicle: Vehicle) -> bool:
    """Own vehicle (or own crew's) for devices and crew members; the subtree for others."""
    if actor.kind == "system":
        return True
    if vehicle.id == actor.vehicle_id or (
        vehicle.crew_id is not None and vehicle.crew_id in own_crews(actor)
    ):
        return True
    if crew_bound(actor):
        return False
    return sees_department(actor, vehicle.department)


def _by_department(session: Session, actor: Actor, record: Any) -> bool:
    department = session.get(Department, record.department_id)
    return department is not None and sees_department(actor, department)


def _archive_models() -> tuple[type[Any], ...]:
    from backend.archive.documents import CustomerDocument
    from backend.archive.records import Customer, Meter, Premise

    return (Customer, Premise, Meter, CustomerDocument)


def _sees_customer_file(session: Session, actor: Actor, record: Any) -> bool:
    """Archive records: the scope of their customer file (owner, or where one's crews work)."""
    from backend.archive.access import in_scope as in_customer_scope

    return in_customer_scope(session, actor, getattr(record, "customer_id", None) or record.id)


def _network_models() -> tuple[type[Any], ...]:
    from backend.network.models import FeederLine, Substation, TransformerArea
    from backend.network.outage_models import Outage, OutageSuggestion
    from backend.network.water_models import WaterNode, WaterPipe

    return (
        Substation, FeederLine, TransformerArea, Outage, OutageSuggestion, WaterNode, WaterPipe,
    )  # fmt: skip


def _sees_network_record(session: Session, actor: Actor, record: Any) -> bool:
    """Network records and outages: the whole company reads them (`network_filter`)."""
    return sees_network(session, actor, record.department_id)


ScopeCheck = Callable[[Session, Actor, Any], bool]

# One scope rule per resource kind; anything else with a department_id goes by department.
SCOPES: Mapping[type[Any], ScopeCheck] = MappingProxyType(
    {
        Department: lambda s, a, d: sees_department(a, d),
        Crew: lambda s, a, c: sees_crew(a, c),
        Vehicle: lambda s, a, v: sees_vehicle(a, v),
        WorkOrder: sees_order,
        Device: _by_department,
        User: _by_department,
        Alert: _by_department,
        **dict.fromkeys(_archive_models(), _sees_customer_file),
        **dict.fromkeys(_network_models(), _sees_network_record),
    }
)


def in_scope(session: Session, actor: Actor, record: Any) -> bool:
    """Tell whether a loaded record is inside the actor's data scope."""
    if actor.kind == "system":
        return True
    check = SCOPES.get(type(record))
    if check is not None:
        return check(session, actor, record)
    if hasattr(record, "department_id"):
        return _by_department(session, actor, record)
    raise TypeError(f"no scope rule for {type(record).__name__}")  # a programming error


M = TypeVar("M")


def _label(model: type[Any]) -> str:
    words = "".join(f" {c.lower()}" if c.isupper() else c for c in model.__name__).strip()
    return words[:1].upper() + words[1:]


def load_in_scope(
    session: Session,
    actor: Actor,
    model: type[M],
    record_id: Any,
    *,
    action: Action | None = None,
    lock: bool = False,
) -> M:
    """Load a record the actor may see (404 when absent, 403 outside the scope).

    With `action`, the role is checked too — after the scope, so a caller learns nothing
    about a record outside its scope from the refusal.
    """
    statement = select(model).where(model.id == record_id)  # type: ignore[attr-defined]
    if lock:
        statement = statement.with_for_update()
    record = session.scalar(statement)
    if record is None:
        raise NotFound(f"{_label(model)} {record_id} does not exist.")
    if not in_scope(session, actor, record):
        raise OutOfScope.of(_label(model))
    if action is not None:
        authorize(actor, action)
    return record
