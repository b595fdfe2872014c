"""Login throttling: per account+address and per address, device logins, OsmAnd keys, proxies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.app import create_app
from backend.auth import throttle
from backend.auth.models import LoginThrottle
from backend.config import TestConfig
from backend.demo import DEMO_DEVICE_SECRET, DEMO_PASSWORD
from tests.conftest import assert_problem

LOGIN = "/api/v1/auth/login"
DEVICE_LOGIN = "/api/v1/auth/device-login"


def from_address(address: str) -> dict[str, object]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def login(client, username: str, password: str, address: str = "10.0.0.1"):
    body = {"username": username, "password": password}
    return client.post(LOGIN, json=body, **from_address(address))


def test_a_locked_account_stays_open_from_other_addresses(client, app, demo):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert_problem(login(client, "crew1", "guess", "203.0.113.9"), 401)
    refused = login(client, "crew1", DEMO_PASSWORD, "203.0.113.9")
    assert_problem(refused, 429, "too-many-requests")
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60 + 1
    # The attacker's address is throttled; the user at their own address is not.
    assert login(client, "crew1", DEMO_PASSWORD, "198.51.100.7").status_code == 200


def test_success_clears_the_account_count(client, app, demo):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        assert_problem(login(client, "crew2", "typo"), 401)
    assert login(client, "crew2", DEMO_PASSWORD).status_code == 200
    for _ in range(limit - 1):
        assert_problem(login(client, "crew2", "typo"), 401)
    assert login(client, "crew2", DEMO_PASSWORD).status_code == 200


def test_one_address_spraying_many_accounts_is_throttled(client, app, demo):
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 7
    try:
        statuses = [login(client, f"user{i}", "guess", "192.0.2.5").status_code for i in range(9)]
        assert statuses == [401] * 7 + [429] * 2
        # Other addresses are unaffected.
        assert login(client, "admin", DEMO_PASSWORD, "192.0.2.6").status_code == 200
    finally:
        app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = TestConfig().LOGIN_MAX_FAILURES_PER_ADDRESS


def test_device_login_is_throttled(client, app, demo):
    limit = app.config["LOGIN_MAX_FAILURES"]
    body = {"identifier": "T-1001", "secret": "guess"}
    for _ in range(limit):
        assert_problem(client.post(DEVICE_LOGIN, json=body, **from_address("10.9.9.9")), 401)
    right = {"identifier": "T-1001", "secret": DEMO_DEVICE_SECRET}
    refused = client.post(DEVICE_LOGIN, json=right, **from_address("10.9.9.9"))
    assert_problem(refused, 429)
    assert client.post(DEVICE_LOGIN, json=right, **from_address("10.9.9.8")).status_code == 200


def test_osmand_keys_are_throttled_with_device_logins(client, app, demo):
    # Another test's good OsmAnd fix leaves the pair remembered in this app: start afresh.
    app.extensions.pop("fieldline.http_ingest", None)
    limit = app.config["LOGIN_MAX_FAILURES"]
    ts = int((datetime.now(UTC) - timedelta(seconds=3)).timestamp())
    fix = f"id=T-1001&lat=30.29&lon=120.16&timestamp={ts}"
    body = {"identifier": "T-1001", "secret": "guess"}
    for _ in range(limit - 1):
        assert_problem(client.post(DEVICE_LOGIN, json=body, **from_address("10.7.7.7")), 401)
    wrong = client.post(f"/api/v1/tracking/osmand?{fix}&key=guess", **from_address("10.7.7.7"))
    assert_problem(wrong, 401)
    right = f"/api/v1/tracking/osmand?{fix}&key={DEMO_DEVICE_SECRET}"
    assert_problem(client.post(right, **from_address("10.7.7.7")), 429)
    assert client.post(right, **from_address("10.7.7.6")).status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(client, app, demo):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for i in range(limit):
        body = {"username": "crew4", "password": "guess"}
        # A client cannot pick a fresh address per guess by forging the header.
        headers = {"X-Forwarded-For": f"172.16.0.{i}"}
        response = client.post(LOGIN, json=body, headers=headers, **from_address("10.1.1.1"))
        assert_problem(response, 401)
    assert_problem(login(client, "crew4", DEMO_PASSWORD, "10.1.1.1"), 429)


def test_trusted_proxy_gives_the_real_client_address(backend, db, demo):
    app = create_app(TestConfig(DATABASE_URL=backend.url, TRUSTED_PROXIES=1), database=db)
    client = app.test_client()
    limit = app.config["LOGIN_MAX_FAILURES"]
    proxy = from_address("10.0.0.2")  # every request arrives from the proxy
    attacker = {"X-Forwarded-For": "1.2.3.4, 203.0.113.66"}  # forged first hop is ignored
    for _ in range(limit):
        body = {"username": "inspector", "password": "guess"}
        assert_problem(client.post(LOGIN, json=body, headers=attacker, **proxy), 401)
    body = {"username": "inspector", "password": DEMO_PASSWORD}
    assert_problem(client.post(LOGIN, json=body, headers=attacker, **proxy), 429)
    user = {"X-Forwarded-For": "198.51.100.20"}
    assert client.post(LOGIN, json=body, headers=user, **proxy).status_code == 200


def test_charge_refuses_at_the_limit_and_restarts_after_the_window(session):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    window = timedelta(minutes=15)
    limits = throttle.limits_for("user", "someone", "10.0.0.9", per_account=2, per_address=10)
    assert throttle.charge(session, limits, now=now, window=window) is None
    assert throttle.charge(session, limits, now=now, window=window) is None
    until = throttle.charge(session, limits, now=now + timedelta(minutes=1), window=window)
    assert until == now + window
    # A refused attempt charges nothing, not even the address.
    assert failures(session, "10.0.0.9") == [2, 2]
    # Once the window has run out, both keys start afresh.
    assert throttle.charge(session, limits, now=now + window, window=window) is None
    assert failures(session, "10.0.0.9") == [1, 1]


def failures(session, address: str) -> list[int]:
    rows = session.execute(
        select(LoginThrottle.failures).where(LoginThrottle.key.endswith(address))
    )
    return sorted(rows.scalars())


@pytest.mark.parametrize("username", ["crew1"])
def test_login_attempts_are_recorded_with_the_client_address(client, session, demo, username):
    from backend.auth.models import LoginAttempt

    login(client, username, "guess", "203.0.113.77")
    attempt = session.scalars(select(LoginAttempt).where(LoginAttempt.username == username)).one()
    assert (attempt.remote_addr, attempt.succeeded) == ("203.0.113.77", False)


def test_a_secret_refused_once_is_a_guess_again(session, demo):
    """After a rotation or a disable, the old secret is charged to the throttle from its first
    refusal on: a remembered good pair is forgotten when it fails."""
    from backend.auth import service as auth
    from backend.auth.models import Device
    from backend.errors import Unauthorized
    from backend.tracking.service import DeviceAuthenticator
    from tests.dispatch.factories import actor

    devices = DeviceAuthenticator()
    devices.check(session, "T-1001", DEMO_DEVICE_SECRET)
    assert devices.remembers("T-1001", DEMO_DEVICE_SECRET)
    terminal = session.scalars(select(Device).where(Device.identifier == "T-1001")).one()
    auth.set_device_active(
        session=session, actor=actor(session, "admin"), device_id=terminal.id, active=False
    )
    with pytest.raises(Unauthorized):
        devices.check(session, "T-1001", DEMO_DEVICE_SECRET)
    assert not devices.remembers("T-1001", DEMO_DEVICE_SECRET)
