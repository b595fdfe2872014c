"""Sync fixtures: the app on real commits, device and user clients, a blob directory."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from backend.auth.models import Device
from backend.auth.passwords import hash_secret
from backend.demo import DEMO_DEVICE_SECRET, DEMO_PASSWORD
from backend.org.models import Crew
from sync.blobs.storage import LocalBlobStorage
from sync.client import Reply, TransportError
from sync.client.client import SyncClient
from sync.store import Cursor
from tests.conftest import BackendRun

_TOKENS: dict[tuple[str, str], str] = {}
# A second handheld of Urban Crew 1, so two devices edit the same crew's records.
SECOND_HANDHELD = "H-1001-B"


class FlaskTransport:
    """The client's transport on Flask's test client; `drop_next_reply` simulates a lost reply."""

    def __init__(self, app: Flask, token: str, backend: BackendRun | None = None) -> None:
        self.client = app.test_client()
        self.token = token
        self.backend = backend
        self.wait_for_horizon = True
        self.drop_next_reply = False
        # Pushes that got a reply: (body sent, reply body), for replay checks.
        self.pushes: list[tuple[Any, Any]] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        kwargs: dict[str, Any] = {"headers": all_headers}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        if "/sync/pull" in path and self.backend is not None and self.wait_for_horizon:
            wait_for_horizon(self.backend)
        response = self.client.open(path, method=method, **kwargs)
        if self.drop_next_reply:  # the server did the work; the reply never arrives
            self.drop_next_reply = False
            raise TransportError("connection dropped before the reply")
        body = response.get_json(silent=True)
        if path.endswith("/sync/push") and response.status_code == 200:
            self.pushes.append((json_body, body))
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers}, body)


def wait_for_horizon(backend: BackendRun, timeout: float = 30.0) -> None:
    """Wait until every committed change is below the PostgreSQL pull horizon.

    Transaction ids are cluster-wide: a transaction still open anywhere on the server (other
    engineers' test runs included) holds the horizon back, and a pull then withholds newer
    changes until it ends. That is the gapless guarantee at work; tests that expect their own
    commits in the next pull wait for it here.
    """
    if backend.name != "postgis":
        return
    deadline = time.monotonic() + timeout
    with backend.database.engine.connect() as conn:
        while True:
            target = conn.execute(text("SELECT coalesce(max(txid), 0) FROM sync_changes"))
            newest = int(target.scalar_one())
            horizon = conn.execute(
                text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            ).scalar_one()
            conn.rollback()
            if int(horizon) > newest or time.monotonic() > deadline:
                return
            time.sleep(0.05)


def _ensure_second_handheld(backend: BackendRun) -> None:
    with backend.database.unit_of_work(actor="test") as session:
        if session.scalar(select(Device).where(Device.identifier == SECOND_HANDHELD)) is None:
            crew = session.scalars(select(Crew).where(Crew.name == "Urban Crew 1")).one()
            session.add(
                Device(
                    identifier=SECOND_HANDHELD,
                    kind="handheld",
                    secret_hash=hash_secret(DEMO_DEVICE_SECRET),
                    department_id=crew.department_id,
                    crew_id=crew.id,
                )
            )


def token(backend: BackendRun, who: str) -> str:
    """Log a device (identifier starting `H-`/`T-`) or a demo user in; cached per backend."""
    key = (backend.url, who)
    if key not in _TOKENS:
        client = backend.app.test_client()
        if who.startswith(("H-", "T-")):
            _ensure_second_handheld(backend)
            body = {"identifier": who, "secret": DEMO_DEVICE_SECRET}
            response = client.post("/api/v1/auth/device-login", json=body)
        else:
            body = {"username": who, "password": DEMO_PASSWORD}
            response = client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 200, response.get_json()
        _TOKENS[key] = response.get_json()["access_token"]
    return _TOKENS[key]


def feed_end(backend: BackendRun) -> str:
    """Return the cursor after the last change (tests start there to skip older tests' data)."""
    with backend.database.engine.connect() as conn:
        row = conn.execute(
            text("SELECT txid, id FROM sync_changes ORDER BY txid DESC, id DESC LIMIT 1")
        ).first()
    return Cursor(int(row[0]), int(row[1])).encode() if row else Cursor().encode()


@pytest.fixture
def sync_app(committed_db: Any, backend: BackendRun) -> Flask:
    """The app committing for real (sync tests need committed changes to pull)."""
    assert backend.database.session_factory is backend.factory
    if "fieldline.blobs" not in backend.app.extensions:
        backend.app.extensions["fieldline.blobs"] = LocalBlobStorage(tempfile.mkdtemp())
    return backend.app


@pytest.fixture
def make_client(sync_app: Flask, backend: BackendRun) -> Callable[..., SyncClient]:
    """Factory: `make_client("H-1001")` returns a reference client starting at the feed's end."""

    def make(who: str, *, from_start: bool = False) -> SyncClient:
        transport = FlaskTransport(sync_app, token(backend, who), backend)
        client = SyncClient(transport, device_id=who)
        if not from_start:
            client.db.execute(
                "INSERT INTO meta (key, value) VALUES ('cursor', ?)", (feed_end(backend),)
            )
        return client

    return make


@pytest.fixture
def http(sync_app: Flask, backend: BackendRun) -> Callable[[str], FlaskTransport]:
    """Factory: a raw transport for one caller, for API-level tests."""
    return lambda who: FlaskTransport(sync_app, token(backend, who), backend)
