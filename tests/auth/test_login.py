"""Logins, tokens, revocation, throttling and device credentials."""

from datetime import timedelta

from flask_jwt_extended import create_access_token
from sqlalchemy import func, select

from backend.auth.models import LoginAttempt, User
from backend.demo import DEMO_DEVICE_SECRET, DEMO_PASSWORD
from tests.conftest import assert_problem


def test_login_returns_tokens_that_work(api):
    client = api()
    body = client.login("dispatcher")
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    me = client.get("/api/v1/auth/me").get_json()
    assert me == me | {"kind": "user", "label": "dispatcher", "role": "repair_center"}


def test_wrong_password_and_unknown_user_look_the_same(api):
    client = api()
    wrong = client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    unknown = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


def test_failed_logins_are_recorded_and_throttled(api, session, app):
    client = api()
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert_problem(
            client.post("/api/v1/auth/login", json={"username": "crew1", "password": "bad"}), 401
        )
    # Even the right password is refused while the pair is throttled.
    response = client.post(
        "/api/v1/auth/login", json={"username": "crew1", "password": DEMO_PASSWORD}
    )
    assert_problem(response, 429, "too-many-requests")
    failures = session.scalar(
        select(func.count()).where(LoginAttempt.username == "crew1", ~LoginAttempt.succeeded)
    )
    assert failures == limit


def test_missing_and_garbage_tokens_are_401(client):
    assert_problem(client.get("/api/v1/auth/me"), 401, "unauthorized")
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert_problem(response, 401, "unauthorized")


def test_expired_token_is_401(api, app, demo):
    with app.app_context():
        token = create_access_token(
            identity=f"user:{demo.users['admin'].id}",
            additional_claims={"kind": "user"},
            expires_delta=timedelta(seconds=-1),
        )
    response = api().get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert "expired" in assert_problem(response, 401)["detail"]


def test_logout_revokes_access_and_refresh(api):
    client = api()
    tokens = client.login("dispatcher")
    response = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    assert "revoked" in assert_problem(client.get("/api/v1/auth/me"), 401)["detail"]
    refresh = client.post(
        "/api/v1/auth/refresh",
        headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
    )
    assert_problem(refresh, 401)


def test_refresh_issues_a_new_access_token(api):
    client = api()
    tokens = client.login("callcenter")
    response = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert response.status_code == 200
    new = response.get_json()["access_token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {new}"})
    assert me.get_json()["label"] == "callcenter"


def test_access_token_cannot_refresh(api):
    client = api("callcenter")
    assert_problem(client.post("/api/v1/auth/refresh"), 401)


def test_disabled_user_token_stops_working(api, session):
    client = api("crew2")
    session.execute(User.__table__.update().where(User.username == "crew2").values(active=False))
    session.flush()
    assert_problem(client.get("/api/v1/auth/me"), 401)


def test_device_login_is_separate_from_users(api):
    client = api()
    response = client.post(
        "/api/v1/auth/device-login", json={"identifier": "T-1001", "secret": DEMO_DEVICE_SECRET}
    )
    assert response.status_code == 200
    headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    assert me["kind"] == "device" and me["vehicle_id"] is not None
    # Devices cannot use user endpoints, and device secrets are not user passwords.
    assert_problem(client.get("/api/v1/departments", headers=headers), 403, "forbidden")
    wrong = client.post(
        "/api/v1/auth/login", json={"username": "T-1001", "password": DEMO_DEVICE_SECRET}
    )
    assert_problem(wrong, 401)


def test_device_wrong_secret_is_401(api):
    response = api().post(
        "/api/v1/auth/device-login", json={"identifier": "T-1001", "secret": "wrong"}
    )
    assert_problem(response, 401)
