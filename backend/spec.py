"""OpenAPI that tells the truth: what flask-smorest documents by default, corrected to what is sent.

An apispec plugin (one place, applied to every blueprint including sync's):

- every error response (4xx, 5xx, `default`) is `application/problem+json` with the Problem
  schema; smorest documents them as `application/json`, or without any content;
- `X-Pagination` is a JSON document in a header, i.e. a string: documented as one, with the shape
  of the object it encodes (smorest documents the object itself, which no header value can be).

Text responses (event streams, CSV, Prometheus text) are documented where they are produced,
with `text_response(...)`.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin

from backend.errors import PROBLEM_MEDIA_TYPE

PROBLEM = "Problem"
PAGINATION_SHAPE = (
    "JSON-encoded pagination metadata, e.g. "
    '`{"total": 42, "total_pages": 5, "first_page": 1, "last_page": 5, "page": 2, '
    '"previous_page": 1, "next_page": 3}` (`previous_page`/`next_page` absent at the ends).'
)


def _is_error(code: object) -> bool:
    return str(code) == "default" or str(code)[:1] in {"4", "5"}


def problem_content() -> dict[str, Any]:
    """The content of every error response."""
    return {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM}}


def text_response(media_type: str, description: str, **schema: Any) -> dict[str, Any]:
    """A documented non-JSON 200 (for `@blp.doc(responses={"200": ...})`)."""
    return {
        "description": description,
        "content": {media_type: {"schema": {"type": "string", **schema}}},
    }


def event_stream_response(description: str, events: list[str]) -> dict[str, Any]:
    """A documented `text/event-stream` 200: the schema describes one event of the stream."""
    event = {
        "type": "object",
        "properties": {
            "event": {"type": "string", "enum": sorted({*events, "end"})},
            "data": {"type": "string", "description": "The event's JSON document"},
            "id": {"type": "string", "description": "Send it back as `Last-Event-ID`"},
            "retry": {"type": "integer", "description": "Reconnection delay in milliseconds"},
        },
    }
    return {
        "description": (
            f"{description}; `end` closes the stream with its `reason`: `max_seconds`, "
            "`lifetime` (LIVE_MAX_STREAM_SECONDS), `lagging` (reconnect with Last-Event-ID), "
            "`revoked`, `forbidden` or `scope_changed` (the caller was disabled, logged out, "
            "or changed role or department; checked once per keep-alive period)"
        ),
        "content": {"text/event-stream": {"schema": event}},
    }


def json_response(
    schema: dict[str, Any], description: str, media_type: str = "application/json"
) -> dict[str, Any]:
    """A documented JSON 200 whose body no marshmallow schema dumps (e.g. GeoJSON)."""
    return {"description": description, "content": {media_type: {"schema": schema}}}


GEOJSON_COLLECTION = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "geometry", "properties"],
                "properties": {
                    "type": {"type": "string", "enum": ["Feature"]},
                    "geometry": {"type": "object", "nullable": True},
                    "properties": {"type": "object", "nullable": True},
                },
            },
        },
    },
}


class TruthfulResponses(BasePlugin):  # type: ignore[misc]
    """Correct error content types and the pagination header in every operation and component."""

    def response_helper(self, response: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Component responses (DEFAULT_ERROR, UNPROCESSABLE_ENTITY, ...) are all errors.
        return {"content": problem_content()}

    def header_helper(self, header: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        if "PaginationMetadata" not in str(header.get("schema")):
            return None
        return {
            "description": "Pagination metadata. " + PAGINATION_SHAPE,
            "schema": {"type": "string"},
        }

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for operation in (operations or {}).values():
            for code, response in operation.get("responses", {}).items():
                if _is_error(code) and isinstance(response, dict) and "$ref" not in response:
                    response["content"] = problem_content()
