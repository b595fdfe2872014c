"""Last resort: every operation, driven with every hostile value in path, query, headers and body.

As the admin (who reaches furthest), on both backends: never a 5xx, and every 4xx a problem.
Operations come from the OpenAPI document, so a new route is covered the day it is added.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.conftest import Api
from tests.dispatch.factories import path_records

HOSTILE: list[object] = [
    "\ud800",
    "a\x00b",
    "²",
    "١٢",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01",
    "9" * 40,
    "x" * 5000,
    -(2**63),
    2**64,
    1e308,
    [],
    {},
]
HOSTILE_HEADERS = {
    "Last-Event-ID": "²",
    "Content-Range": "bytes ²-0/1",
    "If-Match": '"²"',
    "If-None-Match": '"\x00"',
    "Range": "bytes=²-",
}
DEEP = "[" * 1000 + "]" * 1000


def _text(value: object) -> str:
    raw = value if isinstance(value, str) else json.dumps(value)
    return quote(raw.encode("utf-8", "surrogatepass"), safe="")


def _properties(spec, body_schema):
    if "$ref" in body_schema:
        body_schema = spec["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[-1]]
    return list(body_schema.get("properties", {}))


def _requests(spec, records):
    """Yield (method, url, kwargs) for every operation x hostile value."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            params = operations.get("parameters", []) + operation.get("parameters", [])
            query = [p["name"] for p in params if p["in"] == "query"]
            url = path
            for name in [p["name"] for p in params if p["in"] == "path"]:
                url = url.replace("{" + name + "}", str(records.get(name, "1")))
            content = operation.get("requestBody", {}).get("content", {})
            body_schema = content.get("application/json", {}).get("schema")
            for value in HOSTILE:
                # Hostile path segment (the route may not match: a 404 is fine).
                hostile_url = path
                for name in [p["name"] for p in params if p["in"] == "path"]:
                    hostile_url = hostile_url.replace("{" + name + "}", _text(value))
                yield method, hostile_url, {}
                if query:
                    qs = "&".join(f"{name}={_text(value)}" for name in query)
                    yield method, f"{url}?{qs}&max_seconds=0", {}
                if body_schema is not None:
                    body = {name: value for name in _properties(spec, body_schema)}
                    raw = json.dumps(body, ensure_ascii=True)
                    yield method, url, {"data": raw, "content_type": "application/json"}
            if body_schema is not None:
                yield method, url, {"data": DEEP, "content_type": "application/json"}
            yield method, url + "?max_seconds=0", {"headers": HOSTILE_HEADERS}


@pytest.fixture
def records(session, demo):
    return path_records(session, demo)


def test_no_operation_answers_a_hostile_value_with_a_server_error(client, db, demo, records):
    spec = client.get("/api/openapi.json").get_json()
    admin = Api(client, "admin")
    connection = db.session_factory.kw["bind"]
    failures = []
    for method, url, kwargs in _requests(spec, records):
        if url.endswith("/auth/logout"):
            continue  # would revoke the token the rest of the run uses (fuzzed per token elsewhere)
        savepoint = connection.begin_nested()
        try:
            headers = {**admin.headers, **kwargs.pop("headers", {})}
            response = client.open(url, method=method.upper(), headers=headers, **kwargs)
            status, mimetype = response.status_code, response.mimetype
            response.close()
        finally:
            if savepoint.is_active:
                savepoint.rollback()
        if status >= 500 or (status >= 400 and mimetype != "application/problem+json"):
            failures.append(f"{method.upper()} {url[:120]} {str(kwargs)[:120]} -> {status}")
    assert not failures, "\n".join(failures[:60])
