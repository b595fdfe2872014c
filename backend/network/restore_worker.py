"""The automatic restore: each tick restores the cut outages whose planned end has passed.

Derived from the database on every tick, so a restart (or a stopped worker) misses nothing:
the first tick after it restores whatever fell due meanwhile, stamped with the planned end.
Each tick then empties the notification outbox (`notify.deliver_pending`) in a transaction
of its own: the messages of an outage leave only after the outage committed.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from backend.auth.actor import Actor
from backend.config import Config
from backend.db import Database
from backend.network.notify import deliver_pending
from backend.network.outages import call_off_lapsed, restore_due, settle_started

# Who settles suggestions for an outage whose start came (`decided_by` of the suggestion).
WORKER = Actor(kind="system", id=0, label="outage-restore", department_id=0, department_path="/")

log = logging.getLogger(__name__)


def run_worker(
    database: Database,
    *,
    interval: float = 15.0,
    stop: threading.Event | None = None,
    once: bool = False,
) -> int:
    """Tick every `interval` seconds until `stop` is set; return the outages restored."""
    stop = stop or threading.Event()
    restored = 0
    while True:
        try:
            with database.unit_of_work(actor="worker:outage-restore") as session:
                done = restore_due(session=session)
                restored += len(done)
                for outage in done:
                    log.info("outage %s restored at its planned end", outage.number)
                for outage in call_off_lapsed(session=session):
                    log.info("predicted outage %s called off at its planned end", outage.number)
                settle_started(session=session, actor=WORKER)
        except Exception:  # keep ticking: the next tick recomputes everything
            log.exception("outage restore tick failed")
        try:
            with database.unit_of_work(actor="worker:outage-notify") as session:
                deliver_pending(session)
        except Exception:  # the rows stay pending: the next tick sends them
            log.exception("outage notification tick failed")
        if once or stop.wait(interval):
            return restored


def restore_worker(app: Flask, config: Config) -> None:
    """Background thread for `fieldline serve`."""
    del config  # no settings of its own
    run_worker(app.extensions["fieldline.db"])
