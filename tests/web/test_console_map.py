"""The console's map in real Chromium: customer and water layers, live outages, a PMTiles basemap,
crew members by name. Shares the browser suite's one stack (tests/web/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from backend.demo.network import WATER_NODES, WATER_PIPES
from tests.web.conftest import Stack
from tests.web.pages import Api, ConsolePage

TIMEOUT = 60_000  # ms; only stops a broken run from hanging


def _layer_toggle(page: Any, name: str) -> Any:
    return page.locator(".leaflet-control-layers label", has_text=name).locator("input")


def _premises(api: Api, bbox: str | None = None) -> int:
    query = f"?page_size=1&bbox={bbox}" if bbox else "?page_size=1"
    return int(api.call("GET", f"/archive/layers/premises{query}")["numberMatched"])


@pytest.mark.usefixtures("demo_network")
def test_customer_layer_loads_the_area_in_view_clustered(open_console: Any, stack: Stack) -> None:
    dispatcher = Api(stack, "dispatcher")
    assert _premises(dispatcher) > 0
    console = open_console("dispatcher")
    page = console.page
    toggle = _layer_toggle(page, "客户")
    assert not toggle.is_checked()  # off at first: nothing asked until it is turned on
    with page.expect_response(lambda r: "/archive/layers/premises" in r.url) as answer:
        toggle.check()
    bbox = parse_qs(urlsplit(answer.value.url).query)["bbox"][0]
    expected = _premises(dispatcher, bbox)
    assert expected > 0
    page.locator(f"#map[data-customers='{expected}']").wait_for(timeout=TIMEOUT)
    # Clustered: twenty customers around the depots do not draw twenty markers at city zoom.
    markers = page.locator("#map .customer-icon, #map .marker-cluster").count()
    assert 0 < markers
    # Moving the map asks again for the new area only: none out at sea.
    with page.expect_response(lambda r: "/archive/layers/premises" in r.url):
        page.evaluate("document.querySelector('#map').leafletMap.setView([20.0, 125.0], 12)")
    page.locator("#map[data-customers='0']").wait_for(timeout=TIMEOUT)
    # Zoomed in on one customer, its marker and its file's account show on hover.
    feature = dispatcher.call("GET", "/archive/layers/premises?page_size=1")["features"][0]
    lon, lat = feature["geometry"]["coordinates"]
    page.evaluate(f"document.querySelector('#map').leafletMap.setView([{lat}, {lon}], 18)")
    marker = page.locator("#map .customer-icon").first
    marker.wait_for(timeout=TIMEOUT)
    page.locator("#map .customer-icon").first.hover()
    page.locator(
        ".leaflet-tooltip", has_text=feature["properties"]["account_number"]
    ).first.wait_for(timeout=TIMEOUT)
    console.shot("dispatcher-customer-layer")
    # A crew sees only the customers of its scope (where its crews work), as the API says.
    crew = open_console("crew1")
    crew_toggle = _layer_toggle(crew.page, "客户")
    with crew.page.expect_response(lambda r: "/archive/layers/premises" in r.url) as answer:
        crew_toggle.check()
    bbox = parse_qs(urlsplit(answer.value.url).query)["bbox"][0]
    own = _premises(Api(stack, "crew1"), bbox)
    assert own < expected
    crew.page.locator(f"#map[data-customers='{own}']").wait_for(timeout=TIMEOUT)


@pytest.mark.usefixtures("demo_network")
def test_water_assets_are_drawn_by_kind_each_with_its_toggle(open_console: Any) -> None:
    console = open_console("dispatcher")
    page = console.page
    counts = {kind: sum(1 for n in WATER_NODES if n[1] == kind) for _, kind, *_ in WATER_NODES}
    expected = {
        "供水管道": ("path.water-pipe", len(WATER_PIPES)),
        "阀门": ("path.water-valve", counts["valve"]),
        "消火栓": ("path.water-hydrant", counts["hydrant"]),
        "监测点": ("path.water-monitoring_point", counts["monitoring_point"]),
    }
    page.evaluate("document.querySelector('#map').leafletMap.setView([30.253, 120.138], 15)")
    for name, (selector, count) in expected.items():
        toggle = _layer_toggle(page, name)
        assert not toggle.is_checked() and page.locator(selector).count() == 0
        toggle.check()
        page.locator(selector).first.wait_for(timeout=TIMEOUT)
        assert page.locator(selector).count() == count, name
    page.locator("path.water-hydrant").first.dispatch_event("mouseover")
    page.locator(".leaflet-tooltip", has_text="龙井路消火栓").wait_for(timeout=TIMEOUT)
    console.shot("dispatcher-water-layers")
    _layer_toggle(page, "阀门").uncheck()
    page.locator("path.water-valve").first.wait_for(state="detached", timeout=TIMEOUT)


def _outage(api: Api, line_code: str, status: str) -> dict[str, Any]:
    line = next(
        f
        for f in api.call("GET", "/network/layers/lines")["features"]
        if f["properties"]["code"] == line_code
    )
    now = datetime.now(UTC)
    body = {
        "kind": "unplanned",
        "scope": "line",
        "line_id": line["id"],
        "status": status,
        "reason": "线路跳闸",
        "starts_at": (now - timedelta(minutes=5)).isoformat(),
        "planned_end_at": (now + timedelta(hours=3)).isoformat(),
    }
    return dict(api.call("POST", "/outages", body))


@pytest.mark.usefixtures("demo_network")
def test_outages_follow_the_live_feed_without_a_reload(open_console: Any, stack: Stack) -> None:
    console = open_console("dispatcher")
    page = console.page
    page.locator("path.outage-line").first.wait_for(timeout=TIMEOUT)  # the demo's, on DEMO-L1
    # The feed's opening re-reads the outages once (closing the gap since the first load):
    # from then on, changes must come from the feed alone.
    page.locator("#feed-status[data-state=live]").wait_for(timeout=TIMEOUT)
    page.wait_for_load_state("networkidle")
    before = page.locator("path.outage-line").count()
    page.evaluate("window.fieldlineNoReload = true")
    asked: list[str] = []
    page.on("request", lambda r: "/api/v1/outages" in r.url and asked.append(r.url))
    admin = Api(stack, "admin")  # the demo lines are the company's: its admin manages them
    outage = _outage(admin, "DEMO-L2", "predicted")
    try:
        # Set through the API: it appears on the open console, dashed while predicted.
        page.locator("path.outage-line.outage-predicted").wait_for(timeout=TIMEOUT)
        assert page.locator("path.outage-line").count() == before + 1
        page.locator("#event-log li", has_text=outage["number"]).first.wait_for(timeout=TIMEOUT)
        transition = f"/outages/{outage['id']}/transition"
        admin.call("POST", transition, {"to": "confirmed"})
        page.locator("path.outage-line.outage-predicted").wait_for(
            state="detached", timeout=TIMEOUT
        )
        assert page.locator("path.outage-line.outage-confirmed").count() == before + 1
        console.shot("dispatcher-outage-live")
        # Restored through the API: it leaves the map.
        admin.call("POST", transition, {"to": "restored"})
        page.locator("path.outage-line.outage-confirmed").nth(before).wait_for(
            state="detached", timeout=TIMEOUT
        )
        assert page.locator("path.outage-line").count() == before
    finally:
        if admin.call("GET", f"/outages/{outage['id']}")["status"] in ("predicted", "confirmed"):
            admin.call("POST", f"/outages/{outage['id']}/transition", {"to": "restored"})
    assert page.evaluate("window.fieldlineNoReload") is True  # the same page, never reloaded
    assert asked == []  # from the feed: the outages were not fetched again


def test_a_pmtiles_basemap_is_drawn_from_byte_ranges(
    browser: Any, stack: Stack, tmp_path: Path
) -> None:
    from tests.web.tiles import solid_png, write_pmtiles

    # Zoom 0 and the four zoom-1 tiles; the map scales zoom 1 up to the city view.
    tiles = {(0, 0, 0): solid_png((120, 160, 200))}
    tiles |= {
        (1, x, y): solid_png((90 + 40 * x, 140, 100 + 40 * y)) for x in (0, 1) for y in (0, 1)
    }
    archive = write_pmtiles(tmp_path / "basemap.pmtiles", tiles)
    stack.app.config["BASEMAP_PMTILES"] = str(archive)
    console = ConsolePage(browser, stack)
    try:
        ranges: list[tuple[str | None, int]] = []
        console.page.on(
            "response",
            lambda r: (
                r.url.endswith("/tiles/basemap.pmtiles")
                and ranges.append((r.request.headers.get("range"), r.status))
            ),
        )
        page = console.login("dispatcher").page
        tile = page.locator(".leaflet-tile-pane img.leaflet-tile-loaded").first
        tile.wait_for(timeout=TIMEOUT)
        assert tile.evaluate("img => img.src.startsWith('blob:') && img.naturalWidth") == 256
        assert ranges and all(r and r.startswith("bytes=") and s == 206 for r, s in ranges)
        assert "no-basemap" not in (page.locator("#map").get_attribute("class") or "")
        console.shot("dispatcher-pmtiles-basemap")
    finally:
        stack.app.config["BASEMAP_PMTILES"] = ""
        problems = console.close()
    assert problems == [], "the browser saw errors or failed requests"


def test_the_roster_names_each_crew_member(open_console: Any, stack: Stack) -> None:
    crews = Api(stack, "dispatcher").call("GET", "/crews")
    urban = next(c for c in crews if c["name"] == "Urban Crew 1")
    names = [m["name"] for m in urban["members"]]
    assert names and all(names)
    console = open_console("dispatcher")
    page = console.page
    page.click("#views-nav a[data-view=roster]")
    row = page.locator(f"#view-roster tr[data-crew='{urban['id']}']")
    row.wait_for(timeout=TIMEOUT)
    shown = row.locator(".members .member").all_inner_texts()
    assert [text.replace("★", "").strip() for text in shown] == names
    receiving = [m["name"] for m in urban["members"] if m["receives_orders"]]
    assert row.locator(".member[data-receives=yes]").all_inner_texts()[0].startswith(receiving[0])
