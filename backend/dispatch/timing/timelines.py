"""An order's computed timeline as the API shows it: segments, colors, departments, breaches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.db import utcnow
from backend.dispatch.models import SlaBreach
from backend.dispatch.schemas import dump_segment
from backend.dispatch.service import get_order
from backend.dispatch.timing.events import order_timeline, responsible_department
from backend.dispatch.timing.sla import TimingPoint


def timeline(
    *, session: Session, actor: Actor, order_id: uuid.UUID, now: datetime | None = None
) -> dict[str, Any]:
    """Return the order's segments, colors, responsible departments and recorded breaches."""
    order = get_order(session=session, actor=actor, order_id=order_id)
    computed, _ = order_timeline(session, order, now or utcnow())
    points = {}
    for point in TimingPoint:
        event = computed.event_for(point)
        points[point.value] = event.occurred_at if event else None
    breaches = session.scalars(
        select(SlaBreach).where(SlaBreach.order_id == order.id).order_by(SlaBreach.id)
    )
    segments = [
        dump_segment(s, responsible_department(order, s.responsible)) for s in computed.segments
    ]
    total = dump_segment(computed.total, None)
    # A breach row is the record of a finished segment as first detected, never rewritten;
    # later evidence (an earlier witness of its end, a recall and a new dispatch round) can
    # change the segment. `current` says whether the timeline above still shows that breach.
    now_breached = {
        (s["segment"], s["responsible_department_id"]): s["duration_s"]
        for s in (*segments, total)
        if s["breached"]
    }
    return {
        "order_id": order.id,
        "same_site": bool(order.same_site),
        "points": points,
        "segments": segments,
        "total": total,
        "breaches": [
            {
                "segment": b.segment,
                "duration_s": b.duration_s,
                "limit_s": b.limit_s,
                "responsible": b.responsible,
                "department_id": b.department_id,
                "detected_at": b.detected_at.isoformat(),
                "current": now_breached.get((b.segment, b.department_id)) == b.duration_s,
            }
            for b in breaches
        ],
    }
