"""Fixtures: both database backends, per-test rollback, the app, logins and factories.

Every test that touches the database runs on PostGIS and on SpatiaLite (`FIELDLINE_TEST_BACKENDS`
narrows that, e.g. while iterating). Each backend gets a fresh migrated database once per run,
seeded with the demo organisation; each test runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import os

# The apps here use TestConfig (FAST_HASH); commands the tests run in subprocesses read it here.
os.environ.setdefault("FIELDLINE_FAST_HASH", "1")

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from backend import migrate
from backend.app import create_app
from backend.config import TestConfig
from backend.db import Database
from backend.demo import DEMO_PASSWORD, DemoOrg, seed_org
from backend.live import http as live
from backend.wiring import open_database

# CI runs each property with a fixed seed so a red build always reproduces; locally they explore.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

PG_ADMIN_URL = os.environ.get("FIELDLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [
    b for b in os.environ.get("FIELDLINE_TEST_BACKENDS", "postgis,spatialite").split(",") if b
]


class BackendRun:
    """A migrated, seeded database for one backend, with its app."""

    def __init__(self, name: str, url: str, cleanup: Any) -> None:
        self.name = name
        self.url = url
        self.cleanup = cleanup
        migrate.upgrade(url)
        self.database = open_database(url)  # with every Session listener, as in production
        self.app = create_app(TestConfig(DATABASE_URL=url), database=self.database)
        self.factory = self.database.session_factory
        with self.database.unit_of_work(actor="seed") as session:
            seed_org(session)

    def close(self) -> None:
        live.stop(self.app)  # its listener holds a connection to the database dropped next
        self.database.engine.dispose()
        self.cleanup()


def _postgis_run() -> BackendRun:
    name = f"fieldline_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return BackendRun("postgis", url, drop)


def _spatialite_run() -> BackendRun:
    folder = tempfile.mkdtemp(prefix="fieldline-test-")
    path = Path(folder) / "test.db"

    def remove() -> None:
        for file in Path(folder).glob("*"):
            file.unlink()
        Path(folder).rmdir()

    return BackendRun("spatialite", f"sqlite:///{path}", remove)


@pytest.fixture(scope="session")
def backend_runs() -> Iterator[dict[str, BackendRun]]:
    runs: dict[str, BackendRun] = {}
    yield runs
    for run in runs.values():
        run.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, backend_runs: dict[str, BackendRun]) -> BackendRun:
    """The backend's database and app for this test.

    Tests that commit for real (they ask for `committed_db`) get a database of their own, so
    what they leave behind never shows up in the rolled-back tests' database.
    """
    name = request.param
    key = f"{name}-committed" if "committed_db" in request.fixturenames else name
    if key not in backend_runs:
        backend_runs[key] = _postgis_run() if name == "postgis" else _spatialite_run()
    return backend_runs[key]


SHARDS = ("postgis", "rest", "alone")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shard",
        choices=SHARDS,
        help="run one part of the suite (scripts/test.sh runs postgis and rest side by side, "
        "then alone): postgis = tests on PostGIS plus the fault tests, alone = tests that judge "
        "timing and need the machine to themselves, rest = everything else",
    )


def _shard_of(item: pytest.Item) -> str:
    if item.get_closest_marker("alone"):
        return "alone"
    callspec = getattr(item, "callspec", None)
    on_postgis = callspec is not None and callspec.params.get("backend") == "postgis"
    # PostGIS tests share one cluster, whose snapshot horizon is cluster-wide: a long rolled-back
    # transaction in one process would hold back another's sync pull, so they run in one process.
    return "postgis" if on_postgis or item.path.parent.name == "faults" else "rest"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Honour the postgis_only / spatialite_only markers and `--shard`."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("backend") if callspec else None
        if name == "spatialite" and item.get_closest_marker("postgis_only"):
            item.add_marker(pytest.mark.skip(reason="PostGIS-only behaviour"))
        if name == "postgis" and item.get_closest_marker("spatialite_only"):
            item.add_marker(pytest.mark.skip(reason="SpatiaLite-only behaviour"))
    shard = config.getoption("--shard")
    if shard:
        chosen = {item: _shard_of(item) == shard for item in items}
        config.hook.pytest_deselected(items=[item for item in items if not chosen[item]])
        items[:] = [item for item in items if chosen[item]]


@pytest.fixture
def db(backend: BackendRun) -> Iterator[Database]:
    """The backend's database with every session bound to one rolled-back transaction."""
    database = backend.database
    connection = database.engine.connect()
    transaction = connection.begin()
    database.session_factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield database
    finally:
        database.session_factory = backend.factory
        if transaction.is_active:
            transaction.rollback()
        connection.close()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session inside the test's transaction."""
    with db.session_factory() as s:
        s.info["actor"] = "test"
        yield s


@pytest.fixture
def committed_db(backend: BackendRun) -> Iterator[Database]:
    """The backend's database without the rollback wrapper, for tests of real commits.

    Such tests must clean up what they commit (or use ids nobody else uses).
    """
    yield backend.database


@pytest.fixture
def app(backend: BackendRun, db: Database) -> Flask:
    return backend.app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def demo(session: Session) -> DemoOrg:
    """Handles to the seeded demo organisation (departments, users, crews, vehicles)."""
    return seed_org(session)


class Api:
    """A test client that logs in as a demo user and speaks JSON."""

    def __init__(self, client: FlaskClient, username: str | None = None) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        if username:
            self.login(username)

    def login(self, username: str, password: str = DEMO_PASSWORD) -> dict[str, Any]:
        response = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        self.headers = {"Authorization": f"Bearer {body['access_token']}"}
        return body

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(url, method=method, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.request("PATCH", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.request("DELETE", url, **kwargs)


@pytest.fixture
def api(client: FlaskClient, demo: DemoOrg) -> Any:
    """Factory: `api("dispatcher")` returns a client logged in as that demo user."""

    def make(username: str | None = None) -> Api:
        return Api(client, username)

    return make


def assert_problem(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    """Check an RFC 9457 problem response and return its body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json", response.mimetype
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert "Traceback" not in response.get_data(as_text=True)
    if slug:
        assert body["type"] == f"/problems/{slug}", body
    return body


@pytest.fixture
def api_schema(app: Flask) -> Any:
    """The app's OpenAPI spec loaded by schemathesis, calling the app in-process."""
    import schemathesis

    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.fixture
def admin_headers(client: FlaskClient, demo: DemoOrg) -> dict[str, str]:
    """An Authorization header of the demo admin."""
    return Api(client, "admin").headers
