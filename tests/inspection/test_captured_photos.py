"""Hazard and meter-event photos: every door applies the records' own visibility.

Hazards and meter events are the inspectors' records (`captured_visible`: whoever captured
them, and inspection staff of the department), not every crew member's or reader's of the
station. Their photos' bytes follow the same rule through `/blobs`, and a REST write may name
only a blob the caller may name in a sync push (`may_reference`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.conftest import assert_problem
from tests.inspection.helpers import PREMISE, jpeg, station_file


def _upload(who: Any, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    stored = who.put(f"/api/v1/blobs/{sha}", data=data, headers={"Content-Type": "image/jpeg"})
    assert stored.status_code == 200, stored.get_json()
    return sha


def _hazard(file: dict[str, Any], sha: str) -> dict[str, Any]:
    return {
        "premise_id": file["premise_id"],
        "severity": "high",
        "category": "no_earthing",
        "description": "Earthing conductor of the meter box cut",
        "lat": PREMISE[0],
        "lon": PREMISE[1],
        "photo_sha256": sha,
    }


def test_a_hazard_photo_is_read_as_the_hazard_is(api: Any, demo: Any) -> None:
    inspector = api("inspector")
    file = station_file(api, demo)
    sha = _upload(inspector, jpeg(PREMISE))
    created = inspector.post("/api/v1/hazards", json=_hazard(file, sha))
    assert created.status_code == 201, created.get_json()
    assert api("inspector").get(f"/api/v1/blobs/{sha}/content").status_code == 200
    # A crew member of the station and the archivist do not read the hazard, so not its photo.
    for outsider in ("crew6", "archivist"):
        assert_problem(api(outsider).get(f"/api/v1/hazards/{created.get_json()['id']}"), 403)
        assert_problem(api(outsider).get(f"/api/v1/blobs/{sha}/content"), 404)


def test_a_rest_write_may_not_name_someone_elses_photo(api: Any, demo: Any) -> None:
    inspector = api("inspector")
    file = station_file(api, demo)
    theirs = _upload(api("crew1"), jpeg(PREMISE))
    assert_problem(inspector.get(f"/api/v1/blobs/{theirs}/content"), 404)
    refused = assert_problem(inspector.post("/api/v1/hazards", json=_hazard(file, theirs)), 422)
    assert refused["errors"][0]["field"] == "photo_sha256"
    event = {"kind": "fault_found", "fault": "stuck", "photo_sha256": theirs}
    url = f"/api/v1/meters/{file['meter_id']}/events"
    refused = assert_problem(inspector.post(url, json=event), 422)
    assert refused["errors"][0]["field"] == "photo_sha256"
    assert_problem(inspector.get(f"/api/v1/blobs/{theirs}/content"), 404)
    # Its own upload it names freely.
    mine = _upload(inspector, jpeg(PREMISE))
    assert inspector.post(url, json={**event, "photo_sha256": mine}).status_code == 201
