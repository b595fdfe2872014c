"""Photos' and meter events' times of observation share the readings' bound ahead of the server."""

from __future__ import annotations

from datetime import UTC, datetime

from sync.protocol import format_time
from tests.conftest import assert_problem
from tests.inspection.helpers import inspection_at, push, station_file
from tests.inspection.test_reading_bounds import LATE, SOON, push_path  # noqa: F401 - fixture
from tests.sync.helpers import mutation


def _photo(inspection_id: str, taken_at: str) -> dict[str, object]:
    fields = {"sha256": "c" * 64, "inspection_id": inspection_id, "taken_at": taken_at}
    return mutation("photo", "append", fields)


def test_a_photo_taken_beyond_the_allowance_is_refused(api, demo, push_path):  # noqa: F811
    inspector = api("inspector")
    file = station_file(api, demo)
    inspection_id = inspection_at(inspector, file["premise_id"])
    now = datetime.now(UTC)
    late, soon = push(
        inspector,
        _photo(inspection_id, format_time(now + LATE)),
        _photo(inspection_id, format_time(now + SOON)),
    )
    assert late["verdict"] == "rejected", late
    assert late["problem"]["type"] == "sync-invalid-value", late
    assert "taken_at" in late["problem"]["detail"]
    assert "ahead of the server clock" in late["problem"]["detail"]
    assert soon["verdict"] == "applied", soon


def test_a_meter_event_beyond_the_allowance_is_refused(api, demo):
    inspector = api("inspector")
    file = station_file(api, demo)
    url = f"/api/v1/meters/{file['meter_id']}/events"
    (seal,) = inspector.get(f"/api/v1/meters/{file['meter_id']}").json["seals"]
    body = {"kind": "fault_found", "fault": "broken_seal", "seal_number": seal}
    now = datetime.now(UTC)
    late = assert_problem(
        inspector.post(url, json={**body, "occurred_at": (now + LATE).isoformat()}), 422
    )
    assert [e["field"] for e in late["errors"]] == ["occurred_at"], late
    assert "ahead of the server clock" in str(late["errors"])
    assert inspector.get(url).json == []
    done = inspector.post(url, json={**body, "occurred_at": (now + SOON).isoformat()})
    assert done.status_code == 201, done.get_json()
