"""A premise's place in the network: its transformer area and line, checked before writing.

The archive calls this when a premise is added or changed, so a reference is a 422 naming
the field (never a foreign-key error), and a premise under an area hangs on the area's line.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.policy import sees_network
from backend.errors import field_error
from backend.network.models import FeederLine, TransformerArea


def check_premise_links(
    session: Session, actor: Actor, data: dict[str, Any], *, prefix: str = ""
) -> dict[str, Any]:
    """Validate `transformer_area_id` / `line_id` in `data`; fill the line from the area."""
    area_id, line_id = data.get("transformer_area_id"), data.get("line_id")
    if area_id is not None:
        area = session.get(TransformerArea, area_id)
        if area is None or not sees_network(session, actor, area.department_id):
            raise field_error(f"{prefix}transformer_area_id", f"No transformer area {area_id}.")
        if line_id is not None and line_id != area.line_id:
            raise field_error(
                f"{prefix}line_id", f"Transformer area {area.code} hangs on another line."
            )
        data["line_id"] = area.line_id
    elif line_id is not None:
        line = session.get(FeederLine, line_id)
        if line is None or not sees_network(session, actor, line.department_id):
            raise field_error(f"{prefix}line_id", f"No feeder line {line_id}.")
    return data
