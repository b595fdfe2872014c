"""Liveness and readiness: database, migration revision and broker reachability."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from flask import Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.inputs import Blueprint
from backend.unit_of_work import database

blp = Blueprint("health", __name__, description="Health checks")


def broker_reachable(mqtt_url: str, timeout: float = 1.0) -> bool:
    """Tell whether an MQTT broker answers a CONNECT (a refused login still counts as up)."""
    parts = urlsplit(mqtt_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"health-{uuid.uuid4().hex}")
    answered: list[object] = []
    client.on_connect = lambda *args: answered.append(args[3])
    try:
        client.connect(parts.hostname or "127.0.0.1", parts.port or 1883, keepalive=5)
        deadline = time.monotonic() + timeout
        while not answered and time.monotonic() < deadline:
            client.loop(timeout=0.05)
        client.disconnect()
    except OSError:
        return False
    return bool(answered)


def database_status() -> dict[str, Any]:
    """Return whether the database answers and which migration revisions it is at."""
    try:
        # Through the session factory, so tests see the connection they are bound to.
        with database().session_factory() as session:
            session.execute(text("SELECT 1"))
            revisions = sorted(session.scalars(text("SELECT version_num FROM alembic_version")))
        return {"ok": True, "dialect": database().dialect, "revisions": revisions}
    except SQLAlchemyError as exc:
        return {"ok": False, "error": type(exc).__name__}


@blp.route("/healthz")
@blp.doc(security=[])
def healthz() -> Response:
    """Report database and broker reachability and the migration revision; 503 if the DB is down."""
    db = database_status()
    broker = {"ok": broker_reachable(current_app.config["MQTT_URL"])}
    response = jsonify(
        {"status": "ok" if db["ok"] else "unavailable", "database": db, "broker": broker}
    )
    response.status_code = 200 if db["ok"] else 503
    return response
