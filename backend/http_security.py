"""HTTP hardening for every response: client address behind proxies, headers, no URL tokens."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from backend.errors import Unauthorized

_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def init_app(app: Flask) -> None:
    """Trust the configured proxies, refuse URL tokens, and add the security headers."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        # Only the last `proxies` hops are believed; anything a client prepends is ignored.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    @app.before_request
    def refuse_tokens_in_url() -> None:
        if "access_token" in request.args:
            raise Unauthorized(
                "Tokens are not accepted in the URL (URLs end up in logs); send "
                "`Authorization: Bearer`, or open event streams with `?ticket=` from "
                "POST /api/v1/auth/stream-ticket."
            )

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith("/api/v1/auth/"):
            # Tokens and identities: never kept by browsers or intermediaries.
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if (request.endpoint or "").endswith(".openapi_swagger_ui"):
            response.headers["Content-Security-Policy"] = _docs_policy(response)
        return response


def _docs_policy(response: Response) -> str:
    """A CSP for the API explorer: its own assets only, plus the one inline bootstrap script."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(response.get_data())
    )
    return (
        "default-src 'none'; "
        f"script-src 'self' {hashes}; "
        # Swagger UI sets style attributes from script; no script runs from them.
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
