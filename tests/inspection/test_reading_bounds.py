"""Readings and GPS fixes out of bounds are refused at every door; none pins a meter's reading."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from backend.archive import versions
from backend.archive.records import Meter
from sync import store
from sync.entities import FUTURE_ALLOWANCE, GPS_ACCURACY_MAXIMUM_M, REGISTER_MAXIMUM
from sync.protocol import format_time
from sync.store import apply as store_apply
from tests.conftest import assert_problem
from tests.inspection.helpers import push, station_file
from tests.sync.helpers import mutation

SOON = timedelta(minutes=1)  # within the allowance, whatever the test's own pace
LATE = FUTURE_ALLOWANCE + timedelta(minutes=5)  # beyond it, whatever the test's own pace


def _reading(file: dict[str, str], value: object, read_at: str) -> dict[str, object]:
    fields = {"meter_id": file["meter_id"], "value": value, "reading_kind": "kwh"}
    return mutation("meter_reading", "append", {**fields, "read_at": read_at})


def _fix(acc: object, ts: str) -> dict[str, object]:
    return mutation("gps_fix", "append", {"lat": 30.25, "lon": 120.17, "acc": acc, "ts": ts})


def _meter(inspector, file: dict[str, str]) -> dict[str, object]:
    response = inspector.get(f"/api/v1/meters/{file['meter_id']}")
    assert response.status_code == 200, response.get_json()
    at = response.json["last_read_at"]
    return {
        "last_reading": response.json["last_reading"],
        "last_read_at": None if at is None else datetime.fromisoformat(at),
    }


@pytest.fixture(params=[True, False], ids=["compiled", "merge"])
def push_path(request, monkeypatch):
    """Both doors of the push: the compiled fast path and the general merge path."""
    judged = functools.partial(store_apply.push, compiled=request.param)
    monkeypatch.setattr(store, "push", judged)
    return request.param


def test_the_reported_reading_is_refused_and_the_meter_keeps_its_last_reading(api, demo, push_path):
    inspector = api("inspector")
    file = station_file(api, demo)
    before = _meter(inspector, file)
    (frozen,) = push(inspector, _reading(file, 1e308, "9999-12-31T23:59:59+14:00"))
    assert frozen["verdict"] == "rejected", frozen
    assert "value" in frozen["problem"]["detail"] and "read_at" in frozen["problem"]["detail"]
    assert _meter(inspector, file) == before
    read_at = datetime.now(UTC) - timedelta(minutes=1)
    (normal,) = push(inspector, _reading(file, 1520.5, format_time(read_at)))
    assert normal["verdict"] == "applied", normal
    assert _meter(inspector, file) == {"last_reading": 1520.5, "last_read_at": read_at}


def test_readings_and_fixes_at_the_bounds(api, demo, push_path):
    inspector = api("inspector")
    file = station_file(api, demo)
    now = datetime.now(UTC)
    past, soon, late = format_time(now - SOON), format_time(now + SOON), format_time(now + LATE)
    cases = {
        "largest register value": (_reading(file, REGISTER_MAXIMUM, past), "applied"),
        "zero": (_reading(file, 0, past), "applied"),
        "within the allowance": (_reading(file, 1.0, soon), "applied"),
        "beyond any register": (_reading(file, REGISTER_MAXIMUM * 1.000001, past), "rejected"),
        "negative": (_reading(file, -0.001, past), "rejected"),
        "beyond the allowance": (_reading(file, 1.0, late), "rejected"),
        "worst accuracy": (_fix(GPS_ACCURACY_MAXIMUM_M, past), "applied"),
        "fix within the allowance": (_fix(5, soon), "applied"),
        "beyond the worst accuracy": (_fix(GPS_ACCURACY_MAXIMUM_M + 0.5, past), "rejected"),
        "huge accuracy": (_fix(1e308, past), "rejected"),
        "fix from the future": (_fix(5, late), "rejected"),
        "fix from year 9999": (_fix(5, "9999-12-31T23:59:59+14:00"), "rejected"),
    }
    verdicts = push(inspector, *(sent for sent, _ in cases.values()))
    assert {name: v["verdict"] for name, v in zip(cases, verdicts, strict=True)} == {
        name: expected for name, (_, expected) in cases.items()
    }
    refused = {v["problem"]["detail"] for v in verdicts if v["verdict"] == "rejected"}
    assert all("ahead of the server clock" in d or "must be" in d for d in refused), refused
    # The last reading is the latest read_at among accepted ones: the one within the allowance.
    assert _meter(inspector, file) == {
        "last_reading": 1.0,
        "last_read_at": datetime.fromisoformat(soon),
    }


def test_a_head_from_the_future_stored_before_the_bounds_gives_way(api, demo, session):
    inspector = api("inspector")
    file = station_file(api, demo)
    meter = session.get(Meter, uuid.UUID(file["meter_id"]))
    pinned = {"last_reading": 1e308, "last_read_at": datetime(9999, 12, 31, 9, 59, 59, tzinfo=UTC)}
    versions.append(session, meter, pinned, actor="test", reason="meter reading", source="sync")
    session.flush()
    assert _meter(inspector, file) == pinned
    read_at = datetime.now(UTC) - timedelta(minutes=1)
    (verdict,) = push(inspector, _reading(file, 42.0, format_time(read_at)))
    assert verdict["verdict"] == "applied", verdict
    assert _meter(inspector, file) == {"last_reading": 42.0, "last_read_at": read_at}


def test_remote_readings_out_of_bounds_are_refused(api, demo):
    supervisor = api("supervisor")
    file = station_file(api, demo)
    now = datetime.now(UTC)
    for value, read_at in [
        (1e308, now - SOON),
        (REGISTER_MAXIMUM * 2, now - SOON),
        (5.0, now + LATE),
        (5.0, datetime(9999, 12, 31, tzinfo=UTC)),
    ]:
        rows = [{"meter_id": file["meter_id"], "value": value, "read_at": read_at.isoformat()}]
        response = supervisor.post("/api/v1/meter-readings/remote", json={"readings": rows})
        assert_problem(response, 422)
    rows = [{"meter_id": file["meter_id"], "value": REGISTER_MAXIMUM, "read_at": now.isoformat()}]
    response = supervisor.post("/api/v1/meter-readings/remote", json={"readings": rows})
    assert response.status_code == 201, response.get_json()
