"""Serves the dispatcher console page and its assets; a plain blueprint, outside the API spec."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

blp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)

# Everything comes from this origin: the machines have no internet, and no inline script or
# style means an injected string in the data can never run.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@blp.route("/")
def console() -> str:
    """Serve the dispatcher console."""
    timezone = current_app.config.get("DISPLAY_TIMEZONE", "Asia/Shanghai")
    return render_template("console.html", timezone=timezone)


@blp.after_request
def secure_headers(response: Response) -> Response:
    """Restrict the console and its assets to this origin."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
