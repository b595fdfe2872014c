"""Concurrent wrong secrets against a real server: no more checks than the throttle allows."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select
from werkzeug.serving import make_server

from backend.auth.models import LoginAttempt, LoginThrottle
from tests.conftest import BackendRun

GUESSES = 16


@pytest.fixture
def server(backend: BackendRun, committed_db: object) -> Iterator[str]:
    """The app on a real threaded HTTP server, committing for real."""
    httpd = make_server("127.0.0.1", 0, backend.app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join()


def post(url: str, body: dict[str, str]) -> int:
    request = urllib.request.Request(  # noqa: S310 - a loopback test server
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def clear_throttles(backend: BackendRun, keys: list[str]) -> None:
    with backend.database.unit_of_work() as session:
        session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))


@pytest.mark.parametrize(
    ("path", "body", "keys"),
    [
        (
            "/api/v1/auth/login",
            {"username": "crew5", "password": "guess"},
            ["user:crew5|127.0.0.1", "address:127.0.0.1"],
        ),
        (
            "/api/v1/auth/device-login",
            {"identifier": "H-2001", "secret": "guess"},
            ["device:H-2001|127.0.0.1", "address:127.0.0.1"],
        ),
        (  # OsmAnd's `key` is the device secret too
            "/api/v1/tracking/osmand?id=T-4001&key=guess&lat=30.2&lon=120.1&timestamp=1",
            {},
            ["device:T-4001|127.0.0.1", "address:127.0.0.1"],
        ),
    ],
)
def test_concurrent_wrong_secrets_are_checked_at_most_limit_times(
    server: str, backend: BackendRun, path: str, body: dict[str, str], keys: list[str]
) -> None:
    limit = backend.app.config["LOGIN_MAX_FAILURES"]
    clear_throttles(backend, keys)
    started = datetime.now(UTC)
    barrier = threading.Barrier(GUESSES)

    def guess(_: int) -> int:
        barrier.wait()  # all requests leave together
        return post(server + path, body)

    try:
        with ThreadPoolExecutor(GUESSES) as pool:
            statuses = Counter(pool.map(guess, range(GUESSES)))
        # Each 401 is a secret that was checked; each 429 one that never was.
        assert statuses == {401: limit, 429: GUESSES - limit}, statuses
        if "username" in body:
            with backend.database.unit_of_work() as session:
                checked = session.scalar(
                    select(func.count()).where(
                        LoginAttempt.username == body["username"], LoginAttempt.at >= started
                    )
                )
            assert checked == limit
    finally:
        clear_throttles(backend, keys)
