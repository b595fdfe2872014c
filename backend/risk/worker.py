"""The scheduled re-rating: every tick rates the customers that are due (see `rerate_due`)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask

from backend.config import Config
from backend.db import Database, utcnow
from backend.risk import credit_service
from backend.ticking import tick_until_stopped

log = logging.getLogger(__name__)


def run_worker(
    database: Database, *, every: timedelta, large_kw: float, interval: float = 300.0,
    stop: threading.Event | None = None, once: bool = False, batch: int = 500,
) -> int:  # fmt: skip
    """Tick every `interval` seconds until `stop` is set; return how many ratings were made.

    Each tick rates at most `batch` customers in one transaction, so a large archive is
    worked through over several ticks without one long transaction.
    """
    return tick_until_stopped(
        database,
        lambda session: credit_service.rerate_due(
            session, now=utcnow(), every=every, large_kw=large_kw, limit=batch
        ),
        actor="worker:credit-rating", interval=interval, stop=stop, once=once, log=log,
        what="credit re-rating",
    )  # fmt: skip


def rating_worker(app: Flask, config: Config) -> None:
    """Background thread for `fieldline serve`."""
    run_worker(
        app.extensions["fieldline.db"],
        every=timedelta(days=config.RISK_RERATE_DAYS),
        large_kw=config.RISK_LARGE_KW,
    )
