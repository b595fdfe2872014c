"""Tracking's background workers for `fieldline serve`: the ingest and, optionally, a simulator."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from flask import Flask

from backend import runtime


def ingest_worker(app: Flask) -> None:
    """Run an ingest worker against the app's broker (3.1.1 for the embedded amqtt broker)."""
    from backend.tracking.ingest import IngestSettings, IngestWorker

    settings = IngestSettings(
        mqtt_url=app.config["MQTT_URL"],
        topic_root=app.config["MQTT_TOPIC_ROOT"],
        client_id=os.environ.get("INGEST_CLIENT_ID", "fieldline-ingest-embedded"),
        mqtt_version=int(os.environ.get("MQTT_VERSION", "5")),
        dead_letter_keep=timedelta(days=app.config["INGEST_DEAD_LETTER_DAYS"]),
    )
    IngestWorker(app.extensions["fieldline.db"], settings).start()
    while True:
        time.sleep(3600)


def simulator_worker(app: Flask) -> None:
    """Drive `FIELDLINE_SIMULATE` demo vehicles when set (`fieldline serve --simulate N`)."""
    count = int(os.environ.get("FIELDLINE_SIMULATE", "0") or 0)
    if count <= 0:
        return
    from backend.tracking.simulator import SimulatorSettings, run_simulator

    time.sleep(2)  # let the ingest subscribe first
    run_simulator(
        SimulatorSettings(
            mqtt_url=app.config["MQTT_URL"],
            topic_root=app.config["MQTT_TOPIC_ROOT"],
            database_url=app.config["DATABASE_URL"],
            vehicles=count,
        )
    )


for _worker in (ingest_worker, simulator_worker):
    if _worker not in runtime.BACKGROUND_WORKERS:
        runtime.BACKGROUND_WORKERS.append(_worker)
