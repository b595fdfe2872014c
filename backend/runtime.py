"""Background workers that run inside `fieldline serve` for the embedded demo stack."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from flask import Flask

from backend.config import Config

log = logging.getLogger(__name__)

# A worker takes the app and its configuration and runs until the process exits.
Worker = Callable[[Flask, Config], None]


def start_background_workers(
    app: Flask, config: Config, workers: Sequence[Worker]
) -> list[threading.Thread]:
    """Start each worker in a daemon thread (the caller names them: nothing registers itself)."""
    threads = []
    for worker in workers:
        name = getattr(worker, "__name__", "worker")
        thread = threading.Thread(target=worker, args=(app, config), name=name, daemon=True)
        thread.start()
        threads.append(thread)
        log.info("started %s", name)
    return threads
