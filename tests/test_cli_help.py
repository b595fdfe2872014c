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
