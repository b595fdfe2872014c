"""The console's role views in real Chromium: the quick query's new order, credit risk,
inspections, the breach cue and the call center's recall (one live stack for the module)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError

import pytest

from backend.demo.inspection import seed_inspection
from backend.demo.network import seed_network
from backend.demo.risk import seed_risk
from backend.demo.seed import seed_demo_archive
from tests.archive.helpers import customer_body
from tests.web.conftest import DEMO_FILES, Stack
from tests.web.pages import Api, ConsolePage

TIMEOUT = 60_000  # ms; only stops a broken run from hanging


@pytest.fixture(scope="module")
def demo(stack: Stack) -> None:
    """seed-demo's archive, network, risk and inspection data (each step is idempotent)."""
    seed_demo_archive(stack.run.database, count=DEMO_FILES)
    for seed in (seed_network, seed_risk, seed_inspection):
        with stack.run.database.unit_of_work(actor="seed") as session:
            seed(session)


@pytest.fixture
def open_console(browser: Any, stack: Stack, demo: None) -> Iterator[Any]:
    pages: list[ConsolePage] = []

    def open_(username: str, language: str = "zh-CN") -> ConsolePage:
        page = ConsolePage(browser, stack, language).login(username)
        pages.append(page)
        return page

    yield open_
    problems = [p for page in pages for p in page.close()]
    assert problems == [], "the browser saw errors or failed requests"


