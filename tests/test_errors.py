"""Every error is RFC 9457 problem+json with a stable type and no stack trace."""

from flask import Flask

from backend.config import TestConfig
from tests.conftest import assert_problem


def test_unknown_path_is_404(client):
    assert_problem(client.get("/api/v1/no-such-thing"), 404, "not-found")


def test_wrong_method_is_405_with_allow(client):
    response = client.delete("/healthz")
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_413(client, app):
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/api/v1/auth/login", data=big, content_type="application/json")
    assert_problem(response, 413, "payload-too-large")


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/login", data="{nope", content_type="application/json")
    assert_problem(response, 400, "bad-request")


def test_unknown_field_lists_field_errors(client):
    response = client.post(
        "/api/v1/auth/login", json={"username": "a", "password": "b", "admin": True}
    )
    body = assert_problem(response, 422, "validation-error")
    assert {"field": "admin", "in": "json", "messages": ["Unknown field."]} in body["errors"]


def test_wrong_type_lists_field_errors(client):
    body = assert_problem(
        client.post("/api/v1/auth/login", json={"username": 5, "password": "b"}),
        422,
        "validation-error",
    )
    assert body["errors"][0]["field"] == "username"


def test_unexpected_error_is_500_without_trace(backend):
    app: Flask = backend.app
    # A throwaway app so the route does not leak into other tests or the OpenAPI spec.
    from backend.app import create_app

    broken = create_app(TestConfig(DATABASE_URL=backend.url), database=backend.database)

    @broken.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = broken.test_client().get("/boom")
    body = assert_problem(response, 500, "internal-error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert body["detail"]
    assert app is not broken


def test_ids_beyond_the_database_range_are_404(api):
    response = api("admin").get(f"/api/v1/users/{2**31}")
    assert_problem(response, 404, "not-found")
