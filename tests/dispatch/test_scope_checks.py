"""Devices and crews see only their own crew's vehicles, statuses and events."""

from backend.demo import DEMO_DEVICE_SECRET
from tests.conftest import assert_problem
from tests.dispatch.test_bad_input import dispatched, post_event


def _device(api, identifier):
    client = api()
    body = {"identifier": identifier, "secret": DEMO_DEVICE_SECRET}
    token = client.post("/api/v1/auth/device-login", json=body).get_json()["access_token"]
    client.headers = {"Authorization": f"Bearer {token}"}
    return client


def test_a_terminal_reads_only_its_own_vehicle_queue(api, demo):
    terminal = _device(api, "T-2001")  # the suburban crew's vehicle
    own = demo.vehicles["ZJ-A2001"].id
    other = demo.vehicles["ZJ-A1001"].id
    assert terminal.get(f"/api/v1/vehicles/{own}/queue").status_code == 200
    assert_problem(terminal.get(f"/api/v1/vehicles/{other}/queue"), 403, "out-of-scope")


def test_availability_is_read_within_scope(api, demo):
    terminal = _device(api, "T-2001")
    own = demo.crews["Suburban Crew 1"].id
    other = demo.crews["Urban Crew 1"].id
    assert terminal.get(f"/api/v1/crews/{own}/availability").get_json()["available"] is True
    assert_problem(terminal.get(f"/api/v1/crews/{other}/availability"), 403, "out-of-scope")
    assert_problem(api("dispatcher").get("/api/v1/crews/424242/availability"), 404)


def test_a_replayed_event_id_reveals_nothing_to_another_crew(api, demo):
    oid = dispatched(api, demo)
    assert post_event(api, oid, "E", event_id="evt-secret").status_code == 201
    replay = post_event(api, oid, "E", user="crew3", event_id="evt-secret")
    assert_problem(replay, 403)


def test_a_device_cannot_be_bound_to_a_crew_outside_the_admins_scope(api, demo):
    admin = api("admin")
    sub_admin = {
        "username": "rcadmin2",
        "full_name": "RC admin",
        "password": "long-enough-password",
        "role": "admin",
        "department_id": demo.departments["ST-SUB"].id,
    }
    assert admin.post("/api/v1/users", json=sub_admin).status_code == 201
    scoped = api()
    scoped.login("rcadmin2", "long-enough-password")
    body = {
        "identifier": "H-EVIL",
        "kind": "handheld",
        "department_id": demo.departments["ST-SUB"].id,
        "crew_id": demo.crews["Urban Crew 1"].id,
    }
    assert_problem(scoped.post("/api/v1/devices", json=body), 403, "out-of-scope")
