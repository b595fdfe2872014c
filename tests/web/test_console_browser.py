"""Browser smoke test of the console; runs only where Debian's `chromium` is installed."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium")

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


@pytest.fixture
def console_url(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_console_script_runs_under_its_csp(console_url: str) -> None:
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--virtual-time-budget=5000",
            "--dump-dom",
            console_url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    dom = result.stdout
    assert 'id="login-form"' in dom, result.stderr[-2000:]
    # boot() makes the detail heading focusable: proof that console.js ran.
    assert 'id="detail-title" tabindex="-1"' in dom, result.stderr[-2000:]
    assert "Content Security Policy" not in result.stderr
    assert "Uncaught" not in result.stderr
