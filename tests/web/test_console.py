"""The dispatcher console page: served locally, no external resources, locked down by CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from backend.config import ROOT, TestConfig
from backend.web.routes import tile_origin

URL = re.compile(r"https?://([^/\s\"'<>)]+)", re.IGNORECASE)
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}
SOURCES = ROOT / "backend" / "web" / "src"
DIST = ROOT / "backend" / "web" / "static" / "dist"


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
        if tag == "link" and values.get("href") and values.get("rel") == "stylesheet":
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
    directives: dict[str, list[str]] = {}
    for part in response.headers.get("Content-Security-Policy", "").split(";"):
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
    assert 'type="module"' in page


def test_the_bundle_is_built() -> None:
    assert (DIST / "console.js").exists(), "run `make console` (npm ci + esbuild)"
    assert (DIST / "console.css").exists()


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


def test_assets_are_served_and_load_nothing_from_elsewhere(client: FlaskClient) -> None:
    _response, links = _page(client)
    for asset in links.assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        suffix = asset[asset.rfind(".") :]
        assert response.mimetype == ASSET_TYPES[suffix], (asset, response.mimetype)
        body = response.get_data(as_text=True)
        assert "@import" not in body
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", body), asset
        assert not re.search(r"(import\(|from)\s*['\"](https?:)?//", body), asset


@pytest.mark.parametrize("source", sorted(SOURCES.glob("*.js")), ids=lambda p: p.name)
def test_console_sources_never_write_markup_from_data(source: Path) -> None:
    # Leaflet, ECharts and the marker cluster get DOM nodes or escaped text from us, never HTML.
    body = source.read_text()
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in body, sink
    assert not URL.findall(body), "the console loads nothing from another host"


@pytest.mark.parametrize("path", ["/", "/console/static/dist/console.js"])
def test_content_security_policy_restricts_scripts_to_self(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    directives = _csp(response)
    assert directives.get("script-src") == ["'self'"]
    assert directives.get("default-src") == ["'self'"]
    assert directives.get("connect-src") == ["'self'"]
    assert directives.get("object-src") == ["'none'"]
    assert directives.get("img-src") == ["'self'", "data:", "blob:"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_csp_is_only_on_the_console(client: FlaskClient) -> None:
    assert "Content-Security-Policy" not in client.get("/healthz").headers


def test_console_stays_out_of_the_api_spec(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "/" not in paths
    assert not any(p.startswith("/console") for p in paths)


def test_settings_reach_the_page(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'data-timezone="[A-Za-z_/+-]+"', page)
    assert 'data-language="zh-CN"' in page and 'data-basemap-url=""' in page
    assert re.search(r'data-stale-hours="[0-9.]+"', page)


@pytest.mark.parametrize(
    ("template", "origin"),
    [
        ("https://tiles.grid.local/{z}/{x}/{y}.png", "https://tiles.grid.local"),
        ("https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=KEY&x={x}", "https://*.tianditu.gov.cn"),
        ("http://10.1.2.3:8080/osm/{z}/{x}/{y}.png", "http://10.1.2.3:8080"),
        ("/console/tiles/{z}/{x}/{y}.png", None),
        ("javascript:alert(1)", None),
        ("https://{s}.{z}.example/{x}", None),
    ],
)
def test_tile_origin_admits_only_the_tile_host(template: str, origin: str | None) -> None:
    assert tile_origin(template) == origin


def _client_with(tmp_path: Path, **settings: Any) -> FlaskClient:
    from backend.app import create_app

    config = TestConfig(DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}", **settings)
    app: Flask = create_app(config)
    return app.test_client()


def test_a_configured_basemap_reaches_the_page_and_its_csp(tmp_path: Path) -> None:
    template = "https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=KEY|https://t{s}.tianditu.gov.cn/cva_w/x"
    client = _client_with(tmp_path, BASEMAP_URL=template, BASEMAP_SUBDOMAINS="01234567")
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert 'data-basemap-subdomains="01234567"' in page
    assert "vec_w/wmts?tk=KEY|https://t{s}.tianditu.gov.cn/cva_w/x" in page
    assert _csp(response)["img-src"] == ["'self'", "data:", "blob:", "https://*.tianditu.gov.cn"]
    assert _csp(response)["connect-src"] == ["'self'"]


def test_local_tiles_are_served_from_the_configured_folder_only(tmp_path: Path) -> None:
    tiles = tmp_path / "tiles"
    (tiles / "12" / "3421").mkdir(parents=True)
    (tiles / "12" / "3421" / "1677.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "secret.txt").write_text("no")
    client = _client_with(tmp_path, BASEMAP_DIR=str(tiles))
    assert client.get("/console/tiles/12/3421/1677.png").status_code == 200
    assert client.get("/console/tiles/12/3421/1678.png").status_code == 404
    assert client.get("/console/tiles/12/3421/..%2F..%2F..%2Fsecret.txt").status_code == 404
    assert _client_with(tmp_path).get("/console/tiles/12/3421/1677.png").status_code == 404


@pytest.mark.parametrize("name", ["messages.js", "messages-views.js"])
def test_both_languages_have_every_text(name: str) -> None:
    source = (SOURCES / name).read_text()
    blocks = re.findall(r"const (en|zh) = \{(.*?)\n\};", source, re.DOTALL)
    keys = {name: set(re.findall(r'"([a-zA-Z0-9_.]+)":', body)) for name, body in blocks}
    assert len(keys["en"]) > 100
    assert keys["en"] == keys["zh"]


def test_the_console_asks_only_for_actions_the_server_lists() -> None:
    from backend.auth.actions import CONSOLE_ACTIONS

    asked = {
        m for p in SOURCES.glob("*.js") for m in re.findall(r'can\("([^"]+)"\)', p.read_text())
    }
    assert asked and asked <= set(CONSOLE_ACTIONS)


def test_assets_in_subfolders_are_served_and_nul_names_nothing(client: FlaskClient) -> None:
    chunks = sorted((DIST / "chunks").glob("*.js"))
    assert chunks, "the bundle has no lazily loaded chunk (ECharts)"
    assert client.get(f"/console/static/dist/chunks/{chunks[0].name}").status_code == 200
    assert client.get("/console/static/dist/console%00.js").status_code == 404


def _mbtiles(path: Path, tiles: dict[tuple[int, int, int], bytes], fmt: str = "png") -> Path:
    """A tiny MBTiles file as tile tools write it: metadata + tiles in TMS rows."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        db.execute(
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER,"
            " tile_data BLOB)"
        )
        db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test"), ("format", fmt)])
        db.executemany(
            "INSERT INTO tiles VALUES (?, ?, ?, ?)",
            [(z, x, row, data) for (z, x, row), data in tiles.items()],
        )
    db.close()
    return path


