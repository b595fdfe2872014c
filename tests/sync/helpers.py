"""Builders for push bodies used by the sync tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sync.protocol import format_time


def mutation(
    entity: str,
    op: str,
    fields: dict[str, Any],
    *,
    record_id: str | None = None,
    base: int | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "mutation_id": str(uuid.uuid4()),
        "entity": entity,
        "id": record_id or str(uuid.uuid4()),
        "op": op,
        "base_version": base,
        "fields": fields,
        "occurred_at": format_time(occurred_at or datetime.now(UTC)),
    }


def batch(*mutations: dict[str, Any], skew: timedelta = timedelta(0)) -> dict[str, Any]:
    return {
        "device_id": "test-device",
        "batch_id": str(uuid.uuid4()),
        "sent_at": format_time(datetime.now(UTC) - skew),
        "mutations": list(mutations),
    }


def inspection(**fields: Any) -> dict[str, Any]:
    return {"status": "in_progress", "notes": "", "checklist": {}, **fields}


def reading(**fields: Any) -> dict[str, Any]:
    return {
        "meter_id": str(uuid.uuid4()),
        "value": 1234.5,
        "reading_kind": "kwh",
        "read_at": format_time(datetime.now(UTC)),
        **fields,
    }
