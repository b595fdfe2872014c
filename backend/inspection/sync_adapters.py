"""Inspection's synced entities: inspections, readings, GPS fixes, tasks, hazards and more.

Also meter events, cases, case steps and field-verification items. The adapters call the
same services as REST (`backend/inspection/handheld.py` holds the glue): the policy, the
procedure, the checklist versions and the evidence gate decide alike.
"""

from __future__ import annotations

from typing import Any

from backend.archive import handheld
from backend.archive.sync_adapters import work_and_file_refs_in_scope
from backend.auth.policy import Action
from backend.auth.sync_access import field_records, permit
from backend.inspection import handheld as inspection
from backend.inspection.cases import CaseStepPush, InspectionCase
from backend.inspection.meter_models import MeterEvent
from backend.inspection.models import GpsFix, Inspection, MeterReading
from backend.inspection.plan_models import Hazard, InspectionTask
from backend.inspection.verification_models import VerificationItem
from sync.entities import (
    CASE_STEP,
    GPS_FIX,
    HAZARD,
    INSPECTION,
    INSPECTION_CASE,
    INSPECTION_TASK,
    METER_EVENT,
    METER_READING,
    VERIFICATION_ITEM,
)
from sync.registry import EntityAdapter, SyncActor


def _inspection_refs(session: Any, actor: SyncActor, record: Any, values: Any) -> str | None:
    """Work and file references in scope, and a named task the caller's (checklist version)."""
    return work_and_file_refs_in_scope(session, actor, record, values) or (
        inspection.authorize_inspection(session, actor, record, values)
    )


def _reading_written(session: Any, actor: SyncActor, reading: MeterReading) -> None:
    """The reading becomes the meter's last one, then is reconciled with remote readings."""
    handheld.note_meter_reading(session, actor, reading)
    inspection.reading_written(session, actor, reading)


ADAPTERS = (
    EntityAdapter(
        INSPECTION,
        Inspection,
        permit=permit(INSPECTION),
        authorize=_inspection_refs,
        after_write=inspection.inspection_written,  # the task follows its inspection
        scope=field_records("inspection", Inspection),
    ),
    EntityAdapter(
        METER_READING,
        MeterReading,
        permit=permit(METER_READING),
        authorize=handheld.authorize_reading,  # the meter must be at a premise the crew works
        after_write=_reading_written,
        prefetch=handheld.prefetch_readings,  # the batch's meters in one query
        blob_fields=("photo_sha256",),
        bulk_append=True,  # new readings: one INSERT per batch (no audit, no ORM hooks)
        scope=field_records("meter_reading", MeterReading),
    ),
    # Positions: the tracking roles read the subtree's, field staff their crews' and their own.
    EntityAdapter(
        GPS_FIX,
        GpsFix,
        permit=permit(GPS_FIX),
        bulk_append=True,
        scope=field_records(
            "gps_fix", GpsFix, read=Action.GPS_FIX_READ, department=Action.TRACKING_READ
        ),
    ),
    EntityAdapter(
        INSPECTION_TASK, InspectionTask, permit=permit(INSPECTION_TASK),
        read=inspection.task_fields, visible=inspection.tasks_visible, pushable=False,
        time_field=None,
    ),
    EntityAdapter(
        HAZARD, Hazard, permit=permit(HAZARD), create=inspection.create_hazard,
        visible=inspection.captured_visible, blob_fields=("photo_sha256",),
    ),
    EntityAdapter(
        METER_EVENT, MeterEvent, permit=permit(METER_EVENT),
        authorize=inspection.authorize_meter_event, after_write=inspection.meter_event_written,
        visible=inspection.captured_visible, blob_fields=("photo_sha256",),
    ),
    EntityAdapter(
        INSPECTION_CASE, InspectionCase, permit=permit(INSPECTION_CASE),
        read=inspection.case_fields, visible=inspection.cases_visible, pushable=False,
        time_field=None,
    ),
    EntityAdapter(
        CASE_STEP, CaseStepPush, permit=permit(CASE_STEP), create=inspection.create_case_step,
        visible=inspection.cases_visible,
    ),
    EntityAdapter(
        VERIFICATION_ITEM, VerificationItem, permit=permit(VERIFICATION_ITEM),
        update=inspection.update_item, visible=inspection.items_visible, time_field=None,
    ),
)  # fmt: skip
