"""Outages: propagation, notifications, the state machine, overlap, automatic restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.db import Database
from backend.network import notify, restore_worker
from backend.network.outages import call_off_lapsed, restore_due
from tests.conftest import assert_problem
from tests.network.helpers import make_area, make_customer, make_line


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def outage_body(line: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "kind": "planned",
        "scope": "line",
        "line_id": line["id"],
        "reason": "10 kV maintenance",
        "starts_at": _iso(now - timedelta(minutes=10)),
        "planned_end_at": _iso(now + timedelta(hours=4)),
    }
    body.update(overrides)
    return body


def _network(api: Any) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    a1 = make_area(dispatcher, line["id"], section="K1")
    a2 = make_area(dispatcher, line["id"])
    hospital = make_customer(archivist, a1, name="市第一人民医院")
    make_customer(archivist, a1)
    make_customer(archivist, a2)
    archivist.put(f"/api/v1/customers/{hospital['id']}/flags", json={"high_risk": True})
    return line, [a1, a2], hospital


class RecordingSender:
    channel = "test"

    def __init__(self, refuse: int = 0) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.refuse = refuse  # refuse the first N messages (a gateway hiccup)

    def send(self, phone: str, text: str, *, key: str) -> bool:
        if self.refuse:
            self.refuse -= 1
            return False
        self.sent.append((phone, text, key))
        return True


def test_line_outage_propagates_and_notifies_flagged_customers(api: Any, db: Database) -> None:
    line, areas, hospital = _network(api)
    sender = RecordingSender()
    previous = notify.set_sender(sender)
    try:
        response = api("dispatcher").post("/api/v1/outages", json=outage_body(line))
        assert sender.sent == []  # written to the outbox with the outage, not sent inside it
        restore_worker.run_worker(db, once=True)
    finally:
        notify.set_sender(previous)
    assert response.status_code == 201, response.get_json()
    outage = response.get_json()
    assert outage["status"] == "confirmed"
    assert {a["area_id"] for a in outage["areas"]} == {a["id"] for a in areas}
    assert outage["customer_count"] == 3
    assert len(sender.sent) == 1 and "10 kV maintenance" in sender.sent[0][1]
    assert sender.sent[0][2] == f"{outage['id']}:{hospital['id']}:outage"
    notes = api("callcenter").get(f"/api/v1/outages/{outage['id']}/notifications").get_json()
    assert [(n["customer_id"], n["kind"], n["high_risk"], n["status"]) for n in notes] == [
        (hospital["id"], "outage", True, "sent")
    ]
    assert notes[0]["phone"].endswith("1234") and notes[0]["phone"].startswith("*")
    cut = api("archivist").get(f"/api/v1/outages/{outage['id']}/customers").get_json()
    assert len(cut) == 3
    flagged = api("archivist").get(f"/api/v1/outages/{outage['id']}/customers?flagged_only=1")
    assert [c["id"] for c in flagged.get_json()] == [hospital["id"]]


def test_section_and_area_outages_cut_only_their_areas(api: Any) -> None:
    line, (a1, a2), _ = _network(api)
    dispatcher = api("dispatcher")
    section = dispatcher.post(
        "/api/v1/outages", json=outage_body(line, scope="section", section="K1")
    ).get_json()
    assert [a["area_id"] for a in section["areas"]] == [a1["id"]]
    assert_problem(
        dispatcher.post("/api/v1/outages", json=outage_body(line, scope="section", section="X")),
        422,
    )
    later = datetime.now(UTC) + timedelta(days=2)
    area = dispatcher.post(
        "/api/v1/outages",
        json=outage_body(
            line,
            scope="area",
            line_id=None,
            area_id=a2["id"],
            kind="unplanned",
            starts_at=_iso(later),
            planned_end_at=_iso(later + timedelta(hours=1)),
        ),  # fmt: skip
    )
    assert area.status_code == 201, area.get_json()
    assert area.get_json()["line_id"] == line["id"]
    assert [a["area_id"] for a in area.get_json()["areas"]] == [a2["id"]]


def test_bad_outages_are_refused(api: Any) -> None:
    line, _, _ = _network(api)
    dispatcher = api("dispatcher")
    now = datetime.now(UTC)
    assert_problem(
        dispatcher.post(
            "/api/v1/outages", json=outage_body(line, planned_end_at=_iso(now - timedelta(days=1)))
        ),
        422,
    )
    assert dispatcher.post("/api/v1/outages", json=outage_body(line)).status_code == 201
    # Overlapping the first on the same line.
    overlapping = outage_body(
        line,
        starts_at=_iso(now + timedelta(hours=1)),
        planned_end_at=_iso(now + timedelta(hours=9)),
    )
    assert_problem(dispatcher.post("/api/v1/outages", json=overlapping), 409)
    assert_problem(
        dispatcher.post("/api/v1/outages", json=outage_body(line, starts_at="2026-01-01T10:00")),
        422,
    )
    assert_problem(api("crew1").post("/api/v1/outages", json=outage_body(line)), 403)
    assert_problem(api("callcenter").post("/api/v1/outages", json=outage_body(line)), 403)


def test_state_machine(api: Any) -> None:
    line, (a1, a2), _ = _network(api)
    dispatcher = api("dispatcher")
    outage = dispatcher.post(
        "/api/v1/outages", json=outage_body(line, status="predicted")
    ).get_json()
    url = f"/api/v1/outages/{outage['id']}"
    body = assert_problem(dispatcher.post(url + "/transition", json={"to": "restored"}), 409)
    assert body["current_state"] == "predicted"
    assert dispatcher.post(url + "/transition", json={"to": "confirmed"}).status_code == 200
    assert_problem(dispatcher.post(url + "/transition", json={"to": "partially_restored"}), 422)
    partial = dispatcher.post(
        url + "/transition", json={"to": "partially_restored", "area_ids": [a1["id"]]}
    ).get_json()
    assert partial["status"] == "partially_restored"
    restored = {a["area_id"]: a["restored_at"] for a in partial["areas"]}
    assert restored[a1["id"]] is not None and restored[a2["id"]] is None
    done = dispatcher.post(url + "/transition", json={"to": "restored"}).get_json()
    assert done["status"] == "restored" and done["restored_at"] is not None
    assert_problem(
        dispatcher.post(url + "/extend", json={"planned_end_at": _iso(datetime.now(UTC))}), 409
    )
    assert dispatcher.post(url + "/transition", json={"to": "closed"}).status_code == 200
    assert_problem(dispatcher.post(url + "/transition", json={"to": "confirmed"}), 409)
    # A restored line takes a new outage (no overlap with a finished one).
    assert dispatcher.post("/api/v1/outages", json=outage_body(line)).status_code == 201


def test_automatic_restore_at_planned_end_unless_extended(api: Any, session: Any) -> None:
    line, _, _ = _network(api)
    dispatcher = api("dispatcher")
    now = datetime.now(UTC)
    end = now + timedelta(minutes=30)
    outage = dispatcher.post(
        "/api/v1/outages", json=outage_body(line, planned_end_at=_iso(end))
    ).get_json()
    assert restore_due(session=session, now=end - timedelta(seconds=1)) == []
    later = end + timedelta(hours=1)
    extended = dispatcher.post(
        f"/api/v1/outages/{outage['id']}/extend", json={"planned_end_at": _iso(later)}
    )
    assert extended.status_code == 200, extended.get_json()
    session.expire_all()
    assert restore_due(session=session, now=end + timedelta(minutes=1)) == []
    done = restore_due(session=session, now=later + timedelta(minutes=1))
    assert [str(o.id) for o in done] == [outage["id"]]
    shown = dispatcher.get(f"/api/v1/outages/{outage['id']}").get_json()
    assert shown["status"] == "restored" and shown["restored_by"] == "automatic"
    assert datetime.fromisoformat(shown["restored_at"]) == later
    assert all(a["restored_at"] for a in shown["areas"])


def test_a_prediction_nobody_confirmed_is_called_off_at_its_planned_end(
    api: Any, session: Any
) -> None:
    """Else the quick query would say "out" for ever, past an end time long gone."""
    line, _, _ = _network(api)
    dispatcher = api("dispatcher")
    end = datetime.now(UTC) + timedelta(minutes=30)
    body = outage_body(line, planned_end_at=_iso(end), status="predicted")
    outage = dispatcher.post("/api/v1/outages", json=body).get_json()
    assert outage["status"] == "predicted", outage
    assert restore_due(session=session, now=end - timedelta(seconds=1)) == []
    assert call_off_lapsed(session=session, now=end - timedelta(seconds=1)) == []
    done = call_off_lapsed(session=session, now=end + timedelta(minutes=1))
    assert [str(o.id) for o in done] == [outage["id"]]
    shown = dispatcher.get(f"/api/v1/outages/{outage['id']}").get_json()
    assert shown["status"] == "closed" and shown["restored_at"] is None


def test_worker_tick_restores_what_fell_due_while_it_was_down(api: Any, db: Database) -> None:
    line, _, _ = _network(api)
    now = datetime.now(UTC)
    past = outage_body(
        line,
        starts_at=_iso(now - timedelta(hours=3)),
        planned_end_at=_iso(now - timedelta(hours=1)),
    )
    outage = api("dispatcher").post("/api/v1/outages", json=past).get_json()
    assert restore_worker.run_worker(db, once=True) >= 1
    shown = api("dispatcher").get(f"/api/v1/outages/{outage['id']}").get_json()
    assert shown["status"] == "restored"
    assert api("dispatcher").get("/api/v1/outages?active_only=true").get_json() == [] or all(
        o["id"] != outage["id"]
        for o in api("dispatcher").get("/api/v1/outages?active_only=1").get_json()
    )


def test_an_outage_is_set_only_by_the_lines_owner(api: Any) -> None:
    """Reading a line is company-wide; cutting it, and texting its customers, is not."""
    admin, dispatcher = api("admin"), api("dispatcher")
    departments = admin.get("/api/v1/departments").get_json()
    elsewhere = next(d["id"] for d in departments if d["code"] == "CALL")  # not under RC-N
    foreign = make_line(admin, department_id=elsewhere)
    assert dispatcher.get(f"/api/v1/network/lines/{foreign['id']}").status_code == 200
    assert_problem(dispatcher.post("/api/v1/outages", json=outage_body(foreign)), 403)
    own = make_line(dispatcher)
    created = dispatcher.post("/api/v1/outages", json=outage_body(own))
    assert created.status_code == 201, created.get_json()


def test_outage_notifications_list_only_customers_in_the_callers_scope(api: Any) -> None:
    line, _areas, hospital = _network(api)
    outage = api("dispatcher").post("/api/v1/outages", json=outage_body(line)).get_json()
    url = f"/api/v1/outages/{outage['id']}/notifications"
    assert [n["customer_id"] for n in api("archivist").get(url).get_json()] == [hospital["id"]]
    assert api("crew3").get(url).get_json() == []  # the suburban crew has no work there
