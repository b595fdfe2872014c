"""Helpers for the browser suite: a logged-in console page that records what went wrong."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from backend.demo import DEMO_PASSWORD
from tests.web.conftest import ARTIFACTS, Stack

# A fault site about 700 m from the urban station (the urban crews' depot).
SITE = {"lon": 120.1710, "lat": 30.2990}
# About 40 km out: minutes of driving even for the test's fast simulated vehicles.
FAR_SITE = {"lon": 120.5500, "lat": 30.4000}


class ConsolePage:
    """A browser tab on the console; collects console errors, failed and foreign requests."""

    def __init__(self, browser: Any, stack: Stack, language: str = "zh-CN") -> None:
        self.stack = stack
        self.context = browser.new_context(viewport={"width": 1600, "height": 950}, locale=language)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        origin = urlsplit(stack.url).netloc
        page = self.page
        page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}")
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "requestfailed",
            lambda r: self._failed(r),
        )
        page.on(
            "response",
            lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"),
        )
        page.on(
            "request",
            lambda r: (
                urlsplit(r.url).scheme in {"http", "https"}
                and urlsplit(r.url).netloc != origin
                and self.problems.append(f"foreign request {r.url}")
            ),
        )

    def _failed(self, request: Any) -> None:
        # A page leaving closes its live streams; that is not a failure of the console.
        if "/feed" in request.url or "/stream" in request.url:
            return
        self.problems.append(f"failed {request.url}: {request.failure}")

    def login(self, username: str) -> ConsolePage:
        page = self.page
        page.goto(self.stack.url + "/")
        page.wait_for_selector("body[data-ready=yes]")
        page.fill("#login-username", username)
        page.fill("#login-password", DEMO_PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#app-view:not([hidden])")
        page.wait_for_selector("body[data-booted=yes]")
        return self

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def order_row(self, number: str) -> Any:
        return self.page.locator("#orders-list li.order, #stale-list li.order").filter(
            has_text=number
        )

    def select(self, number: str) -> None:
        self.order_row(number).locator("button.order-button").click()
        self.page.wait_for_selector(f"#detail-body dd:text-is('{number}')")

    def close(self) -> list[str]:
        problems = list(self.problems)
        self.context.close()
        return problems


class Api:
    """The REST API as one demo user, for setting up and checking what the browser did."""

    def __init__(self, stack: Stack, username: str) -> None:
        self.base = stack.url + "/api/v1"
        body = self.call("POST", "/auth/login", {"username": username, "password": DEMO_PASSWORD})
        self.token = body["access_token"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        if getattr(self, "token", None):
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def department(self, code: str) -> int:
        return int(next(d["id"] for d in self.call("GET", "/departments") if d["code"] == code))

    def new_order(self, issue_to: int | None = None, **extra: Any) -> dict[str, Any]:
        body = {
            "order_type": "electric",
            "specialty": "low_voltage",
            "fault_type": "no power",
            "address": "12 Wensan Road",
            "location": SITE,
            "hung_up_at": datetime.now(UTC).isoformat(),
            **({"repair_center_id": issue_to} if issue_to else {}),
            **extra,
        }
        return dict(self.call("POST", "/work-orders", body))
