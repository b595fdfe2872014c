"""The dispatcher console: served locally, no external resources, locked down by CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

URL = re.compile(r"https?://([^/\s\"'<>)]+)", re.IGNORECASE)
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}


class Links(HTMLParser):
    """Collects what a page loads and anything that would run inline."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []
        self.inline_scripts = 0
        self.inline_handlers: list[str] = []
        self.style_attributes = 0
        self.style_elements = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            if values.get("src"):
                self.assets.append(values["src"] or "")
            else:
                self.inline_scripts += 1
        if tag == "link" and values.get("href"):
            self.assets.append(values["href"] or "")
        if tag in {"img", "iframe", "source", "audio", "video"} and values.get("src"):
            self.assets.append(values["src"] or "")
        if tag == "style":
            self.style_elements += 1
        for name, _value in attrs:
            if name.startswith("on"):
                self.inline_handlers.append(f"{tag}[{name}]")
            if name == "style":
                self.style_attributes += 1


def _page(client: FlaskClient) -> tuple[Any, Links]:
    response = client.get("/")
    links = Links()
    links.feed(response.get_data(as_text=True))
    return response, links


def _csp(response: Any) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def test_console_page_is_served(client: FlaskClient) -> None:
    response, links = _page(client)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'id="login-form"' in page and 'id="map"' in page
    assert sorted(a.rsplit("/", 1)[-1] for a in links.assets) == ["console.css", "console.js"]


def test_page_references_only_local_assets(client: FlaskClient) -> None:
    _response, links = _page(client)
    for asset in links.assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset


def test_page_has_no_url_to_another_host(client: FlaskClient) -> None:
    response, _links = _page(client)
    hosts = URL.findall(response.get_data(as_text=True))
    assert [h for h in hosts if h.split(":")[0] not in {"localhost", "127.0.0.1"}] == []


def test_page_runs_nothing_inline(client: FlaskClient) -> None:
    _response, links = _page(client)
    assert links.inline_scripts == 0
    assert links.inline_handlers == []
    assert links.style_attributes == 0 and links.style_elements == 0


def test_assets_are_served_without_external_urls(client: FlaskClient) -> None:
    _response, links = _page(client)
    for asset in links.assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        suffix = asset[asset.rfind(".") :]
        assert response.mimetype == ASSET_TYPES[suffix], (asset, response.mimetype)
        body = response.get_data(as_text=True)
        assert URL.findall(body) == [], asset
        assert "@import" not in body


def test_script_never_writes_markup_from_data(client: FlaskClient) -> None:
    _response, links = _page(client)
    script = next(a for a in links.assets if a.endswith(".js"))
    body = client.get(script).get_data(as_text=True)
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in body, sink
    assert "textContent" in body


@pytest.mark.parametrize("path", ["/", "/console/static/console.js", "/console/static/console.css"])
def test_content_security_policy_restricts_scripts_to_self(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    directives = _csp(response)
    assert directives.get("script-src") == ["'self'"]
    assert directives.get("default-src") == ["'self'"]
    assert directives.get("connect-src") == ["'self'"]
    assert directives.get("object-src") == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_csp_is_only_on_the_console(client: FlaskClient) -> None:
    assert "Content-Security-Policy" not in client.get("/healthz").headers


def test_console_stays_out_of_the_api_spec(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "/" not in paths
    assert not any(p.startswith("/console") for p in paths)


def test_display_timezone_reaches_the_page(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<body data-timezone="[A-Za-z_/+-]+">', page)


# The console finds these in the OpenAPI document at run time and shows "not available" when
# one is missing; this test tells whoever renames one that the console needs a look.
CONSOLE_ENDPOINTS = [
    ("post", "/api/v1/auth/login"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/departments"),
    ("get", "/api/v1/vehicles"),
    ("get", "/api/v1/tracking/vehicles"),
    ("get", "/api/v1/tracking/nearest"),
    ("get", "/api/v1/tracking/feed"),
    ("get", "/api/v1/work-orders"),
    ("get", "/api/v1/work-orders/{order_id}"),
    ("get", "/api/v1/work-orders/{order_id}/timeline"),
    ("get", "/api/v1/work-orders/{order_id}/candidates"),
    ("post", "/api/v1/work-orders/{order_id}/dispatch"),
    ("get", "/api/v1/alerts"),
    ("post", "/api/v1/alerts/{alert_id}/acknowledge"),
    ("get", "/api/v1/alerts/stream"),
    ("get", "/api/v1/sync/conflicts"),
    ("post", "/api/v1/sync/conflicts/{conflict_id}/resolve"),
]


def test_the_endpoints_the_console_uses_exist(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    missing = [f"{m.upper()} {p}" for m, p in CONSOLE_ENDPOINTS if m not in paths.get(p, {})]
    assert missing == []
