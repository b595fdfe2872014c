"""Acceptance alerts: list, acknowledge, and a live feed (server-sent events)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, request, stream_with_context
from flask_smorest import Blueprint

from backend.auth.actor import Actor
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.common import SelectPage
from backend.dispatch import escalation
from backend.dispatch.models import Alert
from backend.dispatch.schemas import AlertFilterSchema, AlertSchema, StreamArgsSchema
from backend.unit_of_work import database, request_session

blp = Blueprint("alerts", __name__, url_prefix="/api/v1", description="Acceptance escalations")


@blp.route("/alerts", methods=["GET"])
@requires(Action.ALERT_READ)
@blp.arguments(AlertFilterSchema, location="query")
@blp.response(200, AlertSchema(many=True))
@blp.paginate(SelectPage)
def list_alerts(args: dict[str, Any]) -> Any:
    """List alerts addressed to your departments, newest first."""
    return escalation.list_alerts(actor=current_actor(), open_only=args["open"])


@blp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@requires(Action.ALERT_ACKNOWLEDGE)
@blp.response(200, AlertSchema)
def acknowledge(alert_id: int) -> Alert:
    """Acknowledge an alert (you phoned)."""
    return escalation.acknowledge(
        session=request_session(), actor=current_actor(), alert_id=alert_id
    )


def _events(actor: Actor, after: int, max_seconds: float, poll: float) -> Iterator[str]:
    db = database()
    deadline = time.monotonic() + max_seconds
    yield "retry: 3000\n\n"
    while True:
        # A short session per poll: the stream never holds a transaction open.
        with db.session_factory() as session:
            rows = list(session.scalars(escalation.list_alerts(actor=actor, after_id=after)))
            payloads = [AlertSchema().dump(a) for a in rows]
        for payload in payloads:
            after = payload["id"]
            yield f"id: {after}\nevent: alert\ndata: {json.dumps(payload)}\n\n"
        if time.monotonic() >= deadline:
            return
        yield ": keep-alive\n\n"
        time.sleep(poll)


@blp.route("/alerts/stream", methods=["GET"])
@requires(Action.ALERT_READ)
@blp.arguments(StreamArgsSchema, location="query")
@blp.response(200, description="text/event-stream of `alert` events")
def stream(args: dict[str, Any]) -> Response:
    """Stream new alerts live (SSE); resumes after `Last-Event-ID` or `?after=`."""
    last = request.headers.get("Last-Event-ID", "")
    after = int(last) if last.isdigit() else args["after"]
    if after is None:  # start from now: only alerts raised from here on
        with database().session_factory() as session:
            newest = session.scalar(escalation.list_alerts(actor=current_actor()).limit(1))
            after = newest.id if newest else 0
    body = _events(current_actor(), after, args["max_seconds"], args["poll_seconds"])
    return Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
