"""Hostile input classes the attacker run found as 500s: each is a 4xx problem on both backends."""

import json

import pytest

from tests.conftest import assert_problem

DEEP_ARRAY = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
BLOB = "/api/v1/blobs/" + "ab" * 32


def _json(text):
    return {"data": text, "content_type": "application/json"}


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize(
    "method,url",
    [
        ("POST", "/api/v1/work-orders"),
        ("POST", "/api/v1/sync/push"),
        ("POST", "/api/v1/sync/conflicts/1/resolve"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/tracking/osmand"),
    ],
)
def test_deeply_nested_json_is_400(api, method, url, body):
    admin = api("admin")
    problem = assert_problem(admin.request(method, url, **_json(body)), 400, "bad-request")
    assert "nested" in problem["detail"]


@pytest.mark.parametrize(
    "method,url",
    [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/work-orders"),
        ("POST", "/api/v1/customers"),
        ("POST", "/api/v1/sync/push"),
    ],
)
def test_a_json_number_past_the_digit_limit_is_400(api, method, url):
    body = '{"a": ' + "9" * 5000 + "}"  # Python refuses to convert more than 4,300 digits
    admin = api("admin")
    problem = assert_problem(admin.request(method, url, **_json(body)), 400, "bad-request")
    assert "number" in problem["detail"]


def test_json_nested_within_the_limit_is_still_read(api):
    body = {"username": "admin", "password": "x", "extra": json.loads("[" * 30 + "]" * 30)}
    assert_problem(api().post("/api/v1/auth/login", json=body), 422, "validation-error")


@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "nul\x00byte"], ids=["high", "low", "nul"])
def test_unreadable_text_in_a_json_field_is_422_naming_it(api, demo, bad):
    body = json.dumps({"name": bad, "code": "X-1", "kind": "station", "parent_id": 1})
    response = api("admin").post("/api/v1/departments", **_json(body))
    problem = assert_problem(response, 422, "validation-error")
    assert problem["errors"][0]["field"] == "name"
    assert problem["errors"][0]["in"] == "json"


def test_unreadable_text_in_a_nested_json_field_names_its_path(api):
    body = json.dumps({"username": "x", "password": "y", "meta": {"list": ["ok", "\ud800"]}})
    problem = assert_problem(api().post("/api/v1/auth/login", **_json(body)), 422)
    assert problem["errors"][0]["field"] == "meta.list.1"


def test_unreadable_text_in_a_json_key_is_422(api):
    body = '{"username": "x", "password": "y", "\\ud800": 1}'
    assert_problem(api().post("/api/v1/auth/login", **_json(body)), 422, "validation-error")


def test_nul_in_a_query_value_is_422_naming_it(api):
    problem = assert_problem(api("admin").get("/api/v1/work-orders?status=a%00b"), 422)
    assert problem["errors"][0] == {
        "field": "status",
        "in": "query",
        "messages": ["Must not contain NUL characters or unpaired surrogates."],
    }


def test_nul_in_a_path_segment_matches_no_route(api):
    assert_problem(api("admin").put("/api/v1/sla-policies/a%00b/electric", json={}), 404)


def test_unreadable_device_credentials_are_refused(api):
    response = api().get("/api/v1/tracking/osmand?id=a%00b&key=secret&lat=1&lon=2")
    assert response.status_code in (401, 422), response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("identifier", [{"a": 1}, ["T-1001"], 5, True, 1.5, "\ud800", "a\u0000b"])
def test_a_device_identifier_of_any_json_type_is_a_problem(api, identifier):
    """OsmAnd/Traccar JSON names the device in its body: an anonymous caller's, any type."""
    response = api().post(
        "/api/v1/tracking/osmand?key=secret",
        data=json.dumps({"device_id": identifier}),
        content_type="application/json",
    )
    assert_problem(response, 422 if isinstance(identifier, str) else 401)


