"""The console in real Chromium against a live demo stack: each role's job, end to end."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from backend.demo import CREWS
from tests.web.conftest import Stack
from tests.web.pages import FAR_SITE, Api

TIMEOUT = 60_000  # ms; only stops a broken run from hanging


@pytest.mark.parametrize(
    ("username", "views", "new_order", "alerts"),
    [
        ("callcenter", ["board", "reports", "wall"], True, True),
        ("dispatcher", ["board", "roster", "reports", "conflicts", "wall"], False, True),
        (
            "supervisor",
            ["board", "roster", "reports", "conflicts", "risk", "inspection", "wall"],
            False,
            True,
        ),
        ("crew1", ["board", "roster"], False, False),
    ],
)
def test_each_role_gets_its_own_board(
    open_console: Any, username: str, views: list[str], new_order: bool, alerts: bool
) -> None:
    console = open_console(username)
    page = console.page
    assert page.locator("#views-nav a").evaluate_all("els => els.map(e => e.dataset.view)") == views
    assert page.locator("#new-order-button").is_visible() is new_order
    alert_note = page.locator("#alerts-list").inner_text()
    assert ("告警发送给" in alert_note) is (not alerts)
    assert page.locator(".leaflet-container").count() == 1
    layers = page.locator(".leaflet-control-layers").inner_text()
    assert "工单" in layers and "馈线" in layers and "台区" in layers  # the network's layers too
    console.shot(f"board-{username}")


def test_call_center_takes_and_issues_an_order_the_dispatcher_sends_out(
    open_console: Any, stack: Stack
) -> None:
    agent = open_console("callcenter")
    page = agent.page
    page.click("#new-order-button")
    dialog = page.locator("#form-dialog")
    dialog.locator("select[name=specialty]").select_option("low_voltage")
    dialog.locator("input[name=fault_type]").fill("停电 whole building")
    dialog.locator("input[name=caller_phone]").fill("13800000001")
    dialog.locator("input[name=address]").fill("文三路 12 号")
    dialog.locator("input[name=lon]").fill("120.1710")
    dialog.locator("input[name=lat]").fill("30.2990")
    centers = dialog.locator("select[name=repair_center_id] option").all_inner_texts()
    dialog.locator("select[name=repair_center_id]").select_option(label="North Repair Center")
    assert "North Repair Center" in centers
    dialog.locator("button[type=submit]").click()
    toast = page.locator(".toast-success").first
    toast.wait_for(timeout=TIMEOUT)
    number = re.search(r"WO\d{8}-[0-9A-F]{6}", toast.inner_text())
    assert number, toast.inner_text()
    number_text = number.group(0)
    page.wait_for_selector(f"#detail-body dd:text-is('{number_text}')")
    assert "已到抢修中心" in page.locator("#detail-body").inner_text()
    agent.shot("callcenter-created")

    dispatcher = open_console("dispatcher")
    board = dispatcher.page
    dispatcher.order_row(number_text).wait_for(timeout=TIMEOUT)
    dispatcher.select(number_text)
    actions = board.locator("#detail-body .actions button")
    # Before the center accepts, dispatching is not offered.
    assert actions.evaluate_all("els => els.map(e => e.dataset.action)") == ["accept"]
    actions.filter(has_text="接单").click()
    board.wait_for_selector("#detail-body button[data-action=candidates]", timeout=TIMEOUT)
    board.click("#detail-body button[data-action=candidates]")
    suggested = board.locator("#candidates tr.suggested")
    suggested.wait_for(timeout=TIMEOUT)
    assert "推荐" in suggested.inner_text() and "分钟" in suggested.inner_text()
    crew = suggested.locator("td strong").first.inner_text().strip()
    board.locator(".route-label").first.wait_for(timeout=TIMEOUT)
    dispatcher.shot("dispatcher-candidates")
    suggested.locator("button").click()
    board.locator(".toast-success", has_text=crew).wait_for(timeout=TIMEOUT)

    # The simulated terminal drives there: its marker moves, the timeline reaches H, then done.
    vehicle = board.locator(".vehicle-icon").first
    before = _marker_positions(board)
    board.wait_for_function(
        "before => [...document.querySelectorAll('.vehicle-icon')]"
        ".some((el, i) => el.style.transform !== before[i])",
        arg=before,
        timeout=TIMEOUT,
    )
    assert vehicle.count() == 1 or board.locator(".vehicle-icon").count() >= 1
    board.wait_for_selector(".points li.reached:has-text('H')", timeout=TIMEOUT)
    board.locator("#event-log li", has_text="已到达").first.wait_for(timeout=TIMEOUT)
    dispatcher.shot("dispatcher-on-site")
    # The simulated terminal reports the repair done; where it has not yet, the crew does from
    # its handheld (a 409 then means the terminal was first). The board shows it either way.
    order_id = board.locator("#orders-list li.order", has_text=number_text).get_attribute("data-id")
    crew_user = next(members[0][0] for name, _, _, members, _, _ in CREWS if name == crew)
    try:
        Api(stack, crew_user).call(
            "POST",
            f"/work-orders/{order_id}/events",
            {"point": "finished", "occurred_at": datetime.now(UTC).isoformat()},
        )
    except HTTPError as error:
        assert error.code == 409, error
    board.locator("#detail-body dd", has_text="已修复").wait_for(timeout=TIMEOUT)


def _marker_positions(page: Any) -> list[str]:
    return list(
        page.locator(".vehicle-icon").evaluate_all("els => els.map(e => e.style.transform)")
    )


def test_an_unaccepted_order_raises_a_visible_and_audible_alert(
    open_console: Any, stack: Stack
) -> None:
    dispatcher = open_console("dispatcher")
    page = dispatcher.page
    agent = Api(stack, "callcenter")
    order = agent.new_order(issue_to=agent.call("GET", "/repair-centers")[0]["id"])
    alert = page.locator("#alerts-list li.alert", has_text=order["number"])
    alert.wait_for(timeout=TIMEOUT)
    assert page.locator("body").get_attribute("data-last-cue") == "escalation"
    assert int(page.locator("body").get_attribute("data-sounded") or 0) >= 1
    assert re.match(r"^\(\d+\) ", page.title())
    assert page.locator("#alert-badge").is_visible()
    dispatcher.shot("dispatcher-alert")
    # Accepting removes the cause: the alert closes itself.
    dispatcher.select(order["number"])
    page.click("#detail-body button[data-action=accept]")
    alert.wait_for(state="detached", timeout=TIMEOUT)


def test_dispatcher_reassigns_then_recalls(open_console: Any, stack: Stack) -> None:
    agent, center = Api(stack, "callcenter"), Api(stack, "dispatcher")
    # Far out of town: the simulated crew is still on its way while the dispatcher changes it.
    order = agent.new_order(
        issue_to=agent.call("GET", "/repair-centers")[0]["id"], location=FAR_SITE
    )
    center.call("POST", f"/work-orders/{order['id']}/accept")
    first = center.call("GET", f"/work-orders/{order['id']}/candidates")[0]
    center.call("POST", f"/work-orders/{order['id']}/dispatch", {"crew_id": first["crew_id"]})

    dispatcher = open_console("dispatcher")
    page = dispatcher.page
    dispatcher.order_row(order["number"]).wait_for(timeout=TIMEOUT)
    dispatcher.select(order["number"])
    page.click("#detail-body button[data-action=reassign]")
    row = page.locator("#candidates tbody tr").first
    row.wait_for(timeout=TIMEOUT)
    other = row.locator("td strong").first.inner_text().strip()
    assert other != first["crew_name"]
    row.locator("button").click()
    page.fill("#confirm-reason", "closer crew")
    page.click("#confirm-ok")
    page.locator(".toast-success", has_text=other).wait_for(timeout=TIMEOUT)
    assert center.call("GET", f"/work-orders/{order['id']}")["crew_id"] != first["crew_id"]

    page.locator("#detail-body button[data-action=recall]").click()
    page.fill("#confirm-reason", "wrong address")
    page.click("#confirm-ok")
    page.locator("#detail-body dd", has_text="中心已接单").wait_for(timeout=TIMEOUT)
    assert center.call("GET", f"/work-orders/{order['id']}")["status"] == "center_accepted"


def test_language_switches_between_chinese_and_english(open_console: Any) -> None:
    console = open_console("supervisor")
    page = console.page
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#orders-title").inner_text() == "工单"
    page.select_option("#lang-select", "en")
    assert page.locator("#orders-title").inner_text() == "Orders"
    assert page.locator("#views-nav a[data-view=reports]").inner_text() == "Reports"
    page.click("#views-nav a[data-view=reports]")
    page.locator(".chart-card canvas").first.wait_for(timeout=TIMEOUT)
    console.shot("supervisor-reports-en")
    page.click("#views-nav a[data-view=wall]")
    page.locator(".wall-tile").first.wait_for(timeout=TIMEOUT)
    console.shot("supervisor-wall-en")
    page.select_option("#lang-select", "zh-CN")
    assert page.locator(".wall-open span").inner_text() == "未结工单"


def test_dispatcher_stands_a_crew_down_and_back_and_sees_its_queue(open_console: Any) -> None:
    console = open_console("dispatcher")
    page = console.page
    page.click("#views-nav a[data-view=roster]")
    crew = page.locator("#view-roster tr[data-crew]", has_text="Urban Crew 2")
    crew.wait_for(timeout=TIMEOUT)
    crew.locator("button", has_text="暂停接单").click()
    page.fill("#confirm-reason", "lunch")
    page.click("#confirm-ok")
    crew.locator(".avail-no", has_text="lunch").wait_for(timeout=TIMEOUT)
    vehicle = page.locator("#view-roster tr[data-vehicle]", has_text="ZJ-A1002")
    assert vehicle.locator(".vstate").inner_text() in {"空闲", "忙碌", "定位过旧", "离线"}
    vehicle.locator("button", has_text="工单顺序").click()
    page.locator("#queue-box h3", has_text="ZJ-A1002").wait_for(timeout=TIMEOUT)
    console.shot("dispatcher-roster")
    crew.locator("button", has_text="恢复待命").click()
    crew.locator(".avail-yes").wait_for(timeout=TIMEOUT)
    page.click("#views-nav a[data-view=conflicts]")
    page.locator("#view-conflicts .note", has_text="没有未处理的冲突").wait_for(timeout=TIMEOUT)


def test_reports_download_as_csv_and_xlsx(open_console: Any) -> None:
    console = open_console("supervisor")
    page = console.page
    page.click("#views-nav a[data-view=reports]")
    card = page.locator(".chart-card[data-report=vehicle-busy]")
    card.locator("canvas").first.wait_for(timeout=TIMEOUT)
    with page.expect_download() as csv_download:
        card.locator("button", has_text="CSV").click()
    assert csv_download.value.suggested_filename == "vehicle-busy-hours.csv"
    assert Path(csv_download.value.path()).read_text().startswith("department_id,")
    with page.expect_download() as xlsx_download:
        card.locator("button", has_text="XLSX").click()
    assert Path(xlsx_download.value.path()).read_bytes()[:2] == b"PK"  # a zip: an xlsx workbook


def test_a_crew_sees_its_own_orders_read_only(open_console: Any, stack: Stack) -> None:
    agent, center = Api(stack, "callcenter"), Api(stack, "dispatcher")
    order = agent.new_order(issue_to=agent.call("GET", "/repair-centers")[0]["id"])
    center.call("POST", f"/work-orders/{order['id']}/accept")
    crews = center.call("GET", "/crews")
    urban = next(c["id"] for c in crews if c["name"] == "Urban Crew 1")  # crew1's crew
    center.call("POST", f"/work-orders/{order['id']}/dispatch", {"crew_id": urban})

    console = open_console("crew1")
    page = console.page
    console.order_row(order["number"]).wait_for(timeout=TIMEOUT)
    console.select(order["number"])
    assert page.locator("#detail-body .actions button").count() == 0
    assert "没有您可执行的操作" in page.locator("#detail-body .actions").inner_text()
    assert page.locator("#new-order-button").is_hidden()
    console.shot("crew-board")
    # The roster: only its own crew may be stood down, only its own vehicle's queue opened.
    page.click("#views-nav a[data-view=roster]")
    page.locator("#view-roster tr[data-crew]").first.wait_for(timeout=TIMEOUT)
    assert page.locator("#view-roster tr[data-crew] button").count() == 1
    own = page.locator("#view-roster tr[data-crew]", has_text="Urban Crew 1")
    assert own.locator("button").count() == 1
    page.locator("#view-roster tr[data-vehicle]", has_text="ZJ-A1001").locator("button").click()
    page.locator("#queue-box li", has_text=order["number"]).wait_for(timeout=TIMEOUT)
    assert page.locator("#view-roster tr[data-vehicle] button").count() == 1


# Where the first site's icon is drawn against where the map's own projection puts the site,
# read in one frame: [icon - WGS-84 point, icon - marker's point, marker's point - WGS-84 point]
# (container pixels). Reading both at once makes the check immune to the map still fitting,
# panning or zooming when the test starts (the board fits itself once the registry arrives).
SITE_OFFSETS = """() => {
    const container = document.querySelector('#map');
    const map = container.leafletMap;
    const icon = document.querySelector('.dept-icon');
    let marker = null;
    map.eachLayer((layer) => { if (layer.getElement?.() === icon) marker = layer; });
    if (!icon || !marker || map._animatingZoom) return null;
    const box = icon.getBoundingClientRect(), frame = container.getBoundingClientRect();
    const drawn = [box.x + box.width / 2 - frame.x, box.y + box.height / 2 - frame.y];
    const wgs = map.latLngToContainerPoint([marker.site.lat, marker.site.lon]);
    const own = map.latLngToContainerPoint(marker.getLatLng());
    return [[drawn[0] - wgs.x, drawn[1] - wgs.y], [drawn[0] - own.x, drawn[1] - own.y],
            [own.x - wgs.x, own.y - wgs.y]];
}"""


def test_gcj02_display_shifts_every_layer_and_back(open_console: Any) -> None:
    console = open_console("dispatcher")
    page = console.page
    at_wgs = f"""() => {{
        const o = ({SITE_OFFSETS})();
        return o !== null && Math.hypot(...o[0]) < 1;
    }}"""
    page.wait_for_function(at_wgs, timeout=TIMEOUT)
    page.check("#gcj-toggle")
    # Hangzhou moves some 500 m south-east in GCJ-02: several pixels at the board's zoom. The
    # icon sits where the map draws its (shifted) point, and that point is east and south.
    page.wait_for_function(
        f"""() => {{
            const o = ({SITE_OFFSETS})();
            return o !== null && Math.hypot(...o[1]) < 1 && o[2][0] > 2 && o[2][1] > 2;
        }}""",
        timeout=TIMEOUT,
    )
    page.uncheck("#gcj-toggle")
    # Back to where WGS-84 puts the site, measured against the map as it is now.
    page.wait_for_function(at_wgs, timeout=TIMEOUT)


def test_call_center_follows_up_and_closes_a_repaired_order(
    open_console: Any, stack: Stack
) -> None:
    agent, center = Api(stack, "callcenter"), Api(stack, "dispatcher")
    order = agent.new_order(
        issue_to=agent.call("GET", "/repair-centers")[0]["id"], location=FAR_SITE
    )
    center.call("POST", f"/work-orders/{order['id']}/accept")
    crews = center.call("GET", "/crews")
    urban = next(c["id"] for c in crews if c["name"] == "Urban Crew 1")  # crew1's crew
    center.call("POST", f"/work-orders/{order['id']}/dispatch", {"crew_id": urban})
    crew = Api(stack, "crew1")
    for point in ("F", "G", "H", "finished"):
        crew.call(
            "POST",
            f"/work-orders/{order['id']}/events",
            {"point": point, "occurred_at": datetime.now(UTC).isoformat()},
        )
    crew.call("PUT", f"/work-orders/{order['id']}/fault-record", {"cause": "blown fuse"})

    console = open_console("callcenter")
    page = console.page
    console.order_row(order["number"]).wait_for(timeout=TIMEOUT)
    console.select(order["number"])
    page.click("#detail-body button[data-action=follow_up]")
    page.fill("#form-dialog textarea[name=result]", "客户确认已恢复供电")
    page.click("#form-dialog button[type=submit]")
    page.locator("#detail-body dd", has_text="已回访").wait_for(timeout=TIMEOUT)
    page.click("#detail-body button[data-action=close]")
    page.click("#confirm-ok")
    console.order_row(order["number"]).wait_for(state="detached", timeout=TIMEOUT)
    assert agent.call("GET", f"/work-orders/{order['id']}")["status"] == "closed"


def test_supervisor_adds_an_sla_policy(open_console: Any, stack: Stack) -> None:
    console = open_console("supervisor")
    page = console.page
    page.click("#views-nav a[data-view=reports]")
    new = page.locator(".sla-table tr.new-policy")
    new.wait_for(timeout=TIMEOUT)
    new.locator("input[name=region]").fill("ZZ")
    new.locator("select[name=type]").select_option("water")
    new.locator("input[data-key=GH]").fill("40")
    new.locator("button").click()
    page.click("#confirm-ok")
    page.locator(".sla-table tr[data-policy='ZZ/water']").wait_for(timeout=TIMEOUT)
    policies = Api(stack, "supervisor").call("GET", "/sla-policies")
    saved = next(p for p in policies if p["region_code"] == "ZZ" and p["order_type"] == "water")
    assert saved["limits_minutes"]["GH"] == 40
    console.shot("supervisor-sla")


def _demo_outage(api: Api) -> dict[str, Any]:
    return dict(
        next(
            o
            for o in api.call("GET", "/outages?active_only=true")
            if o["reason"] == "10kV线路计划检修"
        )
    )


@pytest.mark.usefixtures("demo_network")
def test_call_center_asks_whether_a_callers_line_is_out(open_console: Any, stack: Stack) -> None:
    agent = Api(stack, "callcenter")
    outage = _demo_outage(agent)
    cut = agent.call("GET", f"/outages/{outage['id']}/customers")[0]
    areas = agent.call("GET", "/network/layers/areas")["features"]
    suburb = next(f["id"] for f in areas if f["properties"]["code"] == "DEMO-TA21")
    supplied = agent.call("GET", f"/network/areas/{suburb}/customers")[0]

    console = open_console("callcenter")
    page = console.page
    result = page.locator("#quick-result")
    page.fill("#quick-q", cut["account_number"])
    page.click("#quick-form button[type=submit]")
    answer = result.locator(".quick-match", has_text=cut["account_number"])
    answer.locator(".quick-verdict[data-out=yes]", has_text="正在停电").wait_for(timeout=TIMEOUT)
    text = answer.inner_text()
    for expected in (outage["number"], "10kV线路计划检修", "计划停电", "95598", "城北10kV线"):
        assert expected in text, (expected, text)
    console.shot("callcenter-quick-query")

    page.fill("#quick-q", supplied["account_number"])
    page.click("#quick-form button[type=submit]")
    answer = result.locator(".quick-match", has_text=supplied["account_number"])
    answer.locator(".quick-verdict[data-out=no]").wait_for(timeout=TIMEOUT)
    assert "供电正常" in answer.inner_text() and outage["number"] not in answer.inner_text()

    nobody = "qqqqqqqq"
    assert agent.call("GET", f"/quick-query?q={nobody}")["matches"] == []
    page.fill("#quick-q", nobody)
    page.click("#quick-form button[type=submit]")
    result.locator(".note", has_text="没有与").wait_for(timeout=TIMEOUT)


@pytest.mark.usefixtures("demo_network")
def test_outage_layer_highlights_the_cut_line_and_areas_and_toggles(
    open_console: Any, stack: Stack
) -> None:
    outage = _demo_outage(Api(stack, "dispatcher"))
    console = open_console("dispatcher")
    page = console.page
    # DEMO-L1 is out: its line and both of its areas (points) are drawn in the outage colour.
    page.locator("path.outage-line").first.wait_for(timeout=TIMEOUT)
    assert page.locator("path.outage-line").count() == 1
    assert page.locator("path.outage-area").count() == len(outage["areas"]) == 2
    # A vehicle may sit on the line; the tooltip's own trigger is the path's mouseover.
    page.locator("path.outage-line").first.dispatch_event("mouseover")
    page.locator(".leaflet-tooltip", has_text=outage["number"]).wait_for(timeout=TIMEOUT)
    toggle = page.locator(".leaflet-control-layers label", has_text="停电范围").locator("input")
    assert toggle.is_checked()
    toggle.uncheck()
    page.locator("path.outage-line").wait_for(state="detached", timeout=TIMEOUT)
    assert page.locator("path.outage-area").count() == 0
    toggle.check()
    page.locator("path.outage-line").first.wait_for(timeout=TIMEOUT)
    console.shot("dispatcher-outage-layer")
