"""Token sessions: revocation on credential changes, refresh rotation, logout, stream tickets."""

from __future__ import annotations

from sqlalchemy import select

from backend.auth.audit import AuditLog
from backend.auth.models import Device, User
from backend.auth.passwords import hash_secret
from backend.demo import DEMO_DEVICE_SECRET, DEMO_PASSWORD
from tests.conftest import assert_problem

ME = "/api/v1/auth/me"
ALERTS = "/api/v1/alerts/stream?after=0&max_seconds=0&poll_seconds=0.05"
FEED = "/api/v1/tracking/feed?max_seconds=0"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(client, token: str):
    return client.post("/api/v1/auth/refresh", headers=bearer(token))


def device_tokens(client, identifier: str = "T-1001") -> dict:
    body = {"identifier": identifier, "secret": DEMO_DEVICE_SECRET}
    response = client.post("/api/v1/auth/device-login", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_password_change_revokes_every_token_of_the_user(api, demo, client):
    victim = api()
    first, second = victim.login("crew2"), victim.login("crew2")  # two sessions
    api("admin").patch(
        f"/api/v1/users/{demo.users['crew2'].id}", json={"password": "a-brand-new-password"}
    )
    for tokens in (first, second):
        assert (
            "revoked"
            in assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)["detail"]
        )
        assert_problem(refresh(client, tokens["refresh_token"]), 401)
    fresh = victim.login("crew2", "a-brand-new-password")
    assert client.get(ME, headers=bearer(fresh["access_token"])).status_code == 200


def test_deactivation_revokes_tokens_for_good(api, demo, client):
    tokens = api().login("crew3")
    admin = api("admin")
    user_url = f"/api/v1/users/{demo.users['crew3'].id}"
    assert admin.patch(user_url, json={"active": False}).status_code == 200
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    # Re-enabling the account does not bring the old tokens back.
    assert admin.patch(user_url, json={"active": True}).status_code == 200
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert_problem(refresh(client, tokens["refresh_token"]), 401)


def test_other_changes_keep_tokens(api, demo, client):
    tokens = api().login("crew1")
    api("admin").patch(f"/api/v1/users/{demo.users['crew1'].id}", json={"phone": "110"})
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200


def test_device_secret_rotation_and_disabling_revoke_its_tokens(client, session, demo):
    tokens = device_tokens(client)
    assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 200
    device = session.scalars(select(Device).where(Device.identifier == "T-1001")).one()
    device.secret_hash = hash_secret("rotated-secret-value")
    session.flush()
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert_problem(refresh(client, tokens["refresh_token"]), 401)
    wrong = {"identifier": "T-1001", "secret": DEMO_DEVICE_SECRET}
    assert_problem(client.post("/api/v1/auth/device-login", json=wrong), 401)

    other = device_tokens(client, "H-1001")
    handheld = session.scalars(select(Device).where(Device.identifier == "H-1001")).one()
    handheld.active = False
    session.flush()
    handheld.active = True
    session.flush()
    assert_problem(client.get(ME, headers=bearer(other["access_token"])), 401)


