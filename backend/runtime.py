"""Background workers that run inside `fieldline serve` for the embedded demo stack."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)

# Each domain appends a callable taking the app and running until the process exits.
BACKGROUND_WORKERS: list[Callable[[Flask], None]] = []


def start_background_workers(app: Flask) -> list[threading.Thread]:
    """Start each registered worker in a daemon thread."""
    threads = []
    for worker in BACKGROUND_WORKERS:
        thread = threading.Thread(target=worker, args=(app,), name=worker.__name__, daemon=True)
        thread.start()
        threads.append(thread)
        log.info("started %s", worker.__name__)
    return threads
