"""The committed openapi.yaml is current, the explorer works offline, health reports truly."""

import json
from pathlib import Path

import yaml

from backend.app import create_app
from backend.config import ROOT, TestConfig
from backend.db import Database


def current_spec(app):
    return app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()


def test_openapi_yaml_is_current(app):
    committed = yaml.safe_load(Path(ROOT / "openapi.yaml").read_text())
    assert committed == yaml.safe_load(yaml.safe_dump(current_spec(app))), (
        "openapi.yaml is stale: run `make openapi`"
    )


def test_every_operation_is_described_and_documents_problems(app):
    spec = current_spec(app)
    assert "Problem" in str(spec["components"]["responses"]["DEFAULT_ERROR"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert operation.get("summary"), (method, path)
            assert "default" in operation["responses"], (method, path)


def test_api_explorer_needs_no_cdn(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/docs-assets/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    asset = client.get("/api/docs-assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000


def test_spec_is_served(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_health_reports_revision_and_broker(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"
    assert body["database"]["revisions"]
    assert body["broker"]["ok"] is True  # the real Mosquitto the suite runs against


def test_health_is_503_when_database_is_down():
    url = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    app = create_app(
        TestConfig(DATABASE_URL=url, MQTT_URL="mqtt://127.0.0.1:1"), database=Database(url)
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["ok"] is False and body["broker"]["ok"] is False


def _operations(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                yield method, path, operation


def _resolve(spec, response):
    if "$ref" in response:
        return spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return response


def test_every_error_is_documented_as_a_problem(app):
    spec = current_spec(app)
    for method, path, operation in _operations(spec):
        for code, response in operation["responses"].items():
            if code == "default" or code[0] in "45":
                content = _resolve(spec, response)["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }


def test_every_operation_documents_its_success_and_what_it_carries(app):
    spec = current_spec(app)
    for method, path, operation in _operations(spec):
        successes = {c: r for c, r in operation["responses"].items() if c[0] == "2"}
        assert successes, (method, path)
        for code, response in successes.items():
            if code != "204" and method != "head":
                assert response.get("content"), (method, path, code)


def test_streams_and_text_are_documented_as_sent(app):
    spec = current_spec(app)
    ok = {
        path: spec["paths"][path]["get"]["responses"]["200"]["content"]
        for path in ("/api/v1/alerts/stream", "/api/v1/tracking/feed", "/api/v1/tracking/metrics")
    }
    assert list(ok["/api/v1/alerts/stream"]) == ["text/event-stream"]
    assert list(ok["/api/v1/tracking/feed"]) == ["text/event-stream"]
    assert list(ok["/api/v1/tracking/metrics"]) == ["text/plain"]


def test_pagination_header_is_documented_as_the_json_string_it_is(app, api):
    spec = current_spec(app)
    header = spec["components"]["headers"]["PAGINATION"]
    assert header["schema"] == {"type": "string"}
    assert '"total_pages"' in header["description"]
    sent = api("admin").get("/api/v1/users?page_size=2").headers["X-Pagination"]
    assert isinstance(json.loads(sent)["total_pages"], int)


def test_a_crew_that_never_reported_availability_matches_its_schema(app, api, demo):
    crew = demo.crews["Urban Crew 1"]
    body = api("dispatcher").get(f"/api/v1/crews/{crew.id}/availability").get_json()
    assert body["since"] is None
    since = current_spec(app)["components"]["schemas"]["CrewStatus"]["properties"]["since"]
    assert since.get("nullable") is True