UNICODE_DIGITS = ["²", "١٢", "߁"]


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/sync/pull?limit={}",
        "/api/v1/sync/pull?cursor=v1.{}.1",
        "/api/v1/sync/pull?cursor=v1.1.{}",
    ],
)
def test_non_ascii_digits_in_a_query_are_refused(api, url, digits):
    response = api("admin").get(url.format(digits))
    assert_problem(response, 422 if url.endswith("limit={}") else 400)


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/work-orders?page={}",  # flask-smorest's own pagination schema
        "/api/v1/work-orders?page_size={}",
        "/api/v1/alerts/stream?max_seconds=0&after={}",  # an integer of our schemas
        "/api/v1/alerts/stream?max_seconds={}",  # a float
    ],
)
def test_non_ascii_digits_in_any_number_field_are_422(api, url, digits):
    """`int("١٢")` is 12: every number field reads ASCII digits only, whoever declared it."""
    body = assert_problem(api("dispatcher").get(url.format(digits)), 422)
    assert body["errors"], body


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_non_ascii_digits_in_a_json_number_string_are_422(api, demo, digits):
    supervisor = api("supervisor")
    policy = supervisor.get("/api/v1/sla-policies").get_json()[-1]
    good = {"limits_minutes": policy["limits_minutes"], "responsible": policy["responsible"]}
    for bad in (
        {"version": digits},
        {"limits_minutes": {**policy["limits_minutes"], "GH": digits}},
    ):
        response = supervisor.put("/api/v1/sla-policies/HZ/electric", json={**good, **bad})
        assert_problem(response, 422)


def test_every_schema_number_reads_ascii_digits_only(app):
    from marshmallow import Schema, fields

    from sync.fields import Decimal, Float, Integer

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def leaves(field):
        yield field
        for inner in (getattr(field, "inner", None), getattr(field, "value_field", None)):
            if inner is not None:
                yield from leaves(inner)

    plain = [
        f"{schema.__module__}.{schema.__name__}.{name}"
        for schema in subclasses(Schema)
        if schema.__module__.startswith(("backend.", "sync."))
        for name, field in schema._declared_fields.items()
        for leaf in leaves(field)
        if isinstance(leaf, fields.Number) and not isinstance(leaf, Integer | Float | Decimal)
    ]
    assert plain == []


@pytest.mark.parametrize("digits", UNICODE_DIGITS)
def test_non_ascii_digits_in_a_blob_offset_are_422(api, digits):
    response = api("crew1").put(f"{BLOB}?offset={digits}&total=1", data=b"x")
    assert_problem(response, 422)


@pytest.mark.parametrize(
    "header", ["bytes ²-0/1", "bytes 0-²/1", "bytes 0-0/²", "bytes ١-0/1", "bytes 0-0/1x"]
)
def test_non_ascii_digits_in_content_range_are_400(api, header):
    response = api("crew1").put(BLOB, data=b"x", headers={"Content-Range": header})
    assert_problem(response, 400)


@pytest.mark.parametrize("last", ["²", "١٢", "-1", "9" * 40])
def test_unreadable_last_event_id_is_400(api, last):
    response = api("dispatcher").get(
        "/api/v1/alerts/stream?max_seconds=0", headers={"Last-Event-ID": last}
    )
    assert_problem(response, 400)
    assert "Last-Event-ID" in response.get_json()["detail"]


def test_ascii_last_event_id_still_resumes(api):
    response = api("dispatcher").get(
        "/api/v1/alerts/stream?max_seconds=0", headers={"Last-Event-ID": "0"}
    )
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"


EXTREMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
EXTREME_DAYS = ["0001-01-01", "9999-12-31"]


@pytest.mark.parametrize("when", EXTREMES)
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/tracking/vehicles/1/track?since={}",
        "/api/v1/tracking/vehicles/1/track?until={}",
        "/api/v1/reports/sla-compliance?from={}&to=2026-01-01T00:00:00Z",
        "/api/v1/reports/vehicle-busy?from=2026-01-01T00:00:00Z&to={}",
    ],
)
def test_extreme_datetimes_in_a_query_are_422(api, url, when):
    response = api("admin").get(url.format(when.replace("+", "%2B")))
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("day", EXTREME_DAYS)
def test_extreme_report_days_are_422(api, day):
    response = api("admin").get(f"/api/v1/reports/call-center-daily?day={day}")
    assert_problem(response, 422, "validation-error")


