"""Liveness and readiness: database, migration revision and broker reachability."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from flask import Response, current_app, jsonify
from marshmallow import Schema, fields, validate
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from backend.errors import ServiceUnavailable, problem_response
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


class DatabaseStatusSchema(Schema):
    """Whether the database answers, and at which migration revisions."""

    ok = fields.Boolean(required=True)
    dialect = fields.String()
    revisions = fields.List(fields.String())
    error = fields.String()


class BrokerStatusSchema(Schema):
    """Whether the MQTT broker answers."""

    ok = fields.Boolean(required=True)


class HealthSchema(Schema):
    """Everything is reachable."""

    status = fields.String(required=True, validate=validate.OneOf(["ok"]))
    database = fields.Nested(DatabaseStatusSchema, required=True)
    broker = fields.Nested(BrokerStatusSchema, required=True)


@blp.route("/healthz")
@blp.doc(security=[])
@blp.response(200, HealthSchema)
@blp.alt_response(503, description="The database is down (a problem with `database`, `broker`)")
def healthz() -> Response:
    """Report database and broker reachability and the migration revision; 503 if the DB is down."""
    db = database_status()
    broker = {"ok": broker_reachable(current_app.config["MQTT_URL"])}
    if not db["ok"]:
        problem = ServiceUnavailable("The database does not answer.", database=db, broker=broker)
        return problem_response(problem.to_dict())
    return jsonify({"status": "ok", "database": db, "broker": broker})
