"""Departments, crews and vehicles through the API, within data scope."""

from tests.conftest import assert_problem


def test_department_tree_and_scope(api, demo):
    dispatcher = api("dispatcher")
    codes = {d["code"] for d in dispatcher.get("/api/v1/departments").get_json()}
    assert codes == {"RC-N", "ST-URB", "ST-SUB", "ST-EMR", "ST-WAT"}
    call = demo.departments["CALL"].id
    assert_problem(dispatcher.get(f"/api/v1/departments/{call}"), 403, "out-of-scope")


def test_admin_creates_department_with_site_and_supervisors(api, demo):
    body = {
        "code": "ST-NEW",
        "name": "New Station",
        "kind": "station",
        "parent_id": demo.departments["RC-N"].id,
        "site": {"lat": 30.3, "lon": 120.2},
        "supervisor_phone_1": "+86 571 1111 2222",
        "supervisor_phone_2": "+86 571 1111 3333",
        "specialties": ["low_voltage"],
    }
    response = api("admin").post("/api/v1/departments", json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["site"] == {"lat": 30.3, "lon": 120.2}
    # The new station is inside the repair center's scope straight away.
    assert api("dispatcher").get(f"/api/v1/departments/{created['id']}").status_code == 200


def test_department_bad_input(api, demo):
    admin = api("admin")
    base = {"code": "X1", "name": "X", "kind": "station", "parent_id": demo.departments["RC-N"].id}
    assert_problem(admin.post("/api/v1/departments", json={**base, "kind": "castle"}), 422)
    assert_problem(
        admin.post("/api/v1/departments", json={**base, "site": {"lat": 91, "lon": 0}}), 422
    )
    assert_problem(admin.post("/api/v1/departments", json={**base, "parent_id": 424242}), 404)
    assert_problem(admin.post("/api/v1/departments", json={**base, "code": "ROOT"}), 409)


def test_crew_with_members(api, demo):
    body = {
        "name": "Night Crew",
        "department_id": demo.departments["ST-URB"].id,
        "work_types": ["low_voltage"],
        "members": [{"user_id": demo.users["crew2"].id, "work_type": "low_voltage"}],
    }
    response = api("dispatcher").post("/api/v1/crews", json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["members"][0]["user_id"] == demo.users["crew2"].id
    twice = {**body, "members": body["members"] * 2}
    assert_problem(api("dispatcher").post("/api/v1/crews", json=twice), 422)
    outsider = {
        **body,
        "members": [{"user_id": demo.users["callcenter"].id, "work_type": "low_voltage"}],
    }
    assert_problem(api("dispatcher").post("/api/v1/crews", json=outsider), 422)


def test_vehicle_terminal_must_be_unique(api, demo):
    body = {
        "plate": "ZJ-B9999",
        "department_id": demo.departments["ST-URB"].id,
        "specialty": "low_voltage",
        "terminal_id": "T-1001",
    }
    assert_problem(api("dispatcher").post("/api/v1/vehicles", json=body), 409)
    body["terminal_id"] = "T-9999"
    created = api("dispatcher").post("/api/v1/vehicles", json=body)
    assert created.status_code == 201 and created.get_json()["datum"] == "wgs84"
    # A terminal id is an MQTT login and topic level: never another vehicle's numeric id (a
    # vehicle without a terminal reports under it), a service's login, or a topic wildcard.
    url = f"/api/v1/vehicles/{created.get_json()['id']}"
    other = str(demo.vehicles["ZJ-A1002"].id)
    for taken, status in ((other, 422), ("ingest", 409), ("a/b", 422), ("+", 422), ("#", 422)):
        assert_problem(api("dispatcher").patch(url, json={"terminal_id": taken}), status)
    assert api("dispatcher").patch(url, json={"terminal_id": "T-9999.b"}).status_code == 200


def test_mqtt_logins_are_issued_once_per_identity(session, demo):
    """A clash (a terminal id equal to a service login) stops the credentials command."""
    import pytest

    from backend.org.models import Vehicle
    from backend.tracking import credentials

    vehicle = session.get(Vehicle, demo.vehicles["ZJ-A1002"].id)
    vehicle.terminal_id = "ingest"  # past the API's rule: written straight to the table
    session.flush()
    with pytest.raises(ValueError, match="claimed twice: ingest"):
        credentials.issue(session)


def test_crew_role_cannot_manage_vehicles(api, demo):
    body = {
        "plate": "ZJ-C1",
        "department_id": demo.departments["ST-URB"].id,
        "specialty": "low_voltage",
    }
    assert_problem(api("crew1").post("/api/v1/vehicles", json=body), 403)


def test_pagination_headers(api):
    response = api("admin").get("/api/v1/departments?page=1&page_size=2")
    assert len(response.get_json()) == 2
    assert '"total": 7' in response.headers["X-Pagination"]


def test_page_far_beyond_the_data_is_empty(api):
    response = api("admin").get(f"/api/v1/departments?page={10**20}")
    assert response.status_code == 200 and response.get_json() == []
