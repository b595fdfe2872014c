from tests.conftest import assert_problem


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["database"]["revisions"]


def test_login_and_me(api):
    admin = api("admin")
    me = admin.get("/api/v1/auth/me").get_json()
    assert me["label"] == "admin"


def test_unknown_route_is_problem(client):
    assert_problem(client.get("/nope"), 404, "not-found")
