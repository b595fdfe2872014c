"""How the client talks HTTP: a small interface, and an implementation on urllib."""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class TransportError(Exception):
    """The request did not complete (no connection, timeout, dropped reply)."""


@dataclass(frozen=True)
class Reply:
    """An HTTP reply: status, headers (lower-case names) and the decoded JSON body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


class Transport(Protocol):
    """Sends one request; raises `TransportError` when no reply arrives."""

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send a request to `path` (with its query string) and return the reply."""


class UrllibTransport:
    """Transport over the standard library, with a bearer token."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send a request and decode a JSON reply."""
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        url = self.base_url + path
        if not url.startswith(("http://", "https://")):
            raise ValueError("only http(s) URLs are supported")
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return _reply(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return _reply(exc.code, dict(exc.headers), exc.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise TransportError(str(exc)) from exc


def _reply(status: int, headers: Mapping[str, str], raw: bytes) -> Reply:
    lowered = {k.lower(): v for k, v in headers.items()}
    body = json.loads(raw) if raw and "json" in lowered.get("content-type", "") else None
    return Reply(status, lowered, body)
