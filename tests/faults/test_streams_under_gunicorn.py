"""The shipped gunicorn settings keep the API answering while dispatchers hold event streams.

An SSE stream lasts as long as a console is open. Under gunicorn's default (sync) worker each
stream would take a whole worker, so a few open consoles would leave no worker for requests.
`deploy/gunicorn.conf.py` runs threaded workers; this opens more streams than there are workers
and checks that a plain request still gets its answer.
"""

from __future__ import annotations

import http.client
import os
from typing import Any

import pytest

from backend.demo import DEMO_PASSWORD
from bench._loopback import call_json, healthy
from tests.faults.stack import Service, gunicorn
from tests.tracking.brokers import free_port

STREAMS = 4  # twice the workers `gunicorn()` starts
HANG = 30  # seconds: a request timing out means a hang, not a slow answer


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """Drain what the server sent so far; an open stream has sent no end of file."""
    sock = conn.sock
    assert sock is not None
    sock.setblocking(False)
    try:
        while True:
            if sock.recv(65536) == b"":
                return False  # the server closed it (e.g. a sync worker killed on timeout)
    except BlockingIOError:
        return True
    except OSError:
        return False


def _api_env(backend: Any, tmp_path: Any, **extra: str) -> dict[str, str]:
    """The API's environment: the backend's database and a blob folder of its own."""
    return {
        **os.environ,
        "DATABASE_URL": backend.url,
        "BLOB_DIR": str(tmp_path / "blobs"),
        "SECRET_KEY": "streams-" + "k" * 40,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_open_streams_leave_the_api_answering(backend: Any, committed_db: Any, tmp_path) -> None:
    port = free_port()
    env = _api_env(backend, tmp_path)
    api = Service("api-streams", gunicorn(port), env, ready=lambda: healthy(port)).start()
    streams: list[http.client.HTTPConnection] = []
    try:
        login_body = {"username": "dispatcher", "password": DEMO_PASSWORD}
        status, login = call_json(port, "POST", "/api/v1/auth/login", login_body, timeout=HANG)
        assert status == 200, (login, api.tail())
        token = login["access_token"]
        for _ in range(STREAMS):
            status, ticket = call_json(
                port, "POST", "/api/v1/auth/stream-ticket", token=token, timeout=HANG
            )
            assert status == 200, ticket
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG)
            conn.request("GET", f"/api/v1/alerts/stream?ticket={ticket['ticket']}")
            response = conn.getresponse()  # headers only: the stream stays open
            assert response.status == 200
            assert response.getheader("Content-Type", "").startswith("text/event-stream")
            streams.append(conn)
        # The API still answers, and every stream is still open.
        status, me = call_json(port, "GET", "/api/v1/auth/me", token=token, timeout=HANG)
        assert status == 200 and me["label"], (me, api.tail())
        assert [_still_open(conn) for conn in streams] == [True] * STREAMS, api.tail()
    finally:
        for conn in streams:
            conn.close()
        api.kill9()  # open streams would hold a graceful stop for its whole timeout


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_streams_past_the_cap_leave_threads_for_the_api(
    backend: Any, committed_db: Any, tmp_path
) -> None:
    # 2 workers x 4 threads: 8 open streams would take every thread, and /healthz and logins
    # would wait for a stream to end. The default cap (half the threads) refuses past 2 per
    # process with a 429 instead.
    port = free_port()
    env = _api_env(backend, tmp_path, WEB_THREADS="4")
    env.pop("LIVE_STREAMS_PER_PROCESS", None)
    api = Service("api-stream-cap", gunicorn(port), env, ready=lambda: healthy(port)).start()
    streams: list[http.client.HTTPConnection] = []
    login_body = {"username": "dispatcher", "password": DEMO_PASSWORD}
    try:
        status, login = call_json(port, "POST", "/api/v1/auth/login", login_body, timeout=HANG)
        assert status == 200, (login, api.tail())
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        answers = []
        for _ in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG)
            conn.request("GET", "/api/v1/tracking/feed", headers=headers)
            response = conn.getresponse()  # headers only: an open stream is never read
            answers.append(response.status)
            if response.status == 200:
                streams.append(conn)
            else:
                assert response.getheader("Retry-After"), api.tail()
                conn.close()
        assert set(answers) == {200, 429} and answers.count(200) <= 4, answers
        # The API still answers health checks and logins.
        status, _ = call_json(port, "GET", "/healthz", timeout=HANG)
        assert status == 200, api.tail()
        status, again = call_json(port, "POST", "/api/v1/auth/login", login_body, timeout=HANG)
        assert status == 200, (again, api.tail())
        assert all(_still_open(conn) for conn in streams), api.tail()
    finally:
        for conn in streams:
            conn.close()
        api.kill9()
