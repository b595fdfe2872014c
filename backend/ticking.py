"""The background workers' loop: a unit of work a tick, every `interval` seconds, until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.orm import Session

from backend.db import Database


def tick_until_stopped(
    database: Database,
    tick: Callable[[Session], int],
    *,
    actor: str,
    interval: float,
    stop: threading.Event | None,
    once: bool,
    log: logging.Logger,
    what: str,
) -> int:
    """Run `tick` in a unit of work of its own every `interval` seconds until `stop` is set.

    Returns the sum of what the ticks returned. A failed tick is logged as `<what> tick failed`
    on the worker's own `log` and the loop goes on: every tick works from what the database
    holds, so the next one finds the same work.
    """
    stop = stop or threading.Event()
    total = 0
    while True:
        try:
            with database.unit_of_work(actor=actor) as session:
                total += tick(session)
        except Exception:  # keep ticking: the next tick finds the work again
            log.exception("%s tick failed", what)
        if once or stop.wait(interval):
            return total