def test_admin_disables_and_rotates_devices_over_rest(api, client, session, demo):
    """The REST door: tokens of a disabled or rotated device stop at once; audited; MQTT too."""
    from backend.tracking import credentials as creds
    from backend.tracking.models import MqttCredential

    creds.issue(session)  # the terminals' MQTT logins exist
    session.commit()
    admin = api("admin")
    terminal = session.scalars(select(Device).where(Device.identifier == "T-1001")).one()
    tokens = device_tokens(client)
    url = f"/api/v1/devices/{terminal.id}"
    for who in ("dispatcher", "supervisor", "auditor", "crew1"):
        assert_problem(api(who).patch(url, json={"active": False}), 403)
        assert_problem(api(who).post(f"{url}/secret"), 403)
    assert_problem(
        client.patch(url, json={"active": False}, headers=bearer(tokens["access_token"])), 403
    )
    response = admin.patch(url, json={"active": False})
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert_problem(refresh(client, tokens["refresh_token"]), 401)
    body = {"identifier": "T-1001", "secret": DEMO_DEVICE_SECRET}
    assert_problem(client.post("/api/v1/auth/device-login", json=body), 401)
    vehicle_login = select(MqttCredential).where(MqttCredential.vehicle_id == terminal.vehicle_id)
    assert session.scalars(vehicle_login).all() == []  # the embedded broker refuses it now
    assert "T-1001:" not in creds.password_file(session)  # and Mosquitto's next files
    assert all(i.username != "T-1001" for i in creds.issue(session, rotate=True))
    assert admin.patch(url, json={"active": True}).get_json()["active"] is True
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)  # still dead
    # Rotation: the new secret is shown once; the old secret and tokens stop working.
    tokens = device_tokens(client)
    rotated = admin.post(f"{url}/secret")
    assert rotated.status_code == 200, rotated.get_json()
    secret = rotated.get_json()["secret"]
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    assert_problem(client.post("/api/v1/auth/device-login", json=body), 401)
    fresh = client.post("/api/v1/auth/device-login", json={**body, "secret": secret})
    assert fresh.status_code == 200, fresh.get_json()
    audited = session.scalars(
        select(AuditLog).where(AuditLog.entity == "devices", AuditLog.entity_id == str(terminal.id))
    ).all()
    changes = [(a.before or {}, a.after or {}) for a in audited if a.action == "update"]
    assert any(b.get("active") is True and a.get("active") is False for b, a in changes)
    generations = [a["token_generation"] for _, a in changes if "token_generation" in a]
    assert len(generations) >= 2 and generations == sorted(generations), changes  # both audited


def test_refresh_rotates_and_reuse_revokes_the_family(api, client, session):
    tokens = api().login("callcenter")
    rotated = refresh(client, tokens["refresh_token"])
    assert rotated.status_code == 200
    new = rotated.get_json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert client.get(ME, headers=bearer(new["access_token"])).status_code == 200
    # The second exchange of one refresh token means it leaked: the whole session ends.
    reused = refresh(client, tokens["refresh_token"])
    assert "already exchanged" in assert_problem(reused, 401)["detail"]
    for token in (new["access_token"], tokens["access_token"]):
        assert_problem(client.get(ME, headers=bearer(token)), 401)
    assert_problem(refresh(client, new["refresh_token"]), 401)
    entry = session.scalars(
        select(AuditLog).where(AuditLog.entity == "token_families", AuditLog.action == "revoke")
    ).one()
    assert entry.after["reason"] == "refresh_reuse" and entry.after["subject"].startswith("user:")
    # Other sessions of the same user are untouched.
    other = api().login("callcenter")
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_device_refresh_rotates_too(client):
    tokens = device_tokens(client)
    new = refresh(client, tokens["refresh_token"]).get_json()
    assert client.get(ME, headers=bearer(new["access_token"])).get_json()["kind"] == "device"
    assert_problem(refresh(client, tokens["refresh_token"]), 401)


def test_logout_revokes_the_session_server_side(api, client):
    victim = api()
    tokens = victim.login("dispatcher")
    other = api().login("dispatcher")
    assert victim.post("/api/v1/auth/logout", json={}).status_code == 204
    assert_problem(client.get(ME, headers=bearer(tokens["access_token"])), 401)
    # No refresh token was sent, and it is dead all the same: it belongs to the session.
    assert_problem(refresh(client, tokens["refresh_token"]), 401)
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_logout_refuses_someone_elses_refresh_token(api):
    theirs = api().login("callcenter")
    mine = api("dispatcher")
    response = mine.post("/api/v1/auth/logout", json={"refresh_token": theirs["refresh_token"]})
    assert_problem(response, 400)


def test_tokens_in_the_url_are_refused_everywhere(api, client):
    token = api().login("dispatcher")["access_token"]
    for url in (ME, "/api/v1/work-orders", ALERTS, FEED, "/api/v1/health"):
        sep = "&" if "?" in url else "?"
        response = client.get(f"{url}{sep}access_token={token}")
        assert "URL" in assert_problem(response, 401)["detail"], url
        # Even alongside a valid header: the URL has leaked it already.
        response = client.get(f"{url}{sep}access_token={token}", headers=bearer(token))
        assert_problem(response, 401)


