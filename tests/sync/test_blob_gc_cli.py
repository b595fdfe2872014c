"""`fieldline blobs gc` runs the garbage collector against the configured storage."""

from backend.cli import main


def test_blobs_gc_command_runs(app, db):
    result = app.test_cli_runner().invoke(main, ["blobs", "gc", "--grace-days", "0"])
    assert result.exit_code == 0, result.output
    assert "unreferenced blob(s)" in result.output
