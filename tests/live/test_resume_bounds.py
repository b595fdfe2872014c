"""Resuming a stream: a malformed or far-too-old resume point is a problem, never a 500 or a
request that replays the whole history before its first byte."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from backend.dispatch.models import Alert
from backend.live import collect
from tests.conftest import assert_problem
from tests.dispatch.factories import new_order

FEED = "/api/v1/tracking/feed?max_seconds=0"


@pytest.mark.parametrize("raw", ["1" * 5000, "1.2.3" + "4" * 30, "9" * 20])
def test_a_resume_id_past_any_cursor_is_a_400(api: Any, raw: str) -> None:
    assert_problem(api("dispatcher").get(FEED, headers={"Last-Event-ID": raw}), 400)


def test_resuming_further_back_than_the_replay_limit_is_refused(
    api: Any, demo: Any, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collect, "REPLAY_LIMIT", 3)
    orders = [new_order(session, demo) for _ in range(4)]  # several changes each
    center = demo.departments["RC-N"].id
    session.add_all(
        Alert(order_id=order.id, tier="repair_center", stage=1, department_id=center,
              message="not accepted", due_at=datetime.now(UTC))
        for order in orders
    )  # fmt: skip
    session.flush()
    dispatcher = api("dispatcher")
    refused = assert_problem(
        dispatcher.get(FEED, headers={"Last-Event-ID": "0"}), 409, "too-far-behind"
    )
    assert "more than 3 changes" in refused["detail"]
    refused = assert_problem(
        dispatcher.get("/api/v1/alerts/stream?max_seconds=0&after=0"), 409, "too-far-behind"
    )
    assert "more than 3 alerts" in refused["detail"]
    # A fresh stream (no resume point) opens as always.
    fresh = dispatcher.get(FEED)
    assert fresh.status_code == 200 and fresh.mimetype == "text/event-stream"
    fresh.close()
