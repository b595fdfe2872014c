"""A seal number is on one in-service meter at a time: REST meters, seal events, handheld pushes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import text

from backend.archive import versions
from backend.archive.records import Meter
from backend.archive.seals import SealTaken, check_seals_free
from backend.auth.actor import Actor
from tests.archive.helpers import customer_body, meter_body
from tests.conftest import assert_problem
from tests.inspection.helpers import push, station_file
from tests.sync.conftest import token
from tests.sync.helpers import batch, mutation
from tests.tracking.brokers import wait_until


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


def _committed_meters(client: Any, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Meters without seals on one new file in the inspector's station, committed."""
    departments = client.get("/api/v1/departments", headers=headers).get_json()
    station = next(d["id"] for d in departments if d["code"] == "ST-URB")
    body = customer_body(department_id=station)
    file = client.post("/api/v1/customers", json=body, headers=headers).get_json()
    url = f"/api/v1/premises/{file['premises'][0]['id']}/meters"
    return [
        client.post(url, json=meter_body(seals=[]), headers=headers).get_json()
        for _ in range(count)
    ]


def _blocked_on_the_key(database: Any) -> bool:
    """PostgreSQL: another transaction waits on a lock (the seal's key). SQLite has one writer:
    the other waits before it reads, so there the race is decided by the check."""
    if database.dialect != "postgresql":
        return True
    with database.engine.connect() as conn:
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        return bool(conn.execute(text(waiting)).scalar_one())


@contextmanager
def _sealed_uncommitted(database: Any, meter: dict[str, Any], seal: str) -> Iterator[None]:
    """Hold `seal` written on `meter`, not committed, while the caller's block runs."""
    with database.unit_of_work() as session:
        system = Actor(kind="system", id=0, label="t", department_id=0, department_path="/")
        check_seals_free(session, actor=system, seals=[seal])
        head = session.get(Meter, uuid.UUID(meter["id"]))
        versions.append(session, head, {"seals": [seal]}, actor="t", reason="r", source="ui")
        yield


def test_two_writers_that_both_found_a_seal_free_cannot_both_commit_it(
    sync_app, backend, committed_db
):
    """The key on the in-service seals decides a race the checks (run before writing) miss."""
    client = sync_app.test_client()
    headers = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    first, second, third = _committed_meters(client, headers, 3)
    seal = f"RACE-{uuid.uuid4().hex[:12]}"

    def second_writer() -> None:  # its check passed while the first had not committed
        with committed_db.unit_of_work() as session:
            head = session.get(Meter, uuid.UUID(second["id"]))
            versions.append(session, head, {"seals": [seal]}, actor="t", reason="r", source="ui")

    with ThreadPoolExecutor(max_workers=1) as pool:
        with _sealed_uncommitted(committed_db, first, seal):
            late = pool.submit(second_writer)
            wait_until(lambda: _blocked_on_the_key(committed_db))
        with pytest.raises(SealTaken) as refused:
            late.result()
    # A flush knows no caller: the key's refusal names the seal, never the other meter.
    assert refused.value.extensions == {"seal_number": seal}

    # A handheld's seal event racing the same way is refused: on PostgreSQL the key refuses the
    # batch at its flush (409, nothing of it kept; a resend is judged by the check), on SQLite
    # the push waits for the writer and its check rejects the mutation.
    other_seal = f"RACE-{uuid.uuid4().hex[:12]}"
    inspector = {"Authorization": f"Bearer {token(backend, 'inspector')}"}
    event = {"meter_id": third["id"], "kind": "seal_applied", "seal_number": other_seal}
    with ThreadPoolExecutor(max_workers=1) as pool:
        with _sealed_uncommitted(committed_db, second, other_seal):
            push = batch(mutation("meter_event", "append", event))
            pushed = pool.submit(client.post, "/api/v1/sync/push", json=push, headers=inspector)
            wait_until(lambda: _blocked_on_the_key(committed_db))  # it was authorized
        response = pushed.result()
    if response.status_code == 409:
        problem = assert_problem(response, 409, "seal-taken")
        assert problem["seal_number"] == other_seal and "meter_number" not in problem
    else:
        assert response.status_code == 200, response.get_json()
        verdict = response.get_json()["verdicts"][0]
        assert verdict["verdict"] == "rejected" and second["number"] in verdict["problem"]["detail"]

    seals = {m["id"]: client.get(f"/api/v1/meters/{m['id']}", headers=headers).get_json()["seals"]
             for m in (first, second, third)}  # fmt: skip
    assert seals == {first["id"]: [seal], second["id"]: [other_seal], third["id"]: []}