@pytest.mark.parametrize("when", EXTREMES)
@pytest.mark.parametrize("field", ["hung_up_at", "issued_at"])
def test_extreme_order_times_are_422_naming_the_field(api, when, field):
    body = {
        "order_type": "electric",
        "fault_type": "outage",
        "specialty": "low_voltage",
        "hung_up_at": "2026-01-01T00:00:00Z",
        field: when,
    }
    problem = assert_problem(api("admin").post("/api/v1/work-orders", json=body), 422)
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize("when", EXTREMES)
def test_extreme_times_in_a_sync_push_are_not_a_server_error(api, when):
    body = {"device_id": "d-1", "batch_id": "b-1", "sent_at": when, "mutations": []}
    response = api("crew1").post("/api/v1/sync/push", json=body)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


def test_patching_a_vehicle_without_a_terminal(api, demo):
    admin = api("admin")
    created = admin.post(
        "/api/v1/vehicles",
        json={
            "plate": "ZJ-T0001",
            "department_id": demo.departments["ST-URB"].id,
            "specialty": "low_voltage",
        },
    )
    assert created.status_code == 201, created.get_json()
    vehicle = created.get_json()
    response = admin.patch(f"/api/v1/vehicles/{vehicle['id']}", json={"report_interval_s": 30})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["terminal_id"] is None
    assert response.get_json()["report_interval_s"] == 30


@pytest.mark.parametrize(
    "method,url,body",
    [
        ("POST", "/api/v1/work-orders", DEEP_ARRAY),
        ("POST", "/api/v1/departments", '{"name": "\\ud800"}'),
        ("POST", "/api/v1/sync/push", '{"mutations": 5}'),
        ("POST", "/api/v1/sync/conflicts/1/resolve", '{"resolution": 5}'),
        ("PUT", "/api/v1/vehicles/1/queue", '{"order_ids": "x"}'),
        ("GET", "/api/v1/work-orders?page=%C2%B2&status=%00", None),
        ("GET", "/api/v1/sync/pull?limit=%C2%B2", None),
        ("GET", "/api/v1/reports/call-center-daily?day=0001-01-01", None),
    ],
)
def test_unauthenticated_malformed_requests_get_401(client, method, url, body):
    response = client.open(url, method=method, data=body, content_type="application/json")
    assert_problem(response, 401, "unauthorized")


def test_every_api_blueprint_reads_arguments_through_the_safe_parser(app):
    import flask_smorest

    from backend.inputs import Blueprint

    # sync/ may not import backend: its views read the body with request.get_json() (the app's
    # JSON provider holds the depth limit) and check text per mutation.
    unchecked = {
        name
        for name, blueprint in app.blueprints.items()
        if isinstance(blueprint, flask_smorest.Blueprint) and not isinstance(blueprint, Blueprint)
    }
    assert unchecked <= {"sync", "blobs"}


def test_every_schema_date_time_is_bounded(app):
    from marshmallow import Schema, fields

    from backend.inputs import Day, Timestamp

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def leaves(field):
        yield field
        for inner in (getattr(field, "inner", None), getattr(field, "value_field", None)):
            if inner is not None:
                yield from leaves(inner)

    unbounded = [
        f"{schema.__module__}.{schema.__name__}.{name}"
        for schema in subclasses(Schema)
        if schema.__module__.startswith("backend.")
        for name, field in schema._declared_fields.items()
        for leaf in leaves(field)
        if isinstance(leaf, fields.Date | fields.DateTime) and not isinstance(leaf, Timestamp | Day)
    ]
    assert unbounded == []


# A bbox of four valid coordinates padded past the declared 200 characters: the limit holds
# for the text, not for the four floats it reads as.
LONG_BBOX = "120." + "0" * 5000 + ",30.0,120.3,30.5"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/tracking/feed?max_seconds=0&bbox={}",
        "/api/v1/network/layers/lines?bbox={}",
        "/api/v1/archive/layers/premises?bbox={}",
    ],
)
def test_a_bbox_longer_than_its_declared_limit_is_422(api, url):
    dispatcher = api("dispatcher")
    problem = assert_problem(dispatcher.get(url.format(LONG_BBOX)), 422, "validation-error")
    assert "bbox" in str(problem["errors"])
    assert dispatcher.get(url.format("120.0,30.0,120.3,30.5")).status_code == 200
