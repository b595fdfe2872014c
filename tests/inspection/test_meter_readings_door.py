"""A meter's reading history over REST answers as the readings' sync pull does.

Readings are field records (`field_record_filter`): whoever captured them, their crews, and
the department-wide readers; not the archivist or the call center, who read the file.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import assert_problem
from tests.inspection.helpers import reading_at, station_file


def test_reading_history_follows_the_field_record_rule(api: Any, demo: Any) -> None:
    file = station_file(api, demo)
    reading_at(api("inspector"), file, value=1520.5)
    url = f"/api/v1/meters/{file['meter_id']}/readings"
    mine = api("inspector").get(url)
    assert mine.status_code == 200, mine.get_json()
    assert [r["value"] for r in mine.get_json()] == [1520.5]
    assert [r["value"] for r in api("admin").get(url).get_json()] == [1520.5]
    for reader_of_the_file in ("archivist", "callcenter"):
        assert api(reader_of_the_file).get(f"/api/v1/meters/{file['meter_id']}").status_code == 200
        assert_problem(api(reader_of_the_file).get(url), 403)
