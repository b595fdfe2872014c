"""Demo inspections: plans, tasks, a hazard notice and a field-verification batch.

A quarterly plan for 10 kV business customers, a complaint, a hazard with its notice and a
batch of files to verify; created once, so `seed-demo` runs twice safely.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import Customer
from backend.auth.actor import Actor
from backend.auth.models import User
from backend.db import utcnow
from backend.errors import Conflict
from backend.inspection import hazards, plans, verification
from backend.inspection.plan_models import InspectionPlan
from backend.org.models import Department

PLAN_NAME = "演示: 10kV 专变客户季度用电检查"


def seed_inspection(session: Session) -> bool:
    """Create the demo plans, tasks, a hazard notice and a batch once (False when present)."""
    if session.scalar(select(InspectionPlan.id).where(InspectionPlan.name == PLAN_NAME)):
        return False
    station = session.scalar(select(Department).where(Department.code == "ST-URB"))
    inspector = session.scalar(select(User).where(User.username == "inspector"))
    if station is None or inspector is None:
        return False
    actor = Actor(kind="system", id=0, label="seed", department_id=station.id,
                  department_path=station.path)  # fmt: skip
    periodic = plans.create_plan(session=session, actor=actor, data={
        "name": PLAN_NAME, "kind": "periodic", "department_id": station.id,
        "customer_types": ["non_residential"], "voltage_levels": ["10kV"], "interval_days": 90,
        "due_days": 14, "equipment_type": "distribution_room", "inspector_ids": [inspector.id],
    })  # fmt: skip
    generated = plans.generate(session=session, actor=actor, plan_id=periodic.id)
    complainant = session.scalar(
        select(Customer)
        .where(Customer.department_id == station.id, Customer.customer_type == "residential")
        .order_by(Customer.account_number)
        .limit(1)
    )
    if complainant is not None:
        special = plans.create_plan(session=session, actor=actor, data={
            "name": "演示: 95598 投诉 — 电表走字异常", "kind": "special", "reason": "complaint",
            "department_id": station.id, "customer_ids": [str(complainant.id)], "due_days": 3,
            "equipment_type": "low_voltage_meter", "inspector_ids": [inspector.id],
        })  # fmt: skip
        plans.generate(session=session, actor=actor, plan_id=special.id)
    if generated["tasks"]:
        task = generated["tasks"][0]
        hazard = hazards.record_hazard(session=session, actor=actor, data={
            "task_id": str(task["id"]), "severity": "medium", "category": "no_earthing",
            "description": "配电室接地扁铁锈断 (earthing strip corroded through)",
        })  # fmt: skip
        hazards.serve_notice(
            session=session, actor=actor, hazard_id=hazard.id,
            rectify_by=utcnow() + timedelta(days=15), notes="整改通知书已送达",
        )  # fmt: skip
    try:
        verification.create_batch(session=session, actor=actor, data={
            "name": "演示: 城区供电所档案现场核实", "department_id": station.id,
            "limit": 10, "assignee_ids": [inspector.id],
        })  # fmt: skip
    except Conflict:  # no customer files in the station yet
        pass
    session.flush()
    return True
