"""A seal number is on one in-service meter at a time: REST meters, seal events, handheld pushes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from backend.archive import versions
from backend.archive.records import Meter
from backend.archive.seals import SealTaken, check_seals_free
from tests.archive.helpers import customer_body, meter_body
from tests.conftest import assert_problem
from tests.inspection.helpers import push, station_file
from tests.sync.conftest import token
from tests.sync.helpers import mutation


def _meter(api: Any, demo: Any, **overrides: Any) -> dict[str, Any]:
    file = station_file(api, demo)  # a file in the inspector's station, with one meter
    archivist = api("archivist")
    response = archivist.post(
        f"/api/v1/premises/{file['premise_id']}/meters", json=meter_body(**overrides)
    )
    assert response.status_code == 201, response.get_json()
    meter: dict[str, Any] = response.get_json()
    return meter


def _seal_taken(response: Any, holder: dict[str, Any], seal: str) -> None:
    problem = assert_problem(response, 409, "seal-taken")
    assert (problem["seal_number"], problem["meter_id"], problem["meter_number"]) == (
        seal,
        holder["id"],
        holder["number"],
    )
    assert holder["number"] in problem["detail"]


def test_a_seal_on_one_meter_is_refused_on_another_installed_or_changed(api, demo):
    archivist = api("archivist")
    holder = _meter(api, demo, seals=["SEAL-A1", "SEAL-A2"])
    other = _meter(api, demo, seals=[])
    premise = other["premise_id"]
    new = archivist.post(
        f"/api/v1/premises/{premise}/meters", json=meter_body(seals=["SEAL-X", "SEAL-A2"])
    )
    _seal_taken(new, holder, "SEAL-A2")
    changed = archivist.patch(
        f"/api/v1/meters/{other['id']}", json={"seals": ["SEAL-A1"], "reason": "resealed"}
    )
    _seal_taken(changed, holder, "SEAL-A1")
    assert archivist.get(f"/api/v1/meters/{other['id']}").get_json()["seals"] == []
    # The holder keeps its own seals through a change; a seal that only looks alike is free.
    own = archivist.patch(
        f"/api/v1/meters/{holder['id']}", json={"seals": ["SEAL-A2"], "reason": "one cut"}
    )
    assert own.status_code == 200, own.get_json()
    alike = archivist.patch(
        f"/api/v1/meters/{other['id']}", json={"seals": ["SEAL-A"], "reason": "sealed"}
    )
    assert alike.status_code == 200, alike.get_json()


def test_a_removed_meter_frees_its_seals_until_it_returns_to_service(api, demo):
    archivist = api("archivist")
    holder = _meter(api, demo, seals=["SEAL-R1"])
    removed = archivist.patch(
        f"/api/v1/meters/{holder['id']}", json={"status": "removed", "reason": "replaced"}
    )
    assert removed.status_code == 200, removed.get_json()
    successor = _meter(api, demo, seals=["SEAL-R1"])  # the seal moved with the new meter
    back = archivist.patch(
        f"/api/v1/meters/{holder['id']}", json={"status": "in_service", "reason": "refitted"}
    )
    _seal_taken(back, successor, "SEAL-R1")


def test_seal_events_over_rest_and_from_handhelds_take_the_same_rule(api, demo):
    holder = _meter(api, demo, seals=["SEAL-E1"])
    file = station_file(api, demo)
    inspector = api("inspector")
    applied = inspector.post(
        f"/api/v1/meters/{file['meter_id']}/events",
        json={"kind": "seal_applied", "seal_number": "SEAL-E1"},
    )
    _seal_taken(applied, holder, "SEAL-E1")
    verdicts = push(
        inspector,
        mutation(
            "meter_event",
            "append",
            {"meter_id": file["meter_id"], "kind": "seal_applied", "seal_number": "SEAL-E1"},
        ),
        mutation(
            "meter_event",
            "append",
            {"meter_id": file["meter_id"], "kind": "seal_applied", "seal_number": "SEAL-E2"},
        ),
    )
    assert [v["verdict"] for v in verdicts] == ["rejected", "applied"]
    assert holder["number"] in verdicts[0]["problem"]["detail"]
    seals = inspector.get(f"/api/v1/meters/{file['meter_id']}").get_json()["seals"]
    assert "SEAL-E1" not in seals and "SEAL-E2" in seals


def test_two_writers_that_both_found_a_seal_free_cannot_both_commit_it(
    sync_app, backend, committed_db
):
    """The key on the in-service seals decides a race the checks (run before writing) miss."""
    client = sync_app.test_client()
    headers = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    file = client.post("/api/v1/customers", json=customer_body(), headers=headers).get_json()
    url = f"/api/v1/premises/{file['premises'][0]['id']}/meters"
    first, second = (
        client.post(url, json=meter_body(seals=[]), headers=headers).get_json() for _ in range(2)
    )
    seal = f"RACE-{uuid.uuid4().hex[:12]}"

    def seal_meter(session: Any, meter: dict[str, Any]) -> None:
        head = session.get(Meter, uuid.UUID(meter["id"]))
        versions.append(session, head, {"seals": [seal]}, actor="t", reason="r", source="ui")

    def second_writer() -> None:  # its check passed while the first had not committed
        with committed_db.unit_of_work() as session:
            seal_meter(session, second)

    with ThreadPoolExecutor(max_workers=1) as pool:
        with committed_db.unit_of_work() as session:
            check_seals_free(session, seals=[seal])
            seal_meter(session, first)  # written, not committed: the second writer waits
            late = pool.submit(second_writer)
        with pytest.raises(SealTaken) as refused:
            late.result()
    assert (refused.value.extensions["meter_id"], refused.value.extensions["seal_number"]) == (
        first["id"],
        seal,
    )
    seals = {m["id"]: client.get(f"/api/v1/meters/{m['id']}", headers=headers).get_json()["seals"]
             for m in (first, second)}  # fmt: skip
    assert seals == {first["id"]: [seal], second["id"]: []}
