"""Tracking's background workers for `fieldline serve`: the ingest and, optionally, a simulator."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask

from backend.config import Config


def ingest_worker(app: Flask, config: Config) -> None:
    """Run an ingest worker against the app's broker (3.1.1 for the embedded amqtt broker)."""
    from backend.tracking.checkpoints import arrival_rules
    from backend.tracking.ingest.worker import IngestSettings, IngestWorker

    settings = IngestSettings(
        mqtt_url=config.MQTT_URL,
        topic_root=config.MQTT_TOPIC_ROOT,
        client_id=config.INGEST_CLIENT_ID or "fieldline-ingest-embedded",
        username=config.MQTT_USERNAME,
        password=config.MQTT_PASSWORD,
        mqtt_version=config.MQTT_VERSION or 5,
        dead_letter_keep=timedelta(days=config.INGEST_DEAD_LETTER_DAYS),
        arrival=arrival_rules(config.as_flask()),
    )
    IngestWorker(app.extensions["fieldline.db"], settings).start()
    while True:
        time.sleep(3600)


def simulator_worker(app: Flask, config: Config) -> None:
    """Drive `SIMULATE` demo vehicles when set (`fieldline serve --simulate N`)."""
    if config.SIMULATE <= 0:
        return
    from backend.tracking.simulator import SimulatorSettings, run_simulator

    time.sleep(2)  # let the ingest subscribe first
    run_simulator(
        SimulatorSettings(
            mqtt_url=config.MQTT_URL,
            topic_root=config.MQTT_TOPIC_ROOT,
            database_url=config.DATABASE_URL,
            vehicles=config.SIMULATE,
            password=config.SIMULATOR_MQTT_PASSWORD,
        )
    )
