"""The house is wired explicitly: importing a module registers no Session listener."""

from __future__ import annotations

import subprocess
import sys

from backend.config import ROOT

PROBE = """
from sqlalchemy import event
from sqlalchemy.orm import Session

import backend.app  # every domain, every model, every route
from backend.archive.handheld import announce_changes
from backend.auth.audit import write_audit_rows
from backend.auth.models import revoke_tokens_on_credential_change
from backend.wiring import install_session_listeners

hooks = [
    ("before_flush", revoke_tokens_on_credential_change),
    ("before_flush", announce_changes),
    ("after_flush", write_audit_rows),
]
print(*[event.contains(Session, name, hook) for name, hook in hooks])
install_session_listeners()
install_session_listeners()  # idempotent: each hook once
print(*[event.contains(Session, name, hook) for name, hook in hooks])
"""


def test_imports_register_no_listener_and_wiring_registers_each_once() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[:2] == ["False False False", "True True True"]
