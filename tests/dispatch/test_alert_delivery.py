"""Escalation alerts are queued in the alert's transaction and delivered over MQTT / webhook."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db import Database, utcnow
from backend.demo import DemoOrg
from backend.dispatch import escalation
from backend.tracking.ingest.worker import IngestSettings, IngestWorker, post_alert_webhooks
from backend.tracking.models import AlertOutbox
from tests.dispatch.factories import T0, minutes, new_order
from tests.tracking.brokers import connect, unique_root, wait_until

SHARED_BROKER = os.environ.get("FIELDLINE_TEST_MQTT", "mqtt://127.0.0.1:1883")


def outbox(session: Session) -> list[AlertOutbox]:
    return list(session.scalars(select(AlertOutbox).order_by(AlertOutbox.id)))


def test_each_alert_is_queued_once_with_its_payload(
    session: Session, demo: DemoOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_order(session, demo)  # C at T0+1
    raised = escalation.tick(session=session, now=T0 + minutes(5))
    assert escalation.tick(session=session, now=T0 + minutes(6)) == []
    rows = outbox(session)
    assert [(r.alert_id, r.department_id) for r in rows] == [
        (raised[0].id, demo.departments["CALL"].id)
    ]
    assert rows[0].payload["id"] == raised[0].id
    assert rows[0].payload["order_id"] == str(raised[0].order_id)
    assert rows[0].published_at is None and rows[0].webhook_next_at is None


def test_alert_is_published_qos1_on_the_department_topic(
    db: Database, session: Session, demo: DemoOrg
) -> None:
    root = unique_root()
    received: list[mqtt.MQTTMessage] = []
    listener = connect(SHARED_BROKER, client_id=f"alerts-listener-{uuid.uuid4().hex[:8]}")
    listener.on_message = lambda _c, _u, msg: received.append(msg)
    listener.subscribe(f"{root}/alerts/#", qos=1)
    host, port = SHARED_BROKER.removeprefix("mqtt://").split(":")
    settings = IngestSettings(
        mqtt_url=SHARED_BROKER, topic_root=root, client_id=f"alerts-{uuid.uuid4().hex[:8]}"
    )
    worker = IngestWorker(db, settings)  # only its client and outbox are used, no threads
    worker.client.connect(host, int(port))
    worker.client.loop_start()
    try:
        wait_until(worker.client.is_connected, timeout=20, every=0.05)
        new_order(session, demo)
        raised = escalation.tick(session=session, now=T0 + minutes(5))
        assert worker.publish_alerts() == 1
        message = wait_until(lambda: received[:1], timeout=20)[0]
        assert message.topic == f"{root}/alerts/{demo.departments['CALL'].id}"
        assert message.qos == 1
        body = json.loads(message.payload)
        assert body["id"] == raised[0].id and body["tier"] == "repair_center"
        session.expire_all()
        assert outbox(session)[0].published_at is not None
        assert worker.publish_alerts() == 0  # published once; nothing left
    finally:
        worker.client.disconnect()
        worker.client.loop_stop()
        listener.disconnect()
        listener.loop_stop()


class _Hook(BaseHTTPRequestHandler):
    answers: list[int] = []
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"answers": [500], "bodies": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", handler
    server.shutdown()
    server.server_close()


def test_webhook_is_retried_until_it_takes(
    db: Database,
    session: Session,
    demo: DemoOrg,
    webhook: tuple[str, type[_Hook]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, hook = webhook
    new_order(session, demo)
    policy = escalation.EscalationPolicy(webhook_url=url)
    raised = escalation.tick(session=session, now=T0 + minutes(5), policy=policy)
    # The alert was raised "at T0+5"; its webhook is due at once.
    assert post_alert_webhooks(db) == 0  # the hook answers 500 first
    session.expire_all()
    row = outbox(session)[0]
    assert row.webhook_attempts == 1 and "HTTP Error 500" in (row.webhook_error or "")
    assert row.webhook_next_at is not None and row.webhook_next_at > utcnow()
    assert post_alert_webhooks(db) == 0  # not due yet: backing off
    row.webhook_next_at = utcnow() - timedelta(seconds=1)
    session.flush()
    assert post_alert_webhooks(db) == 1
    session.expire_all()
    row = outbox(session)[0]
    assert row.webhook_sent_at is not None and row.webhook_next_at is None
    assert row.webhook_attempts == 2 and row.webhook_error is None
    assert [b["id"] for b in hook.bodies] == [raised[0].id, raised[0].id]
    assert post_alert_webhooks(db) == 0
