"""A real threaded HTTP server around the test app, and a plain SSE reader for it."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from backend.demo import DEMO_PASSWORD

# Long enough for the slowest shared CI box, short of "forever": only a deadlock reaches it.
GENEROUS = 90.0


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve the app on a free port in a thread (one thread per request); yield host:port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(GENEROUS)


def call(
    address: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """Make one JSON request on a fresh connection; return status and decoded body."""
    conn = http.client.HTTPConnection(address, timeout=GENEROUS)
    headers = {} if body is None else {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode()
    finally:
        conn.close()


def login(address: str, username: str) -> str:
    """Log a demo user in over HTTP and return the access token."""
    status, body = call(
        address, "POST", "/api/v1/auth/login", {"username": username, "password": DEMO_PASSWORD}
    )
    assert status == 200, body
    token: str = body["access_token"]
    return token


class EventStream:
    """An SSE response read by a background thread; events land in a queue as (type, data)."""

    def __init__(
        self, address: str, path: str, token: str, last_event_id: str | None = None
    ) -> None:
        self.conn = http.client.HTTPConnection(address, timeout=GENEROUS)
        headers = {"Authorization": f"Bearer {token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.sock = self.conn.sock  # the connection forgets it once the response will close
        self.response = self.conn.getresponse()  # waits for the headers (the route returned)
        self.status = self.response.status
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ids: dict[int, str] = {}  # id() of an event's data -> its SSE id
        self.seen_ids: list[int] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        kind, data, event_id = "message", "", None
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data += line[6:]
                elif line.startswith("retry: "):  # the first line: the stream is open
                    self.events.put(("retry", int(line[7:])))
                elif line.startswith(":"):
                    self.events.put(("comment", line))
                elif not line:
                    if data:
                        value = json.loads(data)
                        if event_id is not None:
                            self.ids[id(value)] = event_id
                        self.events.put((kind, value))
                    kind, data, event_id = "message", "", None
        except (OSError, ValueError, http.client.HTTPException):  # the test hung up
            pass
        self.events.put(("closed", None))

    def next_event(self, kind: str) -> Any:
        """Return the data of the next event of this type (skipping others)."""
        while True:
            got, data = self.events.get(timeout=GENEROUS)
            assert got != "closed", f"the stream ended before a {kind} event"
            if got == kind:
                return data

    def id_of(self, data: Any) -> str | None:
        """Return the SSE id an event came with."""
        return self.ids.get(id(data))

    def close(self) -> None:
        """Hang up: the server sees the connection gone at its next write."""
        if self.sock is not None:
            # The response's reader still holds the socket open; a shutdown reaches the peer.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        self.conn.close()