def ticket_for(client, token: str) -> str:
    response = client.post("/api/v1/auth/stream-ticket", headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert 0 < body["expires_in"] <= 300
    return body["ticket"]


def test_stream_ticket_opens_one_stream_once(api, client):
    token = api().login("dispatcher")["access_token"]
    for url in (ALERTS, FEED):
        ticket = ticket_for(client, token)
        response = client.get(f"{url}&ticket={ticket}")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/event-stream"
        response.close()
        again = client.get(f"{url}&ticket={ticket}")
        assert "used already" in assert_problem(again, 401)["detail"]


def test_a_stream_ticket_is_spent_only_once_the_request_is_valid(api, client):
    """A malformed stream request (query, Last-Event-ID) is refused and leaves the ticket."""
    token = api().login("dispatcher")["access_token"]
    base = {ALERTS: "/api/v1/alerts/stream?", FEED: "/api/v1/tracking/feed?"}
    for url, path in base.items():
        ticket = ticket_for(client, token)
        assert_problem(client.get(f"{path}max_seconds=-1&ticket={ticket}"), 422)
        bad_header = client.get(f"{url}&ticket={ticket}", headers={"Last-Event-ID": "x"})
        assert_problem(bad_header, 400)
        response = client.get(f"{url}&ticket={ticket}")
        assert response.status_code == 200, response.get_data(as_text=True)
        response.close()
        assert "used already" in assert_problem(client.get(f"{url}&ticket={ticket}"), 401)["detail"]


def test_the_stream_ticket_parameter_is_documented(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/v1/alerts/stream", "/api/v1/tracking/feed"):
        names = {p["name"] for p in spec["paths"][path]["get"]["parameters"] if p["in"] == "query"}
        assert "ticket" in names, (path, names)


def test_stream_ticket_is_no_access_token(api, client):
    token = api().login("dispatcher")["access_token"]
    ticket = ticket_for(client, token)
    assert_problem(client.get(ME, headers=bearer(ticket)), 401)
    assert_problem(client.get(ALERTS, headers=bearer(ticket)), 401)
    assert_problem(client.get(f"{ME}?ticket={ticket}"), 401)  # only streams read tickets
    assert_problem(client.get(f"/api/v1/work-orders?ticket={ticket}"), 401)
    assert_problem(client.get(f"{ALERTS}&ticket=not-a-ticket"), 401)


def test_stream_ticket_keeps_the_stream_role_checks_and_dies_with_the_session(api, client):
    crew = api().login("crew1")["access_token"]
    assert_problem(client.get(f"{ALERTS}&ticket={ticket_for(client, crew)}"), 403)
    dispatcher = api()
    token = dispatcher.login("dispatcher")["access_token"]
    ticket = ticket_for(client, token)
    assert dispatcher.post("/api/v1/auth/logout", json={}).status_code == 204
    assert "revoked" in assert_problem(client.get(f"{ALERTS}&ticket={ticket}"), 401)["detail"]


def test_devices_get_no_stream_tickets(client):
    token = device_tokens(client)["access_token"]
    assert_problem(client.post("/api/v1/auth/stream-ticket", headers=bearer(token)), 403)


def test_token_responses_are_not_stored(client, demo):
    body = {"username": "dispatcher", "password": DEMO_PASSWORD}
    response = client.post("/api/v1/auth/login", json=body)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    failed = client.post("/api/v1/auth/login", json={**body, "password": "wrong"})
    assert failed.headers["Cache-Control"] == "no-store"


def test_tokens_of_a_user_without_session_claims_are_refused(app, client, demo):
    from flask_jwt_extended import create_access_token

    with app.app_context():
        legacy = create_access_token(
            identity=f"user:{demo.users['admin'].id}", additional_claims={"kind": "user"}
        )
    assert_problem(client.get(ME, headers=bearer(legacy)), 401)


def test_user_generation_is_bumped_on_any_path(session, demo):
    user = session.get(User, demo.users["crew4"].id)
    before = user.token_generation
    user.password_hash = hash_secret("set-from-a-script")
    session.flush()
    assert user.token_generation == before + 1
