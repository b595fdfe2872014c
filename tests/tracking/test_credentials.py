"""MQTT credentials and ACL: vehicle A cannot publish as vehicle B (Mosquitto and amqtt)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session

from backend.demo import DemoOrg
from backend.demo.broker import EmbeddedBroker
from backend.tracking import credentials as creds
from backend.tracking.broker_plugins import plugins
from tests.tracking.brokers import Mosquitto, connect, wait_until

ROOT = "fieldline/v1"


@pytest.mark.parametrize(
    ("username", "role", "action", "topic", "allowed"),
    [
        ("T-1", "vehicle", "publish", f"{ROOT}/vehicles/T-1/position", True),
        ("T-1", "vehicle", "publish", f"{ROOT}/vehicles/T-2/position", False),
        ("T-1", "vehicle", "publish", f"{ROOT}/vehicles/T-1/orders", False),
        ("T-1", "vehicle", "publish", f"{ROOT}/vehicles/+/position", False),
        ("T-1", "vehicle", "publish", "owntracks/T-1/phone", True),
        ("T-1", "vehicle", "publish", "owntracks/T-2/phone", False),
        ("T-1", "vehicle", "subscribe", f"{ROOT}/vehicles/T-1/orders", True),
        ("T-1", "vehicle", "subscribe", f"{ROOT}/vehicles/T-2/orders", False),
        ("T-1", "vehicle", "subscribe", f"{ROOT}/vehicles/+/orders", False),
        ("T-1", "vehicle", "receive", f"{ROOT}/vehicles/T-1/orders", True),
        ("ingest", "service", "subscribe", f"{ROOT}/vehicles/+/+", True),
        ("ingest", "service", "subscribe", "#", False),
        ("ingest", "service", "publish", f"{ROOT}/vehicles/T-1/orders", True),
        ("ingest", "service", "publish", f"{ROOT}/vehicles/T-1/position", False),
        ("ingest", "service", "publish", f"{ROOT}/alerts/7", True),
        ("ingest", "service", "publish", f"{ROOT}/alerts/+", False),
        ("ingest", "service", "subscribe", f"{ROOT}/alerts/+", True),
        ("T-1", "vehicle", "publish", f"{ROOT}/alerts/7", False),
        ("T-1", "vehicle", "subscribe", f"{ROOT}/alerts/7", False),
        (None, "vehicle", "publish", f"{ROOT}/vehicles/T-1/position", False),
    ],
)
def test_topic_rules(
    username: str | None, role: str, action: str, topic: str, allowed: bool
) -> None:
    assert creds.topic_allowed(username, role, action, topic, ROOT) is allowed


def test_hash_matches_mosquitto_passwd_format() -> None:
    from_binary = creds.mosquitto_hash("s3cret")
    from_python = creds.mosquitto_hash("s3cret", use_binary=False)
    for hashed in (from_binary, from_python):
        assert hashed.startswith("$7$101$")
        assert creds.verify_mosquitto_hash("s3cret", hashed)
        assert not creds.verify_mosquitto_hash("wrong", hashed)
    assert not creds.verify_mosquitto_hash("s3cret", "garbage")


@pytest.fixture
def issued(session: Session, demo: DemoOrg, tmp_path: Path) -> dict[str, str]:
    passwords = {i.username: i.password for i in creds.issue(session)}
    creds.write_files(session, tmp_path, ROOT)
    # Passwords are shown once: issuing again creates nothing new.
    assert creds.issue(session) == []
    return passwords


class Listener:
    """The ingest's view: every message it may read, by topic."""

    def __init__(self, client: mqtt.Client) -> None:
        self.seen: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        client.on_message = self._on_message

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.seen.append((msg.topic, msg.payload))

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [p for _, p in self.seen]


def check_isolation(make_client: object, issued: dict[str, str]) -> None:
    """A publishes as itself and as B; only its own message gets through."""
    client = make_client  # a callable (username, password) -> connected client
    ingest = client("ingest", issued["ingest"])  # type: ignore[operator]
    listener = Listener(ingest)
    ingest.subscribe(f"{ROOT}/vehicles/+/+", qos=1)
    a = client("T-1001", issued["T-1001"])  # type: ignore[operator]
    orders = Listener(a)
    a.subscribe(f"{ROOT}/vehicles/T-2001/orders", qos=1)  # B's orders: never delivered
    a.subscribe(f"{ROOT}/vehicles/T-1001/orders", qos=1)
    wait_until(lambda: ingest.is_connected() and a.is_connected())
    # Subscriptions take effect asynchronously: retry until the ingest hears A.
    a.publish(f"{ROOT}/vehicles/T-2001/position", b"spoofed-as-B", qos=1).wait_for_publish(10)
    wait_until(
        lambda: (
            a.publish(f"{ROOT}/vehicles/T-1001/position", b"from-A", qos=1)
            and b"from-A" in listener.payloads()
        )
    )
    a.publish(f"{ROOT}/vehicles/T-2001/position", b"spoofed-as-B-2", qos=1).wait_for_publish(10)
    ingest.publish(f"{ROOT}/vehicles/T-2001/orders", b"order-for-B", qos=1).wait_for_publish(10)
    wait_until(
        lambda: (
            ingest.publish(f"{ROOT}/vehicles/T-1001/orders", b"order-for-A", qos=1)
            and b"order-for-A" in orders.payloads()
        )
    )
    a.publish(f"{ROOT}/vehicles/T-1001/position", b"from-A-last", qos=1).wait_for_publish(10)
    wait_until(lambda: b"from-A-last" in listener.payloads())
    assert not [p for p in listener.payloads() if p.startswith(b"spoofed")]
    assert b"order-for-B" not in orders.payloads()
    for c in (ingest, a):
        c.disconnect()
        c.loop_stop()


@pytest.fixture
def secured_mosquitto(issued: dict[str, str], tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(passwd=tmp_path / "passwd", acl=tmp_path / "acl").start()
    yield broker
    broker.close()


def test_mosquitto_enforces_generated_files(
    secured_mosquitto: Mosquitto, issued: dict[str, str]
) -> None:
    url = secured_mosquitto.url
    with pytest.raises(ConnectionRefusedError):
        connect(url, username="T-1001", password="wrong")
    with pytest.raises(ConnectionRefusedError):
        connect(url)  # anonymous
    check_isolation(lambda u, p: connect(url, username=u, password=p), issued)


def test_embedded_broker_enforces_the_same_rules(issued: dict[str, str], tmp_path: Path) -> None:
    broker = EmbeddedBroker(port=22883, plugins=plugins(str(tmp_path / "passwd"), ROOT, ["ingest"]))
    broker.start()

    def client(username: str | None, password: str | None) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if username:
            c.username_pw_set(username, password)
        refused: list[object] = []
        c.on_connect = lambda cl, u, f, reason, p: (
            refused.append(reason) if reason.is_failure else None
        )
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        wait_until(lambda: c.is_connected() or refused, timeout=20, every=0.05)
        if refused:
            c.loop_stop()
            raise ConnectionRefusedError(str(refused[0]))
        return c

    try:
        with pytest.raises(ConnectionRefusedError):
            client("T-1001", "wrong")
        check_isolation(client, issued)
    finally:
        broker.stop()
