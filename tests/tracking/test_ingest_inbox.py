"""The hand-over from the MQTT thread to the writer: only an idle writer lingers for more."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from backend.tracking.ingest import worker
from backend.tracking.ingest.worker import _Inbox


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The writer's sleeps, recorded instead of slept."""
    seen: list[float] = []
    monkeypatch.setattr(worker.time, "sleep", seen.append)
    return seen


def test_messages_that_queued_during_a_write_go_at_once(sleeps: list[float]) -> None:
    inbox = _Inbox(100, threading.Event())
    for item in range(7):
        inbox.put(item)  # type: ignore[arg-type]
    assert inbox.take(5, timeout=1, linger=0.005) == [0, 1, 2, 3, 4]
    assert inbox.take(5, timeout=1, linger=0.005) == [5, 6]
    assert sleeps == []


def test_an_idle_writer_lingers_once_for_more(sleeps: list[float]) -> None:
    inbox = _Inbox(100, threading.Event())
    arrival: Any = threading.Timer(0.05, inbox.put, args=("first",))
    arrival.start()
    assert inbox.take(5, timeout=10, linger=0.005) == ["first"]
    arrival.join()
    assert sleeps == [0.005]
    assert inbox.take(5, timeout=0.01, linger=0.005) == []
