"""Flask glue for the live streams: one hub per app, a response that holds no session."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask, Response, current_app, stream_with_context
from sqlalchemy.orm import Session

from backend.auth import policy
from backend.auth.actor import Actor
from backend.auth.guard import spend_stream_ticket
from backend.config import Config
from backend.db import Database
from backend.live.events import BBox, EventType, LiveEvent
from backend.live.hub import LiveHub, LiveSettings, stream

EXTENSION = "fieldline.live"


def init_app(app: Flask, database: Database, config: Config) -> None:
    """Give the app its hub; the listener thread starts with the first subscriber."""
    settings = LiveSettings(
        poll_s=config.LIVE_POLL_SECONDS,
        keepalive_s=config.LIVE_KEEPALIVE_SECONDS,
        round_s=config.LIVE_ROUND_SECONDS,
        queue_size=config.LIVE_QUEUE_SIZE,
    )
    app.extensions[EXTENSION] = LiveHub(database, settings)


def stop(app: Flask) -> None:
    """Stop the app's hub (its listener holds a connection of its own): app teardown."""
    found: LiveHub | None = app.extensions.get(EXTENSION)
    if found is not None:
        found.stop()


def hub() -> LiveHub:
    """Return this app's hub."""
    found: LiveHub = current_app.extensions[EXTENSION]
    return found


def event_stream(
    session: Session,
    actor: Actor,
    action: policy.Action,
    types: Iterable[EventType],
    backlog: Callable[[frozenset[int]], list[LiveEvent]],
    *,
    max_seconds: float | None,
    id_types: Iterable[EventType] = (),
    bbox: BBox | None = None,
) -> Response:
    """Subscribe the actor, read its backlog with the request's session, then stream.

    The subscription comes first, so whatever commits after the backlog was read reaches the
    client live; the request's session is closed before the first byte is streamed.
    """
    policy.authorize(actor, action)  # the service-level check, whatever the route did
    spend_stream_ticket()  # the request is valid: now its ticket (if any) is used up
    # Streams are for department-scoped roles; a crew-bound caller would see no department.
    departments = (
        frozenset()
        if policy.crew_bound(actor)
        else frozenset(session.scalars(policy.department_filter(actor)))
    )
    live = hub()
    sub = live.subscribe(departments, types, id_types=id_types, bbox=bbox)
    try:
        events = backlog(departments)
    except BaseException:
        live.unsubscribe(sub)
        raise
    body = stream(live, sub, events, max_seconds=max_seconds)
    return Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
