"""Security headers, redacted access logs and no server version, on werkzeug and gunicorn."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from backend.app import create_app
from backend.config import ROOT, TestConfig
from backend.serving import RedactingRequestHandler, redact

SECRET = "s3cr3t-value-that-must-not-be-logged"


def test_api_responses_say_nosniff(client):
    for url in ("/api/v1/health", "/api/v1/auth/me", "/api/openapi.json", "/nowhere"):
        assert client.get(url).headers["X-Content-Type-Options"] == "nosniff", url


def test_api_docs_have_a_csp_allowing_only_their_own_script(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    [inline] = re.findall(rb"<script>(.*?)</script>", response.get_data(), re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert "Content-Security-Policy" not in client.get("/api/v1/health").headers


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /a?access_token=abc&x=1 HTTP/1.1", "GET /a?access_token=***&x=1 HTTP/1.1"),
        ("/osmand?id=T-1&key=abc", "/osmand?id=T-1&key=***"),
        ("/feed?max_seconds=1&ticket=a.b.c", "/feed?max_seconds=1&ticket=***"),
        ("/x?acc%65ss_token=abc", "/x?acc%65ss_token=***"),
        ("/x?PASSWORD=abc;secret=def", "/x?PASSWORD=***;secret=***"),
        ("key=abc&lat=1", "key=***&lat=1"),  # a bare query string (gunicorn's %(q)s)
        ("/x?monkey=1&keys=2", "/x?monkey=1&keys=2"),
    ],
)
def test_redact(line, expected):
    assert redact(line) == expected


@pytest.fixture
def dev_server(backend, db) -> Iterator[str]:
    app = create_app(TestConfig(DATABASE_URL=backend.url), database=db)
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=RedactingRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


def fetch(url: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_dev_server_logs_no_secrets_and_no_version(dev_server, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    status, headers = fetch(f"{dev_server}/api/v1/tracking/osmand?id=T-1001&key={SECRET}")
    assert status == 401
    assert headers["Server"] == "Fieldline"
    status, _ = fetch(f"{dev_server}/api/v1/auth/me?access_token={SECRET}")
    assert status == 401
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "werkzeug")
    assert "key=***" in logged and "access_token=***" in logged
    assert SECRET not in logged


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_as_configured_logs_no_secrets_and_no_version(tmp_path: Path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "SECRET_KEY": "gunicorn-test-secret-key-long-enough-for-hs256",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "-c",
        str(ROOT / "deploy" / "gunicorn.conf.py"),
        "-w",
        "1",
        "-b",
        f"127.0.0.1:{port}",
        "backend.wsgi:app",
    ]
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)  # noqa: S603
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):  # wait for the worker, without a wall-clock assertion
                try:
                    status, headers = fetch(f"{base}/api/v1/auth/me?access_token={SECRET}")
                    break
                except (ConnectionError, urllib.error.URLError):
                    time.sleep(0.1)
            else:
                pytest.fail(log.read_text())
            assert status == 401
            assert headers["Server"] == "gunicorn"  # no version
            assert headers["X-Content-Type-Options"] == "nosniff"
            fetch(f"{base}/api/v1/tracking/osmand?id=T-1&key={SECRET}&lat=1")
        finally:
            process.terminate()
            process.wait(timeout=60)
    text = log.read_text()
    assert "access_token=***" in text and "key=***" in text, text
    assert SECRET not in text
