"""Serves the dispatcher console page, its built assets and optional local tiles."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    request,
    send_file,
    send_from_directory,
)

from backend.web.mbtiles import read_tile

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC / "dist" / "console.js"
MBTILES_TEMPLATE = "/tiles/{z}/{x}/{y}"
PMTILES_URL = "/tiles/basemap.pmtiles"
TILE_MAX_AGE = 86_400  # a day: basemaps change with a new extract, not by the minute

blp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/console/static",
)

# Everything comes from this origin (plus a configured tile server's images): the machines have
# no internet, and no inline script or style means an injected string in the data never runs.
BASE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:", "blob:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "media-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def basemap_templates(setting: str) -> list[str]:
    """Split FIELDLINE_BASEMAP_URL into its layers: the base first, overlays after."""
    return [part.strip() for part in setting.split("|") if part.strip()]


def tile_origin(template: str) -> str | None:
    """Return the CSP source a tile template loads from (None: this origin or unusable).

    A `{s}` subdomain becomes a `*.` wildcard, as CSP allows only in the leftmost label.
    """
    if template.startswith("/") and not template.startswith("//"):
        return None
    parts = urlsplit(template)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        log.warning("ignoring basemap template %r: not an http(s) URL", template)
        return None
    labels = parts.netloc.split(".")
    if "{" in labels[0]:
        labels[0] = "*"
    host = ".".join(labels)
    if "{" in host or "}" in host:
        log.warning("ignoring basemap template %r: placeholder in the host", template)
        return None
    return f"{parts.scheme}://{host}"


def pmtiles_basemap() -> str:
    """The PMTiles archive's URL when the console draws it (set, and no tile URL configured)."""
    config = current_app.config
    return PMTILES_URL if config.get("BASEMAP_PMTILES") and not config.get("BASEMAP_URL") else ""


def basemap_setting() -> str:
    """FIELDLINE_BASEMAP_URL, or the app's own MBTiles route when only a file is configured.

    A PMTiles archive is not a URL template (the console reads it by byte ranges): with one
    configured and no URL, the MBTiles route is not used.
    """
    config = current_app.config
    url = config.get("BASEMAP_URL", "")
    if url or pmtiles_basemap():
        return url
    return MBTILES_TEMPLATE if config.get("BASEMAP_MBTILES") else ""


def content_security_policy() -> str:
    """Build the console's CSP, admitting the configured tile server's images."""
    policy = {k: list(v) for k, v in BASE_POLICY.items()}
    for template in basemap_templates(basemap_setting()):
        origin = tile_origin(template)
        if origin and origin not in policy["img-src"]:
            policy["img-src"].append(origin)
    return "; ".join(" ".join([name, *sources]) for name, sources in policy.items())


@blp.route("/")
def console() -> str:
    """Serve the dispatcher console."""
    config = current_app.config
    built = BUNDLE.exists()
    if not built:
        log.error("console bundle %s is missing: run `make console`", BUNDLE)
    return render_template(
        "console.html",
        built=built,
        timezone=config.get("DISPLAY_TIMEZONE", "Asia/Shanghai"),
        language=config.get("CONSOLE_LANGUAGE", "zh-CN"),
        stale_hours=config.get("STALE_ORDER_HOURS", 24),
        basemap_url="|".join(basemap_templates(basemap_setting())),
        basemap_pmtiles=pmtiles_basemap(),
        basemap_attribution=config.get("BASEMAP_ATTRIBUTION", ""),
        basemap_datum=config.get("BASEMAP_DATUM", "wgs84"),
        basemap_subdomains=config.get("BASEMAP_SUBDOMAINS", "abc"),
        basemap_max_zoom=config.get("BASEMAP_MAX_ZOOM", 18),
    )


@blp.route("/console/tiles/<int:z>/<int:x>/<name>")
def tile(z: int, x: int, name: str) -> Response:
    """Serve a pre-rendered tile from FIELDLINE_BASEMAP_DIR (404 when unset or missing)."""
    folder = current_app.config.get("BASEMAP_DIR", "")
    if not folder:
        abort(404)
    # send_from_directory refuses paths leaving the folder.
    return send_from_directory(Path(folder) / str(z) / str(x), name, max_age=86_400)


@blp.route("/tiles/<int:z>/<int:x>/<int:y>")
def mbtiles_tile(z: int, x: int, y: int) -> Response:
    """Serve an XYZ tile from FIELDLINE_BASEMAP_MBTILES (404 when unset, absent or off-grid).

    Public like the console's page and assets: the basemap is geography, not Fieldline data,
    and Leaflet's <img> tile requests carry no bearer token.
    """
    path = current_app.config.get("BASEMAP_MBTILES", "")
    tile = read_tile(Path(path), z, x, y) if path else None
    if tile is None:
        abort(404)
    response = Response(tile.data, mimetype=tile.content_type)
    response.cache_control.public = True
    response.cache_control.max_age = TILE_MAX_AGE
    response.add_etag()
    return response.make_conditional(request)


@blp.route(PMTILES_URL)
def pmtiles_archive() -> Response:
    """Serve FIELDLINE_BASEMAP_PMTILES whole, with HTTP byte ranges (404 when unset or absent).

    The console's PMTiles reader asks for the header, directories and tiles by `Range`: each
    answer is a 206 with just those bytes; the ETag (size and time) changes with a new extract.
    Public like the MBTiles route: a basemap is geography, and no token rides on it.
    """
    path = current_app.config.get("BASEMAP_PMTILES", "")
    if not path or not Path(path).is_file():
        if path:
            log.error("basemap PMTiles %s is missing", path)
        abort(404)
    response = send_file(
        Path(path).resolve(),
        mimetype="application/vnd.pmtiles",
        conditional=True,
        max_age=TILE_MAX_AGE,
    )
    response.cache_control.public = True
    return response


@blp.after_request
def secure_headers(response: Response) -> Response:
    """Restrict the console and its assets to this origin."""
    response.headers["Content-Security-Policy"] = content_security_policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
