"""Inspection's synced entities: inspections, meter readings and the crews' GPS fixes."""

from __future__ import annotations

from backend.archive import handheld
from backend.archive.sync_adapters import work_and_file_refs_in_scope
from backend.auth.policy import Action
from backend.auth.sync_access import field_records, permit
from backend.inspection.models import GpsFix, Inspection, MeterReading
from sync.entities import GPS_FIX, INSPECTION, METER_READING
from sync.registry import EntityAdapter

ADAPTERS = (
    EntityAdapter(
        INSPECTION,
        Inspection,
        permit=permit(INSPECTION),
        authorize=work_and_file_refs_in_scope,
        scope=field_records("inspection", Inspection),
    ),
    EntityAdapter(
        METER_READING,
        MeterReading,
        permit=permit(METER_READING),
        authorize=handheld.authorize_reading,  # the meter must be at a premise the crew works
        after_write=handheld.note_meter_reading,  # the reading becomes the meter's last one
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
)
