"""A fault record's `restored_at` is a time of observation: bounded ahead of the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync.entities import FUTURE_ALLOWANCE
from sync.protocol import format_time
from tests.conftest import assert_problem
from tests.dispatch.test_bad_input import dispatched, post_event
from tests.inspection.helpers import push
from tests.sync.helpers import mutation

SOON = timedelta(minutes=1)  # within the allowance, whatever the test's own pace
LATE = FUTURE_ALLOWANCE + timedelta(minutes=5)  # beyond it, whatever the test's own pace


def _finished(api, demo) -> str:
    oid = dispatched(api, demo)
    for point in ("E", "F", "G", "H", "finished"):
        response = post_event(api, oid, point)
        assert response.status_code == 201, response.get_json()
    return oid


def test_restored_at_beyond_the_allowance_is_refused_over_rest_and_sync(api, demo):
    crew = api("crew1")
    oid = _finished(api, demo)
    now = datetime.now(UTC)
    late_at = format_time(now + LATE)
    pushed = mutation(
        "fault_record", "create", {"order_id": oid, "cause": "fallen tree", "restored_at": late_at}
    )
    (verdict,) = push(crew, pushed)
    assert verdict["verdict"] == "rejected", verdict
    assert verdict["problem"]["type"] == "sync-invalid-value", verdict
    assert "restored_at" in verdict["problem"]["detail"]
    url = f"/api/v1/work-orders/{oid}/fault-record"
    late = assert_problem(crew.put(url, json={"cause": "fallen tree", "restored_at": late_at}), 422)
    assert [e["field"] for e in late["errors"]] == ["restored_at"], late
    assert "ahead of the server clock" in str(late["errors"])
    assert_problem(crew.get(url), 404)
    soon = crew.put(url, json={"cause": "fallen tree", "restored_at": format_time(now + SOON)})
    assert soon.status_code == 200, soon.get_json()
