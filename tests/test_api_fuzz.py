"""Schemathesis drives every documented operation: the API answers as its OpenAPI says.

Every operation, streams and `/work-orders/{id}/events` included, once as the admin and once as
a repair-center dispatcher, on both backends, with schemathesis' response checks: no 5xx, only
documented status codes, documented content types, bodies and headers that match their schemas.
Each generated request runs in a savepoint that is rolled back, so one example (say, deactivating
the caller) never changes what the next one sees. Operations are driven one by one with
Hypothesis (schemathesis' pytest plugin does not support this pytest version).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Api
from tests.dispatch.factories import path_records

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Enough to reach every branch of the schemas' validation a few times: ~240 operations x 2
# roles x 2 backends. Hostile values are driven one by one in tests/test_last_resort.py.
EXAMPLES = 4
STREAM_PATHS = ("/alerts/stream", "/tracking/feed")


def _prepare(case, caller: Api, role: str, records: dict[str, object]) -> dict[str, str]:
    """Aim at real records; bound streams to one poll; give logout a token of its own."""
    path = case.path_parameters or {}
    case.path_parameters = {**path, **{k: v for k, v in records.items() if k in path}}
    if case.operation.path.endswith(STREAM_PATHS):
        case.query = {**(case.query or {}), "max_seconds": 0}
    if case.operation.path.endswith("/auth/logout"):
        return Api(caller.client, role).headers
    return caller.headers


@pytest.mark.parametrize("role", ["admin", "dispatcher"])
def test_every_operation_answers_as_documented(api_schema, client, db, session, demo, role):
    caller = Api(client, role)
    records = path_records(session, demo)
    connection = db.session_factory.kw["bind"]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert any(op.path.endswith("/work-orders/{order_id}/events") for op in operations)
    failures: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            headers = _prepare(case, caller, role, records)
            savepoint = connection.begin_nested()
            try:
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)
            finally:
                if savepoint.is_active:
                    savepoint.rollback()

        try:
            check()
        except BaseExceptionGroup as group:  # schemathesis' FailureGroup: one per distinct failure
            failures += [f"{operation.label}: {str(exc)[:800]}" for exc in group.exceptions]
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then fail
            failures.append(f"{operation.label}: {str(exc)[:800]}")

    if failures:
        pytest.fail(f"{len(failures)} failures:\n\n" + "\n\n".join(failures), pytrace=False)