PNG = b"\x89PNG\r\n\x1a\n" + b"tile-12-3421-1677"


def test_mbtiles_tiles_are_served_with_the_tms_row_flipped(tmp_path: Path) -> None:
    # XYZ 12/3421/1677 (Hangzhou) is TMS row 2**12 - 1 - 1677 = 2418.
    file = _mbtiles(tmp_path / "hz.mbtiles", {(12, 3421, 2418): PNG, (12, 3421, 1677): b"wrong"})
    before = file.read_bytes()
    client = _client_with(tmp_path, BASEMAP_MBTILES=str(file))
    response = client.get("/tiles/12/3421/1677")
    assert response.status_code == 200
    assert response.data == PNG and response.mimetype == "image/png"
    assert response.cache_control.public and response.cache_control.max_age == 86_400
    # Conditional requests: a browser revalidating gets a 304 without the bytes.
    etag = response.headers["ETag"]
    again = client.get("/tiles/12/3421/1677", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    # Absent, off the grid (x and y < 2**z), a negative or silly zoom: 404, never a 500.
    for url in (
        "/tiles/12/3421/1678",
        "/tiles/12/4096/1677",
        "/tiles/12/3421/4096",
        "/tiles/1/0/2",
        "/tiles/40/0/0",
        "/tiles/-1/0/0",
        "/tiles/12/3421/abc",
    ):
        assert client.get(url).status_code == 404, url
    # Public like the page (no token), and with no MBTiles configured the route is a 404.
    assert _client_with(tmp_path).get("/tiles/12/3421/1677").status_code == 404
    assert file.read_bytes() == before  # read-only: the file is never written


def test_mbtiles_alone_becomes_the_consoles_basemap(tmp_path: Path) -> None:
    file = _mbtiles(tmp_path / "hz.mbtiles", {(0, 0, 0): PNG})
    client = _client_with(tmp_path, BASEMAP_MBTILES=str(file))
    response = client.get("/")
    assert 'data-basemap-url="/tiles/{z}/{x}/{y}"' in response.get_data(as_text=True)
    assert _csp(response)["img-src"] == ["'self'", "data:", "blob:"]  # same origin
    assert client.get("/tiles/0/0/0").data == PNG
    # A configured tile URL wins; the file's route stays available to it.
    client = _client_with(tmp_path, BASEMAP_MBTILES=str(file), BASEMAP_URL="/other/{z}/{x}/{y}")
    assert 'data-basemap-url="/other/{z}/{x}/{y}"' in client.get("/").get_data(as_text=True)


def test_a_missing_or_broken_mbtiles_file_is_a_404_not_a_500(tmp_path: Path) -> None:
    missing = tmp_path / "absent.mbtiles"
    assert (
        _client_with(tmp_path, BASEMAP_MBTILES=str(missing)).get("/tiles/0/0/0").status_code == 404
    )
    assert not missing.exists()  # read-only open never creates the file
    junk = tmp_path / "junk.mbtiles"
    junk.write_bytes(b"not sqlite at all")
    assert _client_with(tmp_path, BASEMAP_MBTILES=str(junk)).get("/tiles/0/0/0").status_code == 404
    vector = _mbtiles(tmp_path / "vector.mbtiles", {(0, 0, 0): b"\x1f\x8b..."}, fmt="pbf")
    assert (
        _client_with(tmp_path, BASEMAP_MBTILES=str(vector)).get("/tiles/0/0/0").status_code == 404
    )


def test_a_pmtiles_archive_is_served_by_byte_ranges(tmp_path: Path) -> None:
    from tests.web.tiles import solid_png, write_pmtiles

    file = write_pmtiles(tmp_path / "hz.pmtiles", {(0, 0, 0): solid_png((200, 30, 30))})
    whole = file.read_bytes()
    client = _client_with(tmp_path, BASEMAP_PMTILES=str(file))
    # The reader's first request: the header and root directory, by range.
    first = client.get("/tiles/basemap.pmtiles", headers={"Range": "bytes=0-126"})
    assert first.status_code == 206 and first.data == whole[:127]
    assert first.headers["Content-Range"] == f"bytes 0-126/{len(whole)}"
    assert first.headers["Accept-Ranges"] == "bytes"
    assert first.cache_control.public and first.cache_control.max_age == 86_400
    # A tile's bytes further in; a range running past the end is cut at the end.
    middle = client.get("/tiles/basemap.pmtiles", headers={"Range": "bytes=127-300"})
    assert middle.status_code == 206 and middle.data == whole[127:301]
    tail = client.get("/tiles/basemap.pmtiles", headers={"Range": f"bytes=100-{len(whole) + 50}"})
    assert tail.status_code == 206 and tail.data == whole[100:]
    # Past the end is a 416, and without a range the whole archive comes back.
    beyond = client.get("/tiles/basemap.pmtiles", headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416
    full = client.get("/tiles/basemap.pmtiles")
    assert full.status_code == 200 and full.data == whole
    # A strong ETag the reader checks across requests; revalidation answers 304.
    etag = full.headers["ETag"]
    assert not etag.startswith("W/") and first.headers["ETag"] == etag
    assert client.get("/tiles/basemap.pmtiles", headers={"If-None-Match": etag}).status_code == 304
    # Unset or absent: 404, never a 500.
    assert _client_with(tmp_path).get("/tiles/basemap.pmtiles").status_code == 404
    absent = _client_with(tmp_path, BASEMAP_PMTILES=str(tmp_path / "absent.pmtiles"))
    assert absent.get("/tiles/basemap.pmtiles").status_code == 404


def test_a_pmtiles_archive_becomes_the_basemap_unless_a_url_is_set(tmp_path: Path) -> None:
    from tests.web.tiles import solid_png, write_pmtiles

    file = write_pmtiles(tmp_path / "hz.pmtiles", {(0, 0, 0): solid_png((0, 0, 0))})
    mbtiles = _mbtiles(tmp_path / "hz.mbtiles", {(0, 0, 0): PNG})
    client = _client_with(tmp_path, BASEMAP_PMTILES=str(file), BASEMAP_MBTILES=str(mbtiles))
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert 'data-basemap-pmtiles="/tiles/basemap.pmtiles"' in page
    assert 'data-basemap-url=""' in page  # the archive, not the MBTiles route, is the base
    assert _csp(response)["connect-src"] == ["'self'"]  # read by fetch, from this origin
    client = _client_with(tmp_path, BASEMAP_PMTILES=str(file), BASEMAP_URL="/other/{z}/{x}/{y}")
    page = client.get("/").get_data(as_text=True)
    assert 'data-basemap-url="/other/{z}/{x}/{y}"' in page
    assert 'data-basemap-pmtiles=""' in page
