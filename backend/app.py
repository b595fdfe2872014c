"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask
from flask_smorest import Api

from backend import (
    models,  # noqa: F401 - register every table before the app is used
    unit_of_work,
)
from backend.apidocs import assets
from backend.auth import guard
from backend.auth.routes import blp as auth_blp
from backend.config import Config
from backend.db import Database
from backend.errors import register_error_handlers
from backend.health import blp as health_blp
from backend.org.routes import blp as org_blp

BLUEPRINTS = [health_blp, auth_blp, org_blp]

SECURITY_SCHEMES = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def create_app(config: Config | None = None, database: Database | None = None) -> Flask:
    """Build an app for a configuration; tests pass their own database."""
    config = config or Config()
    app = Flask(__name__)
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
    unit_of_work.init_app(app, database or Database(config.DATABASE_URL))
    guard.init_app(app)
    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    app.register_blueprint(assets)
    register_error_handlers(app)  # after Api(): ours replace smorest's JSON error bodies
    return app
