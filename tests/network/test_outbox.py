"""Outage notifications go through an outbox: written with the outage, sent after commit."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.db import utcnow
from backend.network import notify, outages
from backend.network.outage_models import OutageNotification
from tests.network.test_outages import RecordingSender, _network, outage_body


def _system(session: Session) -> Actor:
    from backend.org.models import Department

    root = session.scalars(select(Department).where(Department.code == "ROOT")).one()
    return Actor(kind="system", id=0, label="test", department_id=root.id,
                 department_path=root.path)  # fmt: skip


def test_a_rolled_back_outage_sends_nothing(api: Any, session: Session) -> None:
    line, _, _ = _network(api)
    sender = RecordingSender()
    previous = notify.set_sender(sender)
    try:
        savepoint = session.begin_nested()
        body = outage_body(line)
        data = {**body, "line_id": uuid.UUID(line["id"]),
                "starts_at": utcnow() - timedelta(minutes=5),
                "planned_end_at": utcnow() + timedelta(hours=1)}  # fmt: skip
        outage = outages.create_outage(session=session, actor=_system(session), data=data)
        assert session.scalar(
            select(OutageNotification).where(OutageNotification.outage_id == outage.id)
        ).status == "pending"  # fmt: skip
        savepoint.rollback()  # the request failed after the outage was written
        assert notify.deliver_pending(session) == 0
    finally:
        notify.set_sender(previous)
    assert sender.sent == []
    assert session.scalars(select(OutageNotification)).all() == []


def test_refused_messages_are_retried_with_backoff_and_sent_once(
    api: Any, session: Session
) -> None:
    line, _, hospital = _network(api)
    outage = api("dispatcher").post("/api/v1/outages", json=outage_body(line)).get_json()
    sender = RecordingSender(refuse=2)
    previous = notify.set_sender(sender)
    now = utcnow()
    try:
        assert notify.deliver_pending(session, now=now) == 0  # refused: attempt 1
        note = session.scalars(select(OutageNotification)).one()
        assert (note.status, note.attempts) == ("pending", 1)
        assert note.next_attempt_at == now + notify.FIRST_RETRY and note.last_error
        assert notify.deliver_pending(session, now=now + timedelta(seconds=1)) == 0  # not due
        assert note.attempts == 1
        later = now + notify.FIRST_RETRY
        assert notify.deliver_pending(session, now=later) == 0  # refused: attempt 2
        assert note.next_attempt_at == later + 2 * notify.FIRST_RETRY
        assert notify.deliver_pending(session, now=later + timedelta(hours=1)) == 1
        assert notify.deliver_pending(session, now=later + timedelta(hours=2)) == 0
    finally:
        notify.set_sender(previous)
    assert (note.status, note.attempts, note.sent_at is not None) == ("sent", 3, True)
    assert [key for *_, key in sender.sent] == [f"{outage['id']}:{hospital['id']}:outage"]


def test_a_gateway_that_keeps_failing_gives_up_and_says_why(api: Any, session: Session) -> None:
    line, _, _ = _network(api)
    api("dispatcher").post("/api/v1/outages", json=outage_body(line))

    class Broken:
        channel = "broken"

        def send(self, phone: str, text: str, *, key: str) -> bool:
            raise ConnectionError("gateway down")

    previous = notify.set_sender(Broken())
    try:
        at = utcnow()
        for _ in range(notify.MAX_ATTEMPTS):
            notify.deliver_pending(session, now=at)
            at += notify.LAST_RETRY
    finally:
        notify.set_sender(previous)
    note = session.scalars(select(OutageNotification)).one()
    assert (note.status, note.attempts) == ("failed", notify.MAX_ATTEMPTS)
    assert note.last_error == "ConnectionError: gateway down"


def test_one_message_per_customer_and_outage_however_often_it_is_asked(
    api: Any, session: Session
) -> None:
    line, _, _ = _network(api)
    outage_id = api("dispatcher").post("/api/v1/outages", json=outage_body(line)).get_json()["id"]
    outage = outages.get_outage(
        session=session, actor=_system(session), outage_id=uuid.UUID(outage_id)
    )
    assert notify.notify_flagged(session, outage, "outage") == 0  # already in the outbox
    rows = session.scalars(
        select(OutageNotification).where(OutageNotification.outage_id == outage.id)
    ).all()
    assert len(rows) == 1
