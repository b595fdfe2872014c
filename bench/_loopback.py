"""JSON calls to a Fieldline API process on loopback, for the benches and the fault tests.

Standard library only: the process under test is a child (gunicorn, `fieldline serve`), so the
caller speaks HTTP to its port rather than through a test client.
"""

from __future__ import annotations

import http.client
import json
from typing import Any


def call_json(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    *,
    timeout: float = 10,
) -> tuple[int, Any]:
    """Send `body` as JSON (with a bearer `token` if given); return the status and the JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def healthy(port: int, *, timeout: float = 10) -> bool:
    """Whether the API on `port` answers its health check (False while it cannot be reached)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
