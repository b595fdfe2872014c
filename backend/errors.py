"""RFC 9457 problem details: domain error classes and the one handler that renders them."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from marshmallow import INCLUDE, Schema, fields
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException

from sync.fields import Integer

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Stable slugs for errors raised by Flask, werkzeug and flask-smorest themselves.
HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
    503: "service-unavailable",
}


class FieldErrorSchema(Schema):
    """One invalid input field."""

    field = fields.String()
    messages = fields.List(fields.String())
    in_ = fields.String(data_key="in")


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error response carries them (plus extension members)."""

    class Meta:  # noqa: D106 - marshmallow options
        unknown = INCLUDE  # RFC 9457 §3.2: problem types may add members

    type = fields.String(required=True, metadata={"example": "/problems/validation-error"})
    title = fields.String(required=True)
    status = Integer(required=True)
    detail = fields.String()
    errors = fields.List(fields.Nested(FieldErrorSchema))
    current_state = fields.String()


class Problem(Exception):
    """A domain error that the API renders as problem+json; subclasses set the class attributes."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def to_dict(self) -> dict[str, Any]:
        """Return the RFC 9457 body."""
        return {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extensions,
        }


class BadRequest(Problem):
    """The request is malformed."""


class Unauthorized(Problem):
    """Missing, wrong or expired credentials."""

    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(Problem):
    """The caller is known but may not do this."""

    status, slug, title = 403, "forbidden", "Not allowed"


class OutOfScope(Forbidden):
    """The record belongs to a department outside the caller's data scope."""

    slug, title = "out-of-scope", "Outside your data scope"

    @classmethod
    def of(cls, label: str) -> OutOfScope:
        """The refusal for a record of kind `label` ("Work order").

        It never names the record (number, name, account): the caller may not read it, and
        the URL's id is all it brought.
        """
        return cls(f"This {label.lower()} is outside your data scope.")


class NotFound(Problem):
    """The record does not exist (or is not visible to the caller)."""

    status, slug, title = 404, "not-found", "Not found"


class Conflict(Problem):
    """The request conflicts with the record's current state."""

    status, slug, title = 409, "conflict", "Conflict"


class TooFarBehind(Problem):
    """A stream resumed from a point so old that replaying it would not be a catch-up."""

    status, slug, title = 409, "too-far-behind", "Too far behind to resume"


class InvalidTransition(Conflict):
    """A state machine refused a move; `current_state` names where the record is."""

    slug, title = "invalid-transition", "Transition not allowed"


class Unprocessable(Problem):
    """Well-formed input that breaks a business rule on a field."""

    status, slug, title = 422, "validation-error", "Invalid input"


def field_error(field: str, message: str, location: str = "json") -> Unprocessable:
    """Return a 422 problem naming one invalid input field."""
    return Unprocessable(message, errors=[{"field": field, "in": location, "messages": [message]}])


class TooManyRequests(Problem):
    """Rate limit reached."""

    status, slug, title = 429, "too-many-requests", "Too many requests"


class ServiceUnavailable(Problem):
    """A dependency (database, broker) is down."""

    status, slug, title = 503, "service-unavailable", "Service unavailable"


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """Build a problem+json response from a body holding at least `status`."""
    response = Response(json.dumps(body), status=body["status"], mimetype=PROBLEM_MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _field_errors(messages: Any) -> list[dict[str, Any]]:
    """Flatten webargs/marshmallow messages ({location: {field: [msg]}}) to a list."""
    errors: list[dict[str, Any]] = []

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*path, str(key)])
        elif isinstance(node, list) and all(isinstance(m, str) for m in node):
            errors.append({"field": ".".join(path[1:]) or path[0], "in": path[0], "messages": node})
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*path, str(index)])
        else:
            errors.append(
                {
                    "field": ".".join(path[1:]),
                    "in": path[0] if path else "body",
                    "messages": [str(node)],
                }
            )

    walk(messages, [])
    return errors


def _http_problem(exc: HTTPException) -> Response:
    status = exc.code or 500
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + HTTP_SLUGS.get(status, "http-error"),
        "title": exc.name,
        "status": status,
        "detail": exc.description or exc.name,
    }
    data = getattr(exc, "data", None) or {}
    if "messages" in data:
        body["detail"] = "The request did not pass validation; see errors."
        body["errors"] = _field_errors(data["messages"])
    if "message" in data:
        body["detail"] = data["message"]
    headers = {}
    if status == 405 and exc.get_response().headers.get("Allow"):
        headers["Allow"] = exc.get_response().headers["Allow"]
    return problem_response(body, headers)


def constraint_conflict() -> Conflict:
    """The 409 of a write that a unique or reference key refused, at flush or at commit."""
    return Conflict(
        "The change conflicts with existing data (a unique or reference constraint refused "
        "it); nothing was written."
    )


def register_error_handlers(app: Flask) -> None:
    """Render every error, ours and the framework's, as problem+json without stack traces."""

    @app.errorhandler(Problem)
    def handle_problem(exc: Problem) -> Response:
        retry = exc.extensions.get("retry_after_seconds")
        return problem_response(exc.to_dict(), {"Retry-After": str(retry)} if retry else None)

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException) -> Response:
        return _http_problem(exc)

    @app.errorhandler(DataError)
    def handle_data_error(exc: DataError) -> Response:
        # The database refused a value (out of range, malformed): input the schemas let through.
        log.warning("database refused a value: %s", exc.orig)
        return problem_response(
            Unprocessable(
                "A value does not fit its field (out of range or malformed); nothing was written."
            ).to_dict()
        )

    @app.errorhandler(IntegrityError)
    def handle_integrity_error(exc: IntegrityError) -> Response:
        # A key refused a write that the rule before it let through: two requests racing for
        # one meter number, say. The request's session is rolled back (`unit_of_work`).
        log.info("write refused by a constraint: %s", exc.orig)
        return problem_response(constraint_conflict().to_dict())

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(
            {
                "type": PROBLEM_TYPE_BASE + "internal-error",
                "title": "Internal error",
                "status": 500,
                "detail": "An unexpected error occurred; it has been logged.",
            }
        )
