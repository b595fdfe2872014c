"""One live demo stack for the browser suite: app server, MQTT ingest, simulator, escalation worker.

The stack runs on SpatiaLite (what `make run` uses); the domains behind it are tested on both
backends in their own suites. Chromium is Debian's, driven by Playwright with its path given:
no browser is ever downloaded. On CI a missing Chromium fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from backend.app import create_app
from backend.config import ROOT, TestConfig
from backend.dispatch.escalation import EscalationPolicy, run_worker
from backend.live.http import EXTENSION as LIVE_HUB
from backend.tracking.ingest.worker import IngestSettings, IngestWorker
from backend.tracking.simulator import Simulator, SimulatorSettings
from tests.conftest import BackendRun, _spatialite_run

CHROMIUM = os.environ.get("FIELDLINE_CHROMIUM") or shutil.which("chromium")
BROKER = os.environ.get("FIELDLINE_TEST_MQTT", "mqtt://127.0.0.1:1883")
ARTIFACTS = Path(os.environ.get("FIELDLINE_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # the escalation beep in a headless run
]
# Short enough for a test, long enough that a prompt dispatcher never sees an alert.
ACCEPT_WITHIN = timedelta(seconds=8)


def require_chromium() -> str:
    """Return Chromium's path; skip without it locally, fail without it on CI."""
    if CHROMIUM and Path(CHROMIUM).exists():
        return CHROMIUM
    message = "Debian's chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the browser suite.")
    pytest.skip(message)


@dataclass
class Stack:
    """The running demo stack."""

    url: str
    run: BackendRun
    simulator: Simulator
    app: Flask  # tests may set a setting read per request (e.g. a basemap file), then restore it


# Session-wide: every browser module shares one stack and one Chromium (they take seconds each).
@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    require_chromium()
    bundle = ROOT / "backend" / "web" / "static" / "dist" / "console.js"
    assert bundle.exists(), "the console is not built: run `make console`"
    run = _spatialite_run()
    root = f"fieldline-browser-{uuid.uuid4().hex[:8]}/v1"
    app = create_app(TestConfig(DATABASE_URL=run.url, MQTT_TOPIC_ROOT=root), database=run.database)
    worker = IngestWorker(
        run.database,
        IngestSettings(
            mqtt_url=BROKER,
            topic_root=root,
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            owntracks=False,
            outbox_every_s=0.3,
            liveness_every_s=2.0,
        ),
    ).start()
    simulator = Simulator(
        SimulatorSettings(
            mqtt_url=BROKER,
            topic_root=root,
            database_url=run.url,
            vehicles=5,
            rate_hz=2,
            speed_m_s=(60.0, 80.0),
            accept_after_s=(0.5, 1.0),
            dwell_s=2.0,
            work_s=(2.0, 3.0),
            seed=11,
            run_id=uuid.uuid4().hex[:6],
        )
    )
    stop = threading.Event()
    threads = [
        threading.Thread(target=simulator.run, daemon=True),
        threading.Thread(
            target=run_worker,
            args=(run.database,),
            kwargs={
                "interval": 1.0,
                "stop": stop,
                "policy": EscalationPolicy(ACCEPT_WITHIN, ACCEPT_WITHIN),
            },
            daemon=True,
        ),
    ]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threads.append(threading.Thread(target=server.serve_forever, daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield Stack(f"http://127.0.0.1:{server.server_port}", run, simulator, app)
    finally:
        stop.set()
        simulator.stop()
        server.shutdown()
        worker.stop()
        for thread in threads:
            thread.join(timeout=10)
        # The live hub's thread ends with its last subscriber; the database goes after it.
        live = app.extensions.get(LIVE_HUB)
        deadline = time.monotonic() + 15
        while live is not None and live.subscriber_count() and time.monotonic() < deadline:
            time.sleep(0.1)
        run.close()


@pytest.fixture(scope="session")
def browser(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=require_chromium(), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def open_console(browser: Any, stack: Stack) -> Iterator[Any]:
    """Open logged-in console tabs; at the end, none may have seen an error or failed request."""
    from tests.web.pages import ConsolePage  # pages imports this module

    pages: list[ConsolePage] = []

    def open_(username: str, language: str = "zh-CN") -> ConsolePage:
        page = ConsolePage(browser, stack, language).login(username)
        pages.append(page)
        return page

    yield open_
    problems = [p for page in pages for p in page.close()]
    assert problems == [], "the browser saw errors or failed requests"


# The browser modules share one stack, and the archive seed skips when files exist: every
# module seeds the same thirty files. DEMO-000030's arrears grow (seed-demo's habits), so the
# risk seed gives it an early warning and a collection case whose deferral was refused.
DEMO_FILES = 30


@pytest.fixture
def demo_network(stack: Stack) -> None:
    """The demo's customers, lines, areas and its outage on DEMO-L1, and its water network
    (seeding is idempotent)."""
    from backend.demo.network import seed_network, seed_water
    from backend.demo.seed import seed_demo_archive

    seed_demo_archive(stack.run.database, count=DEMO_FILES)
    with stack.run.database.unit_of_work(actor="seed") as session:
        seed_network(session)
        seed_water(session)
