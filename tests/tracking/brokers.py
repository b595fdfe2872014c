"""Test helpers: a Mosquitto owned by the test (from the shipped config), publishers, waiting."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from backend.config import ROOT

SHIPPED_CONF = ROOT / "deploy" / "mosquitto" / "fieldline.conf"
_REPLACED = ("listener", "password_file", "acl_file", "allow_anonymous", "persistence_location")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unique_root() -> str:
    return f"fieldline-test-{uuid.uuid4().hex[:10]}/v1"


def wait_until(predicate: Callable[[], Any], timeout: float = 90, every: float = 0.2) -> Any:
    """Poll until `predicate` is truthy; the timeout only stops a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; last value {value!r}")
        time.sleep(every)


class Mosquitto:
    """A Mosquitto on a free loopback port, configured from deploy/mosquitto/fieldline.conf."""

    def __init__(self, passwd: Path | None = None, acl: Path | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fieldline-mosq-"))
        self.port = free_port()
        lines = [
            line
            for line in SHIPPED_CONF.read_text().splitlines()
            if not line.strip().startswith(_REPLACED)
        ]
        lines += [f"listener {self.port} 127.0.0.1", f"persistence_location {self.folder}/"]
        # As root, Mosquitto switches to user "mosquitto", who cannot write our folder.
        lines.append(f"user {getpass.getuser()}")
        if passwd is not None and acl is not None:
            lines += ["allow_anonymous false", f"password_file {passwd}", f"acl_file {acl}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = self.folder / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(  # noqa: S603 - the test's own broker
            [binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_until(self._listening, timeout=20, every=0.05)
        return self

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Mosquitto saves its persistence file
            self.process.wait(timeout=20)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def connect(
    url: str, client_id: str = "", username: str | None = None, password: str | None = None
) -> mqtt.Client:
    """A started MQTT 5 client, connected (raises if the broker refuses)."""
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    if username:
        client.username_pw_set(username, password)
    refused: list[Any] = []
    client.on_connect = lambda c, u, f, reason, p: (
        refused.append(reason) if reason.is_failure else None
    )
    client.connect(host, int(port))
    client.loop_start()
    wait_until(lambda: client.is_connected() or refused, timeout=20, every=0.05)
    if refused:
        client.loop_stop()
        raise ConnectionRefusedError(str(refused[0]))
    return client


def publish_all(client: mqtt.Client, messages: Iterable[tuple[str, bytes]]) -> int:
    """Publish QoS 1 and wait until the broker acknowledged every message."""
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(timeout=60)
    return sum(1 for info in infos if info.is_published())
