"""`fieldline --help` builds no app, so it writes no secret key or blob folder anywhere."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from backend.cli import main


def test_help_lists_every_command_without_building_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []

    def refuse() -> Any:
        built.append("app")
        raise AssertionError("--help built the app")

    monkeypatch.setattr(main, "create_app", refuse)
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert built == []
    for command in ("db", "ingest", "openapi", "serve", "worker", "tracking", "blobs"):
        assert f"  {command} " in result.output, command
    result = CliRunner().invoke(main, ["ingest", "--help"])
    assert result.exit_code == 0 and "replay-dead-letters" in result.output
    assert built == []


def test_serve_prints_the_console_url_and_the_console_answers_there(tmp_path: Any) -> None:
    """`make run` ends in `fieldline serve`: its banner names the console's URL, which works."""
    import os
    import re
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from backend.config import ROOT

    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "BLOB_DIR": str(tmp_path / "blobs"),
        "SECRET_KEY": "test-serve-banner",
        "MQTT_URL": "mqtt://127.0.0.1:1",  # no broker: the ingest worker only retries
    }
    command = [sys.executable, "-c", "from backend.cli import main; main()", "serve"]
    server = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [*command, "--no-broker", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = [server.stdout.readline() for _ in range(2)]
        found = re.match(r"Dispatcher console (http://\S+)$", banner[1].strip())
        assert banner[0].startswith("Fieldline API") and found, banner
        url = found.group(1)
        assert url == f"http://127.0.0.1:{port}/"
        for _ in range(300):  # the banner comes just before the server listens
            try:
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                    page = response.read().decode()
                break
            except OSError:
                server.poll()
                assert server.returncode is None, "serve exited"
                time.sleep(0.1)
        else:
            raise AssertionError(f"nothing answered at {url}")
        assert 'id="login-form"' in page and 'id="map"' in page
    finally:
        server.terminate()
        server.wait(timeout=30)
