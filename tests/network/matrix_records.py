"""Network records the authorization matrix runs against (one set per side)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy.orm import Session

from backend.network.models import FeederLine, RegionCode, TransformerArea
from backend.network.outage_models import Outage, OutageArea, OutageSuggestion
from backend.network.water_models import WaterNode, WaterPipe


def network_records(session: Session, department: int) -> dict[str, Any]:
    """A line with one transformer area, owned by `department`."""
    tag = uuid.uuid4().hex[:8]
    line = FeederLine(
        code=f"L-{tag}",
        name=f"Matrix line {tag}",
        voltage="10kV",
        department_id=department,
        route=WKTElement("LINESTRING(120.1 30.2, 120.2 30.3)", srid=4326),
        switch_points=[],
    )
    session.add(line)
    session.flush()
    area = TransformerArea(
        code=f"TA-{tag}",
        name=f"Matrix area {tag}",
        line_id=line.id,
        capacity_kva=400.0,
        ownership="public",
        department_id=department,
        location=WKTElement("POINT(120.15 30.25)", srid=4326),
    )
    session.add(area)
    session.flush()
    now = datetime.now(UTC)
    outage = Outage(
        number=f"OUT-{tag}",
        kind="planned",
        scope="line",
        line_id=line.id,
        status="confirmed",
        reason="matrix",
        starts_at=now - timedelta(hours=1),
        planned_end_at=now + timedelta(hours=1),
        department_id=department,
        created_by="matrix",
    )
    session.add(outage)
    session.flush()
    session.add(OutageArea(outage_id=outage.id, area_id=area.id, customer_count=0))
    suggestion = OutageSuggestion(
        level="area", line_id=line.id, area_id=area.id, call_count=3, first_call_at=now,
        last_call_at=now, status="open", department_id=department,
    )  # fmt: skip
    session.add(suggestion)
    valve, junction = (
        WaterNode(code=f"WN-{tag}-{kind[0]}", kind=kind, department_id=department,
                  location=WKTElement(f"POINT(120.1{i} 30.2)", srid=4326),
                  valve_open=True if kind == "valve" else None)
        for i, kind in enumerate(("valve", "junction"))
    )  # fmt: skip
    session.add_all([valve, junction])
    session.flush()
    pipe = WaterPipe(
        code=f"WP-{tag}", from_node_id=valve.id, to_node_id=junction.id, diameter_mm=200,
        material="PE", department_id=department,
        route=WKTElement("LINESTRING(120.10 30.2, 120.11 30.2)", srid=4326),
    )  # fmt: skip
    session.add(pipe)
    session.flush()
    if session.get(RegionCode, "MX") is None:
        session.add(RegionCode(code="MX", name="Matrix", service_contact="M", service_phone="1"))
        session.flush()
    return {
        "line": str(line.id), "area": str(area.id), "outage": str(outage.id),
        "suggestion": suggestion.id, "node": str(valve.id),
        "junction": str(junction.id), "pipe": str(pipe.id),
    }  # fmt: skip
