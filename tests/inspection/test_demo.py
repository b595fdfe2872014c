"""The inspection demo data is created once: seeding twice adds nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from backend.demo.inspection import seed_inspection
from backend.inspection.plan_models import Hazard, InspectionPlan, InspectionTask
from backend.inspection.verification_models import VerificationBatch
from tests.inspection.helpers import station_file


def _counts(session):
    return [
        session.scalar(select(func.count()).select_from(model))
        for model in (InspectionPlan, InspectionTask, Hazard, VerificationBatch)
    ]


def test_seeding_twice_adds_nothing(api, demo, session):
    file = station_file(api, demo)
    assert seed_inspection(session) is True
    first = _counts(session)
    tasks = session.scalars(
        select(InspectionTask).where(
            InspectionTask.premise_id == uuid.UUID(file["premise_id"]),
            InspectionTask.plan_id.is_not(None),
        )
    ).all()
    assert len(tasks) == 1 and tasks[0].equipment_type == "distribution_room"
    assert session.scalar(select(Hazard).where(Hazard.status == "notified")) is not None
    assert seed_inspection(session) is False
    assert _counts(session) == first
