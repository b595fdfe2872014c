"""Trouble-call grouping: a call from under an active outage links to it, no dispatch work."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from backend.dispatch.escalation import due_alerts
from backend.network.outage_models import OrderOutageLink
from tests.network.helpers import make_area, make_customer, make_line
from tests.network.test_outages import outage_body


def _call(api: Any, demo: Any, customer: dict[str, Any]) -> dict[str, Any]:
    response = api("callcenter").post(
        "/api/v1/work-orders",
        json={
            "order_type": "electric",
            "fault_type": "no power",
            "specialty": "low_voltage",
            "customer_id": customer["id"],
            "hung_up_at": datetime.now(UTC).isoformat(),
            "repair_center_id": demo.departments["RC-N"].id,
        },
    )
    assert response.status_code == 201, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def test_calls_under_an_outage_link_to_it_and_do_not_escalate(
    api: Any, demo: Any, session: Any
) -> None:
    dispatcher, archivist = api("dispatcher"), api("archivist")
    line = make_line(dispatcher)
    cut, other = make_area(dispatcher, line["id"], section="K1"), make_area(dispatcher, line["id"])
    caller = make_customer(archivist, cut)
    elsewhere = make_customer(archivist, other)
    outage = dispatcher.post(
        "/api/v1/outages", json=outage_body(line, scope="section", section="K1")
    ).get_json()

    linked = _call(api, demo, caller)
    assert linked["status"] == "new" and linked["repair_center_id"] is None
    link = session.scalar(
        select(OrderOutageLink).where(OrderOutageLink.order_id == uuid.UUID(linked["id"]))
    )
    assert link is not None and str(link.outage_id) == outage["id"]
    events = api("callcenter").get(f"/api/v1/work-orders/{linked['id']}/events").get_json()
    assert any(
        e["point"] == "linked_outage" and e["details"]["outage"] == outage["number"] for e in events
    )
    normal = _call(api, demo, elsewhere)
    assert normal["status"] != "new" and normal["repair_center_id"] is not None
    later = datetime.now(UTC) + timedelta(days=1)
    alerted = {a.order_id for a in due_alerts(session, later)}
    assert str(normal["id"]) in {str(o) for o in alerted}
    assert linked["id"] not in {str(o) for o in alerted}
