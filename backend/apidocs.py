"""Serves the Swagger UI assets from the swagger-ui-bundle wheel so the explorer needs no CDN."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

assets = Blueprint("apidocs_assets", __name__)


@assets.route("/api/docs-assets/<path:filename>")
def swagger_asset(filename: str) -> Response:
    """Return one Swagger UI file."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
