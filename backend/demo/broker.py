"""The embedded MQTT broker (amqtt) that `make run` starts on loopback: a demo, not production."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)


def free_port(preferred: int, host: str = "127.0.0.1", attempts: int = 50) -> int:
    """Return `preferred` if nothing listens there, else the next free port above it."""
    for port in range(preferred, preferred + attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((host, port)) != 0:
                return port
    raise RuntimeError(f"no free port in {preferred}..{preferred + attempts}")


def broker_config(host: str, port: int, plugins: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the amqtt configuration: one loopback TCP listener and the given plugins."""
    return {
        "listeners": {
            "default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 1000}
        },
        "plugins": plugins
        if plugins is not None
        else {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


class EmbeddedBroker:
    """Runs an amqtt broker on its own event loop in a daemon thread."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 1883, plugins: dict[str, Any] | None = None
    ) -> None:
        self.host = host
        self.port = free_port(port, host)
        self._config = broker_config(host, self.port, plugins)
        self._loop = asyncio.new_event_loop()
        self._broker: Broker | None = None
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="mqtt-broker", daemon=True
        )

    @property
    def url(self) -> str:
        """Return the broker's mqtt:// URL."""
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it listens."""
        self._thread.start()

        async def boot() -> None:
            self._broker = Broker(self._config, loop=self._loop)
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=30)
        log.info("embedded MQTT broker on %s", self.url)
        return self

    def stop(self) -> None:
        """Shut the broker down."""
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
