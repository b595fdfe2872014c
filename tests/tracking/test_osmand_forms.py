"""OsmAnd / Traccar Client variants seen in the field: form-encoded bodies, Traccar's time form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.demo import DEMO_DEVICE_SECRET, DemoOrg
from backend.tracking.ingest.decode import decode_osmand
from backend.tracking.models import Position
from tests.conftest import assert_problem

URL = "/api/v1/tracking/osmand"


@pytest.fixture(autouse=True)
def fresh_http_ingest(app: Flask) -> None:
    """The endpoint's GPS filter lives per process: forget other tests' fixes of T-1001."""
    app.extensions.pop("fieldline.http_ingest", None)


def test_a_form_encoded_post_carries_its_own_credentials(
    client: Any, session: Session, demo: DemoOrg
) -> None:
    ts = int((utcnow() - timedelta(seconds=4)).timestamp())
    form = {"id": "T-1001", "key": DEMO_DEVICE_SECRET, "lat": "30.2911", "lon": "120.1611"}
    response = client.post(URL, data={**form, "timestamp": str(ts)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"stored": 1}
    stored = session.scalar(select(Position).where(Position.lat == 30.2911))
    assert stored is not None and stored.source == "osmand"
    wrong = client.post(URL, data={**form, "key": "wrong", "timestamp": str(ts + 1)})
    assert_problem(wrong, 401)
    no_id = client.post(URL, data={"key": DEMO_DEVICE_SECRET, "lat": "30.29", "lon": "120.16"})
    assert_problem(no_id, 401)


def test_traccars_zone_less_timestamp_is_utc(client: Any, session: Session, demo: DemoOrg) -> None:
    taken = (utcnow() - timedelta(seconds=6)).replace(microsecond=0)
    text = taken.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    query = f"id=T-1001&lat=30.2922&lon=120.1622&timestamp={text.replace(' ', '+')}"
    response = client.post(f"{URL}?{query}&key={DEMO_DEVICE_SECRET}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"stored": 1}
    stored = session.scalar(select(Position).where(Position.lat == 30.2922))
    assert stored is not None and stored.ts == taken


def test_the_timestamp_forms_agree() -> None:
    base = {"id": "T-1", "lat": "30.1", "lon": "120.1"}
    epoch = int(datetime(2026, 11, 29, tzinfo=UTC).timestamp())
    forms = [str(epoch), f"{epoch}000", "2026-11-29T00:00:00Z", "2026-11-29 00:00:00"]
    times = {decode_osmand({**base, "timestamp": form}).ts for form in forms}
    assert len(times) == 1
    fraction = decode_osmand({**base, "timestamp": "2026-11-29 00:00:00.250"}).ts
    assert fraction.microsecond == 250_000