def _call(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """A setup call whose refusal shows the problem's text."""
    try:
        return api.call(method, path, body)
    except HTTPError as error:
        raise AssertionError(f"{method} {path}: {error.code} {error.read().decode()}") from error


def _nav(page: Any) -> list[str]:
    return list(page.locator("#views-nav a").evaluate_all("els => els.map(e => e.dataset.view)"))


def test_call_center_takes_a_prefilled_order_from_the_quick_query_and_it_joins_the_outage(
    open_console: Any, stack: Stack
) -> None:
    agent = Api(stack, "callcenter")
    outage = next(
        o
        for o in agent.call("GET", "/outages?active_only=true")
        if o["reason"] == "10kV线路计划检修"
    )
    cut = agent.call("GET", f"/outages/{outage['id']}/customers")[0]
    file = agent.call("GET", f"/customers/{cut['id']}")
    premise = file["premises"][0]

    console = open_console("callcenter")
    page = console.page
    page.fill("#quick-q", cut["account_number"])
    page.click("#quick-form button[type=submit]")
    match = page.locator("#quick-result .quick-match", has_text=cut["account_number"])
    match.locator(".quick-verdict[data-out=yes]").wait_for(timeout=TIMEOUT)
    match.locator(f"li[data-premise='{premise['id']}'] button.new-order-here").click()
    dialog = page.locator("#form-dialog")
    dialog.locator("input[name=address]").wait_for(timeout=TIMEOUT)
    # Prefilled from the match: the customer's number, the premise's address and location.
    assert cut["account_number"] in dialog.locator(".customer-lookup").inner_text()
    assert dialog.locator("input[name=address]").input_value() == premise["address"]
    assert float(dialog.locator("input[name=lon]").input_value()) == premise["location"]["lon"]
    assert float(dialog.locator("input[name=lat]").input_value()) == premise["location"]["lat"]
    dialog.locator("input[name=fault_type]").fill("整栋停电")
    dialog.locator("select[name=repair_center_id]").select_option("")
    dialog.locator("button[type=submit]").click()
    toast = page.locator(".toast-success", has_text=outage["number"])
    toast.wait_for(timeout=TIMEOUT)
    number = re.search(r"WO\d{8}-[0-9A-F]{6}", toast.inner_text())
    assert number, toast.inner_text()
    taken = match.locator(".quick-taken[data-linked=yes]")
    taken.wait_for(timeout=TIMEOUT)
    assert number.group(0) in taken.inner_text() and outage["number"] in taken.inner_text()
    console.shot("callcenter-quick-query-order")

    order = next(
        o
        for o in agent.call("GET", "/work-orders?open=true&page_size=100")
        if o["number"] == number.group(0)
    )
    assert order["customer_id"] == cut["id"] and order["premise_id"] == premise["id"]
    events = agent.call("GET", f"/work-orders/{order['id']}/events")
    linked = [e for e in events if e["point"] == "linked_outage"]
    assert [e["details"]["outage"] for e in linked] == [outage["number"]]


def test_risk_views_chart_the_report_and_show_a_customers_credit(
    open_console: Any, stack: Stack
) -> None:
    collector = Api(stack, "collector")
    report = collector.call("GET", "/risk/report")
    warnings = collector.call("GET", "/risk/warnings")
    assert report["grades"] and warnings, "the demo data is rated and warns"

    console = open_console("collector")
    page = console.page
    assert _nav(page) == ["board", "risk"]
    files_read: list[str] = []  # customer files fetched: the worklist's rows name their own
    page.on("request", lambda r: CUSTOMER_FILE.search(r.url) and files_read.append(r.url))
    cases_read: list[str] = []  # the credit view asks for its customer's cases only
    page.on("request", lambda r: "/risk/collection-cases?" in r.url and cases_read.append(r.url))
    page.click("#views-nav a[data-view=risk]")
    for chart in ("grades", "abc", "ladder"):
        page.locator(f"[data-chart={chart}] canvas").first.wait_for(timeout=TIMEOUT)
    rows = page.locator("#risk-warnings tr[data-warning]")
    rows.first.wait_for(timeout=TIMEOUT)
    assert rows.count() == len(warnings)
    first = page.locator(f"#risk-warnings tr[data-warning='{warnings[0]['id']}'] button.link")
    assert first.inner_text() == f"{warnings[0]['account_number']} · {warnings[0]['customer_name']}"
    assert files_read == []
    card = page.locator(".chart-card[data-report=risk-grades]")
    with page.expect_download() as csv_download:
        card.locator("button", has_text="CSV").click()
    assert csv_download.value.suggested_filename == "risk-grades.csv"
    assert Path(csv_download.value.path()).read_text().startswith("department,size,A,B,C,D,E")
    with page.expect_download() as xlsx_download:
        card.locator("button", has_text="XLSX").click()
    assert Path(xlsx_download.value.path()).read_bytes()[:2] == b"PK"
    console.shot("collector-risk")

    # The warned customer's credit: score, grade, breakdown, classes, lists, ladder steps.
    warned = warnings[0]["customer_id"]
    rating = collector.call("GET", f"/customers/{warned}/credit")
    cls = collector.call("GET", f"/customers/{warned}/risk-class")
    page.locator(f"#risk-warnings tr[data-warning='{warnings[0]['id']}'] button.link").click()
    credit = page.locator(f"#credit-view h3[data-customer='{warned}']")
    credit.wait_for(timeout=TIMEOUT)
    view = page.locator("#credit-view")
    assert view.locator(".grade").inner_text() == rating["grade"]
    assert view.locator(".ca-class").inner_text() == cls["risk_class"] == "CA5"
    assert view.locator(".breakdown-table tbody tr").count() == len(rating["breakdown"])
    assert "不在任何名单上" in view.inner_text()
    case = view.locator(".ladder-cases > li").first
    assert "限时缓缴" in case.inner_text() and "refused" in case.inner_text()
    assert view.locator(".ladder-cases > li").count() == len(
        collector.call("GET", f"/risk/collection-cases?customer_id={warned}")
    )
    assert cases_read and all(f"customer_id={warned}" in url for url in cases_read)

    # A list entry appears once it is made.
    collector.call(
        "POST",
        f"/customers/{warned}/list-entries",
        {"kind": "black", "reason": "三个月欠费不缴", "valid_until": "2027-06-30T00:00:00+08:00"},
    )
    page.fill("#credit-q", _account(collector, warned))
    page.locator("form:has(#credit-q) button[type=submit]").click()
    view.locator(".list-entries li[data-kind=black]", has_text="三个月欠费不缴").wait_for(
        timeout=TIMEOUT
    )
    console.shot("collector-credit")

    # Handling the warning takes it off the worklist (and off the API's open list).
    row = page.locator(f"#risk-warnings tr[data-warning='{warnings[0]['id']}']")
    row.locator("button", has_text="已处理").click()
    page.locator(".toast-success", has_text="预警已处理").wait_for(timeout=TIMEOUT)
    row.wait_for(state="detached", timeout=TIMEOUT)
    assert warnings[0]["id"] not in [w["id"] for w in collector.call("GET", "/risk/warnings")]


CUSTOMER_FILE = re.compile(r"/api/v1/customers/[0-9a-f-]{36}$")


def _account(api: Api, customer_id: str) -> str:
    return str(api.call("GET", f"/customers/{customer_id}")["account_number"])


def test_a_customer_never_rated_nor_billed_shows_its_credit_without_a_failed_request(
    open_console: Any, stack: Stack
) -> None:
    archivist, collector = Api(stack, "archivist"), Api(stack, "collector")
    body = customer_body(department_id=archivist.department("ST-URB"))
    fresh = _call(archivist, "POST", "/customers", body)  # no bill, no rating (the demo rates all)
    assert collector.call("GET", f"/customers/{fresh['id']}/credit")["rated"] is False
    cls = collector.call("GET", f"/customers/{fresh['id']}/risk-class")

    page = open_console("collector").page
    page.click("#views-nav a[data-view=risk]")
    page.fill("#credit-q", fresh["account_number"])
    page.locator("form:has(#credit-q) button[type=submit]").click()
    page.locator(f"#credit-view h3[data-customer='{fresh['id']}']").wait_for(timeout=TIMEOUT)
    view = page.locator("#credit-view")
    assert view.locator(".credit-facts").count() == 0 and "尚未评定" in view.inner_text()
    payment = view.locator(".payment-facts")
    assert view.locator(".ca-class").inner_text() == cls["risk_class"]
    assert "未评定：评价期内无账单" in payment.inner_text()
    assert "{" not in view.inner_text() and "null" not in payment.inner_text()


def test_a_call_center_user_gets_no_credit_views(open_console: Any, stack: Stack) -> None:
    console = open_console("callcenter")
    page = console.page
    assert "risk" not in _nav(page) and "inspection" not in _nav(page)
    page.evaluate("location.hash = '#risk'")
    page.wait_for_function("() => document.body.dataset.view === 'board'")
    assert page.locator("#view-risk").is_hidden()
    assert page.locator("#view-risk").inner_text() == ""
    with pytest.raises(HTTPError) as refused:
        Api(stack, "callcenter").call("GET", "/risk/report")
    assert refused.value.code == 403


def test_inspection_views_show_tasks_hazards_cases_procedure_and_evidence(
    open_console: Any, stack: Stack
) -> None:
    inspector, supervisor = Api(stack, "inspector"), Api(stack, "supervisor")
    task = inspector.call("GET", "/inspection-tasks")[0]
    # The premise as the archive holds it now (the network seed moved premises to new versions).
    premise = inspector.call("GET", f"/customers/{task['customer_id']}")["premises"][0]
    case = _call(
        inspector,
        "POST",
        "/cases",
        {
            "kind": "theft",
            "customer_id": task["customer_id"],
            "premise_id": premise["id"],
            "summary": "表尾接线被短接 (meter bypassed)",
        },
    )
    discovery = {"two_inspectors_present": True, "identity_shown": True, "scene_recorded": True}
    inspector.call(
        "POST", f"/cases/{case['id']}/steps", {"step": "discovery", "checklist": discovery}
    )
    evidence = inspector.call("GET", f"/cases/{case['id']}/evidence")
    assert not evidence["ok"] and evidence["missing"]
    batches = supervisor.call("GET", "/verification-batches")

    console = open_console("supervisor")
    page = console.page
    page.click("#views-nav a[data-view=inspection]")
    for chart in ("tasks", "hazards", "cases", "verification"):
        page.locator(f"[data-chart={chart}] canvas").first.wait_for(timeout=TIMEOUT)
    page.locator("#insp-plans tr[data-plan]").first.wait_for(timeout=TIMEOUT)
    assert page.locator("#insp-plans tr[data-plan]").count() == len(
        supervisor.call("GET", "/inspection-plans")
    )
    page.locator(f"#insp-tasks tr[data-task='{task['number']}']").wait_for(timeout=TIMEOUT)
    batch = page.locator("#insp-batches tr[data-batch]").first
    batch.wait_for(timeout=TIMEOUT)
    assert batch.locator("progress").count() == 1
    assert len(batches) == page.locator("#insp-batches tr[data-batch]").count()

    page.locator(f"#insp-cases tr[data-case='{case['number']}'] button").click()
    done = page.locator("#case-detail li.proc-step[data-step=discovery][data-state=done]")
    done.wait_for(timeout=TIMEOUT)
    assert done.locator("li[data-answered=yes]").count() == 3
    current = page.locator("#case-detail li.proc-step[data-step=evidence][data-state=current]")
    assert current.locator("li[data-answered=no]").count() == 4
    gate = page.locator("#case-detail .evidence-gate")
    assert gate.get_attribute("data-ok") == "no"
    assert gate.locator("ul.missing li").count() == len(evidence["missing"])
    assert "photos" in gate.locator("ul.missing").inner_text()
    console.shot("supervisor-inspection-case")

    # The supervisor's override is shown with its reason (the evidence still incomplete).
    supervisor.call(
        "POST", f"/cases/{case['id']}/evidence-override", {"reason": "客户拒绝进入，已报警"}
    )
    page.click("#views-nav a[data-view=board]")
    page.click("#views-nav a[data-view=inspection]")
    page.locator("#case-detail .gate-override", has_text="客户拒绝进入").wait_for(timeout=TIMEOUT)
    assert page.locator("#case-detail .evidence-gate").get_attribute("data-overridden") == "yes"
    # In English too.
    page.select_option("#lang-select", "en")
    page.locator("#case-detail .gate-by-override", has_text="override").wait_for(timeout=TIMEOUT)
    assert page.locator("#views-nav a[data-view=inspection]").inner_text() == "Inspections"
    assert "Lawful procedure" in page.locator("#case-detail").inner_text()


def test_each_inspection_reader_sees_only_its_parts(open_console: Any) -> None:
    archivist = open_console("archivist").page
    assert "inspection" in _nav(archivist) and "risk" not in _nav(archivist)
    archivist.click("#views-nav a[data-view=inspection]")
    archivist.locator("#insp-batches tr[data-batch]").first.wait_for(timeout=TIMEOUT)
    assert archivist.locator("#insp-cases, #insp-tasks, .chart-card").count() == 0
    collector = open_console("collector").page
    assert "inspection" not in _nav(collector)


def test_a_breach_flashes_badges_the_title_and_the_muted_cue_stays_silent(
    open_console: Any, stack: Stack
) -> None:
    supervisor = Api(stack, "supervisor")
    base = next(p for p in supervisor.call("GET", "/sla-policies") if p["region_code"] == "default")
    # Six seconds from the call to its issue: the order breaches while the agent watches.
    supervisor.call(
        "PUT",
        "/sla-policies/ZB/electric",
        {
            "version": 1,
            "limits_minutes": {**base["limits_minutes"], "AB": 0.1},
            "responsible": base["responsible"],
        },
    )
    console = open_console("callcenter")
    page = console.page
    mute = page.locator("#mute-button")
    mute.click()
    assert mute.get_attribute("aria-pressed") == "true"
    assert page.evaluate("localStorage.getItem('fieldline.muted')") == "1"
    before = page.evaluate("Number(document.body.dataset.cues || 0)")
    sounded = page.evaluate("Number(document.body.dataset.sounded || 0)")

    # The order must reach the board through the live feed: wait until it is open.
    page.locator("#feed-status[data-state=live]").wait_for(timeout=TIMEOUT)
    order = Api(stack, "callcenter").new_order(region_code="ZB")
    console.order_row(order["number"]).wait_for(timeout=TIMEOUT)
    page.wait_for_function(
        "n => Number(document.body.dataset.cues || 0) > n"
        " && document.body.dataset.lastCue === 'breach'"
        " && document.body.classList.contains('flash')",
        arg=before,
        timeout=TIMEOUT,
    )
    assert re.match(r"^\(\d+\) ", page.title()), page.title()
    assert page.locator("#alert-badge").is_visible()
    assert page.evaluate("Number(document.body.dataset.sounded || 0)") == sounded  # muted
    page.locator("#event-log li", has_text=order["number"]).first.wait_for(timeout=TIMEOUT)
    console.shot("callcenter-breach")
    # The flash ends by itself; reading the badge clears the title.
    page.wait_for_function("() => !document.body.classList.contains('flash')", timeout=TIMEOUT)
    page.click("#alert-badge")
    assert page.locator("#alert-badge").is_hidden()
    assert not re.match(r"^\(\d+\) ", page.title())
    mute.click()
    assert mute.get_attribute("aria-pressed") == "false"
    assert page.evaluate("localStorage.getItem('fieldline.muted')") == "0"


def test_call_center_recalls_an_order_from_the_repair_center(
    open_console: Any, stack: Stack
) -> None:
    agent = Api(stack, "callcenter")
    order = agent.new_order(issue_to=agent.call("GET", "/repair-centers")[0]["id"])
    assert order["status"] == "at_repair_center"
    console = open_console("callcenter")
    page = console.page
    console.order_row(order["number"]).wait_for(timeout=TIMEOUT)
    console.select(order["number"])
    page.click("#detail-body button[data-action=recall]")
    page.fill("#confirm-reason", "客户来电取消报修")
    page.click("#confirm-ok")
    page.locator(".toast-success", has_text=order["number"]).wait_for(timeout=TIMEOUT)
    page.locator("#detail-body dd", has_text="新建").wait_for(timeout=TIMEOUT)
    # Back with the call center: it may issue it again, not recall it twice.
    assert page.locator("#detail-body button[data-action=issue]").is_visible()
    assert page.locator("#detail-body button[data-action=recall]").count() == 0
    assert agent.call("GET", f"/work-orders/{order['id']}")["status"] == "new"
