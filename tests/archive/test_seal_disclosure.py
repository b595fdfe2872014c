"""A taken seal names the other meter only to a caller who may read it, at every door.

The inspector works in ST-URB: a meter there is named to it; a meter in ST-SUB (403 to it on
`GET /meters/{id}`) is only "another meter", else sequential seal numbers would map seals to
meters across departments.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.archive.helpers import customer_body, meter_body, meter_on_new_file
from tests.conftest import assert_problem
from tests.inspection.helpers import push, station_file
from tests.sync.helpers import mutation

HIDDEN = "is in use on another meter"


def _sealed_meter(api: Any, demo: Any, station: str) -> dict[str, Any]:
    """An in-service meter with one fresh seal, on a new file of `station`."""
    return meter_on_new_file(api, demo, station, [f"SD-{uuid.uuid4().hex[:10]}"])


def _named(response: Any, holder: dict[str, Any]) -> None:
    problem = assert_problem(response, 409, "seal-taken")
    assert (problem["seal_number"], problem["meter_id"], problem["meter_number"]) == (
        holder["seals"][0], holder["id"], holder["number"],
    )  # fmt: skip
    assert holder["number"] in problem["detail"]


def _hidden(response: Any, holder: dict[str, Any]) -> None:
    problem = assert_problem(response, 409, "seal-taken")
    assert problem["seal_number"] == holder["seals"][0] and HIDDEN in problem["detail"]
    assert "meter_id" not in problem and "meter_number" not in problem
    assert holder["number"] not in response.get_data(as_text=True)
    assert holder["id"] not in response.get_data(as_text=True)


def test_rest_seal_events_and_meter_changes_name_only_a_readable_meter(api, demo):
    inspector = api("inspector")
    visible, foreign = _sealed_meter(api, demo, "ST-URB"), _sealed_meter(api, demo, "ST-SUB")
    assert inspector.get(f"/api/v1/meters/{foreign['id']}").status_code == 403
    own = station_file(api, demo)["meter_id"]
    events = f"/api/v1/meters/{own}/events"
    for holder, expect in ((visible, _named), (foreign, _hidden)):
        seal = holder["seals"][0]
        expect(inspector.post(events, json={"kind": "seal_applied", "seal_number": seal}), holder)
        change = {"seals": [seal], "reason": "resealed"}
        expect(inspector.patch(f"/api/v1/meters/{own}", json=change), holder)
    # The archivist reads every department: the meter is named to it, on a new meter too.
    premise = api("archivist").get(f"/api/v1/meters/{own}").get_json()["premise_id"]
    new = meter_body(seals=[foreign["seals"][0]])
    _named(api("archivist").post(f"/api/v1/premises/{premise}/meters", json=new), foreign)


def test_sync_seal_events_name_only_a_readable_meter(api, demo):
    inspector = api("inspector")
    visible, foreign = _sealed_meter(api, demo, "ST-URB"), _sealed_meter(api, demo, "ST-SUB")
    own = station_file(api, demo)["meter_id"]
    verdicts = push(
        inspector,
        *(
            mutation(
                "meter_event",
                "append",
                {"meter_id": own, "kind": "seal_applied", "seal_number": m["seals"][0]},
            )
            for m in (visible, foreign)
        ),
    )
    assert [v["verdict"] for v in verdicts] == ["rejected", "rejected"]
    named, hidden = (v["problem"]["detail"] for v in verdicts)
    assert visible["number"] in named
    assert HIDDEN in hidden and foreign["number"] not in str(verdicts[1])


def _verification_item(api: Any, demo: Any) -> tuple[dict[str, Any], str]:
    """An ST-URB file without seals, in a batch assigned to the inspector; its check URL."""
    archivist, inspector = api("archivist"), api("inspector")
    station = demo.departments["ST-URB"].id
    body = customer_body(department_id=station)
    customer = archivist.post("/api/v1/customers", json=body).get_json()
    premise = customer["premises"][0]["id"]
    meter = archivist.post(f"/api/v1/premises/{premise}/meters", json=meter_body(seals=[]))
    batch = archivist.post(
        "/api/v1/verification-batches",
        json={
            "name": f"Seals {uuid.uuid4().hex[:6]}",
            "department_id": station,
            "customer_type": body["customer_type"],
            "flags": ["no_seal"],
            "assignee_ids": [demo.users["inspector"].id],
        },
    ).get_json()
    items = inspector.get(f"/api/v1/verification-batches/{batch['id']}/items").get_json()
    (item,) = [i for i in items if i["customer_id"] == customer["id"]]
    return meter.get_json(), f"/api/v1/verification-items/{item['id']}"


def test_field_verification_names_only_a_readable_meter_when_pushed_and_when_applied(api, demo):
    inspector, supervisor = api("inspector"), api("supervisor")
    visible, foreign = _sealed_meter(api, demo, "ST-URB"), _sealed_meter(api, demo, "ST-SUB")
    meter, item = _verification_item(api, demo)
    for holder, shown in ((visible, True), (foreign, False)):
        corrections = {"meter_id": meter["id"], "meter.seals": holder["seals"][0]}
        refused = inspector.post(f"{item}/check", json={"corrections": corrections})
        (message,) = assert_problem(refused, 422)["errors"][0]["messages"]
        assert (holder["number"] in message) is shown and (HIDDEN in message) is not shown

    # Checked while free, then the seal goes on the foreign meter before the review: the
    # supervisor reads that department, so the refusal at approval names it.
    seal = f"SD-{uuid.uuid4().hex[:10]}"
    corrections = {"meter_id": meter["id"], "meter.seals": seal}
    checked = inspector.post(f"{item}/check", json={"corrections": corrections})
    assert checked.status_code == 200, checked.get_json()
    resealed = api("archivist").patch(
        f"/api/v1/meters/{foreign['id']}", json={"seals": [seal], "reason": "resealed"}
    )
    assert resealed.status_code == 200, resealed.get_json()
    review = supervisor.post(f"{item}/review", json={"approve": True})
    (message,) = assert_problem(review, 422)["errors"][0]["messages"]
    assert f"{seal} is on meter {foreign['number']}" in message
