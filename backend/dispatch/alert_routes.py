"""Acceptance alerts: list, acknowledge, and a live feed (server-sent events)."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.dispatch import escalation
from backend.dispatch.models import Alert
from backend.dispatch.schemas import AlertFilterSchema, AlertSchema, StreamArgsSchema
from backend.inputs import Blueprint, SelectPage, header_int
from backend.live import backlog
from backend.live.events import EventType, LiveEvent
from backend.live.http import STREAMS_AT_CAP, event_stream
from backend.spec import event_stream_response
from backend.unit_of_work import request_session

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


@blp.route("/alerts/stream", methods=["GET"])
@requires(Action.ALERT_READ, stream=True)
@blp.arguments(StreamArgsSchema, location="query")
@blp.doc(responses={"200": event_stream_response("Server-sent `alert` events", ["alert"])})
@blp.alt_response(429, description=STREAMS_AT_CAP)
def stream(args: dict[str, Any]) -> Response:
    """Stream new alerts live (SSE); resumes after `Last-Event-ID` or `?after=`."""
    last = header_int(request.headers.get("Last-Event-ID"), name="Last-Event-ID", maximum=2**31 - 1)
    after = last if last is not None else args["after"]
    session = request_session()

    def catch_up(departments: frozenset[int]) -> list[LiveEvent]:
        if after is None:  # start from now: only alerts raised from here on
            return []
        return backlog.alerts(session, departments, after_id=after)

    return event_stream(
        session,
        current_actor(),
        Action.ALERT_READ,
        [EventType.ALERT],
        catch_up,
        max_seconds=args["max_seconds"],
        id_types=[EventType.ALERT],
    )
