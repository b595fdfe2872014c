"""The Flask application factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask_smorest import Api
from werkzeug.routing import IntegerConverter

from backend import (
    http_security,
    inputs,
    unit_of_work,
    wiring,
)
from backend.apidocs import assets
from backend.archive.access_routes import blp as archive_access_blp
from backend.archive.deadline_routes import blp as archive_deadlines_blp
from backend.archive.document_routes import blp as archive_documents_blp
from backend.archive.io_routes import blp as archive_io_blp
from backend.archive.retention_routes import blp as archive_retention_blp
from backend.archive.routes import blp as archive_blp
from backend.auth import guard, passwords
from backend.auth.routes import blp as auth_blp
from backend.config import Config
from backend.db import Database
from backend.dispatch.alert_routes import blp as alerts_blp
from backend.dispatch.routes import blp as dispatch_blp
from backend.errors import ProblemSchema, register_error_handlers
from backend.health import blp as health_blp
from backend.inspection.plan_routes import blp as inspection_plans_blp
from backend.inspection.routes import blp as inspection_blp
from backend.inspection.verification_routes import blp as verification_blp
from backend.live import http as live
from backend.network.outage_routes import blp as outages_blp
from backend.network.routes import blp as network_blp
from backend.network.water_routes import blp as water_blp
from backend.org.routes import blp as org_blp
from backend.reports.routes import blp as reports_blp
from backend.risk.billing_routes import blp as risk_billing_blp
from backend.risk.class_routes import blp as risk_classes_blp
from backend.risk.classification_routes import blp as risk_classification_blp
from backend.risk.ladder_routes import blp as risk_ladder_blp
from backend.risk.list_routes import blp as risk_lists_blp
from backend.risk.report_routes import blp as risk_reports_blp
from backend.risk.routes import blp as risk_blp
from backend.spec import TruthfulResponses
from backend.tracking.routes import blp as tracking_blp
from backend.web.routes import blp as web_blp
from sync.blobs.http import blp as blobs_blp
from sync.http import blp as sync_blp

BLUEPRINTS = [
    health_blp,
    auth_blp,
    org_blp,
    sync_blp,
    blobs_blp,
    dispatch_blp,
    alerts_blp,
    reports_blp,
    tracking_blp,
    archive_blp,
    network_blp,
    archive_documents_blp,
    archive_io_blp,
    archive_deadlines_blp,
    archive_access_blp,
    archive_retention_blp,
    outages_blp,
    water_blp,
    inspection_blp,
    risk_blp,
    risk_billing_blp,
    risk_classes_blp,
    risk_classification_blp,
    risk_lists_blp,
    risk_reports_blp,
    risk_ladder_blp,
    inspection_plans_blp,
    verification_blp,
]

SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` bounded to the database's integer range: a bigger id is a 404, not a 500."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


class FieldlineApi(Api):  # type: ignore[misc]
    """flask-smorest's Api documenting errors as RFC 9457 problems."""

    ERROR_SCHEMA = ProblemSchema


def create_app(config: Config | None = None, database: Database | None = None) -> Flask:
    """Build an app for a configuration; tests pass their own database."""
    config = config or Config()
    app = Flask(__name__)
    inputs.init_app(app)  # before any route: the JSON provider and NUL-free path segments
    app.url_map.converters["int"] = DatabaseIdConverter
    app.config.from_mapping(config.as_flask())
    app.config["API_SPEC_OPTIONS"] = {
        "security": [{"bearerAuth": []}],
        "components": {"securitySchemes": SECURITY_SCHEMES},
        "info": {
            "description": "Fieldline: field service for utilities. Errors are RFC 9457 "
            "application/problem+json."
        },
    }
    logging.basicConfig(level=logging.INFO)
    app.extensions["fieldline.config"] = config  # workers and commands read settings here
    passwords.configure(fast=config.FAST_HASH)
    wiring.install_session_listeners()  # tests may pass a Database built without them
    database = database or wiring.open_database(config.DATABASE_URL, config.READ_DATABASE_URL)
    unit_of_work.init_app(app, database)
    live.init_app(app, database, config)
    guard.init_app(app)
    http_security.init_app(app)
    wiring.wire_sync()
    api = FieldlineApi(app, spec_kwargs={"extra_plugins": [TruthfulResponses()]})
    for blueprint in (sync_blp, blobs_blp):  # after their authentication hook
        if inputs.decode_json_body not in blueprint.before_request_funcs.get(None, []):
            blueprint.before_request(inputs.decode_json_body)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(assets)
    app.register_blueprint(web_blp)  # the console: plain Flask, outside the API spec
    register_error_handlers(app)  # after Api(): ours replace smorest's JSON error bodies
    return app
