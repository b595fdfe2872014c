"""A taken meter number names the other meter only to a caller who may read it, at every door.

The inspector edits meters in ST-URB: a meter there is named to it (409 with its id); a meter
in ST-SUB (403 to it on `GET /meters/{id}`) is only "already registered": no id, no customer,
no department. The archivist reads every department, so the meter is named to it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from backend.archive.records import Meter
from backend.auth.models import User
from backend.auth.passwords import hash_secret
from tests.archive.helpers import meter_body, meter_on_new_file
from tests.archive.test_import_export import _csv, _post, _row
from tests.archive.test_seal_disclosure import _verification_item
from tests.conftest import assert_problem
from tests.inspection.helpers import push, station_file
from tests.sync.helpers import mutation

HIDDEN = "is already registered"
PASSWORD = "long-enough-password"


def _meter_in(api: Any, demo: Any, station: str) -> dict[str, Any]:
    """A meter without seals on a new file of `station`, with the file's ids."""
    return meter_on_new_file(api, demo, station, [])


def _reveals(text: str, holder: dict[str, Any]) -> bool:
    return any(holder[key] in text for key in ("id", "customer_id", "premise_id"))


def test_a_new_meter_with_a_taken_number_names_only_a_readable_meter(api, demo):
    inspector = api("inspector")
    visible, foreign = _meter_in(api, demo, "ST-URB"), _meter_in(api, demo, "ST-SUB")
    assert inspector.get(f"/api/v1/meters/{foreign['id']}").status_code == 403
    premise = station_file(api, demo)["premise_id"]
    url = f"/api/v1/premises/{premise}/meters"

    hidden = inspector.post(url, json=meter_body(number=foreign["number"], seals=[]))
    problem = assert_problem(hidden, 409, "meter-number-taken")
    assert problem["meter_number"] == foreign["number"] and HIDDEN in problem["detail"]
    assert "meter_id" not in problem
    assert not _reveals(hidden.get_data(as_text=True), foreign)

    named = inspector.post(url, json=meter_body(number=visible["number"], seals=[]))
    problem = assert_problem(named, 409, "meter-number-taken")
    assert problem["meter_id"] == visible["id"] and "already exists" in problem["detail"]

    archivist = api("archivist").post(url, json=meter_body(number=foreign["number"], seals=[]))
    assert assert_problem(archivist, 409, "meter-number-taken")["meter_id"] == foreign["id"]


def test_field_verification_names_only_a_readable_meter_over_rest_and_sync(api, demo):
    inspector = api("inspector")
    visible, foreign = _meter_in(api, demo, "ST-URB"), _meter_in(api, demo, "ST-SUB")
    meter, item = _verification_item(api, demo)
    for holder, shown in ((visible, True), (foreign, False)):
        corrections = {"meter_id": meter["id"], "meter.number": holder["number"]}
        refused = inspector.post(f"{item}/check", json={"corrections": corrections})
        (message,) = assert_problem(refused, 422)["errors"][0]["messages"]
        assert (HIDDEN in message) is not shown and ("already exists" in message) is shown
        assert not _reveals(message, holder)
        item_id = item.rsplit("/", 1)[1]
        pushed = mutation(
            "verification_item", "update", {"corrections": corrections, "status": "checked"},
            record_id=item_id, base=1,
        )  # fmt: skip
        (verdict,) = push(inspector, pushed)
        assert verdict["verdict"] == "rejected", verdict
        assert verdict["problem"]["type"] == "sync-invalid-value", verdict
        detail = verdict["problem"]["detail"]
        assert "meter.number" in detail and (HIDDEN in detail) is not shown, detail
        assert not _reveals(str(verdict), holder)


def _station_archivist(session: Any, demo: Any) -> str:
    """An archivist of ST-URB only (the demo's archivist reads every department)."""
    username = f"urb-archivist-{uuid.uuid4().hex[:6]}"
    session.add(
        User(username=username, full_name="Station archivist", role="archivist",
             password_hash=hash_secret(PASSWORD), department_id=demo.departments["ST-URB"].id)
    )  # fmt: skip
    session.flush()
    return username


def test_an_import_row_with_a_taken_number_names_only_a_readable_meter(api, demo, session):
    visible, foreign = _meter_in(api, demo, "ST-URB"), _meter_in(api, demo, "ST-SUB")
    importer = api()
    importer.login(_station_archivist(session, demo), PASSWORD)
    assert importer.get(f"/api/v1/meters/{foreign['id']}").status_code == 403
    rows = [_row(电能表编号=foreign["number"]), _row(电能表编号=visible["number"])]
    response = _post(importer, _csv(rows), dry_run=True)
    problem = assert_problem(response, 422)
    reasons = {e["row"]: e["reason"] for e in problem["row_errors"] if e["column"] == "电能表编号"}
    assert HIDDEN in reasons[2] and "already exists" in reasons[3], reasons
    assert not _reveals(response.get_data(as_text=True), foreign)


def test_two_meters_racing_for_one_number_end_in_409_not_500(api, demo, db, monkeypatch):
    """The check passes both writers of a new number; the unique key refuses the second.

    The race is staged by letting the check see no holder (as the second writer's check does
    when the first has not committed yet): the key's refusal is a 409, nothing written.
    """
    from backend.archive import meters

    first = _meter_in(api, demo, "ST-URB")
    monkeypatch.setattr(meters, "number_holder", lambda *args, **kwargs: None)
    premise = station_file(api, demo)["premise_id"]
    archivist = api("archivist")
    raced = archivist.post(
        f"/api/v1/premises/{premise}/meters", json=meter_body(number=first["number"], seals=[])
    )
    problem = assert_problem(raced, 409, "conflict")
    assert not _reveals(problem["detail"], first)
    with db.unit_of_work() as session:
        holders = session.scalars(select(Meter.id).where(Meter.number == first["number"])).all()
    assert [str(h) for h in holders] == [first["id"]]
