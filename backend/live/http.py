"""Flask glue for the live streams: one hub per app, a response that holds no session."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from flask import Flask, Response, current_app, stream_with_context
from sqlalchemy.orm import Session

from backend.auth import policy
from backend.auth.actor import Actor
from backend.auth.guard import spend_stream_ticket, stream_recheck
from backend.config import Config
from backend.db import Database
from backend.live.capacity import StreamLimits, StreamSlots
from backend.live.events import BBox, EventType, LiveEvent
from backend.live.hub import LiveHub, LiveSettings, stream

EXTENSION = "fieldline.live"
SLOTS = "fieldline.live.slots"
# The 429 every stream route documents (with Retry-After).
STREAMS_AT_CAP = (
    "Too many open streams: yours (LIVE_STREAMS_PER_USER) or this server's "
    "(LIVE_STREAMS_PER_PROCESS); retry after Retry-After seconds"
)


def init_app(app: Flask, database: Database, config: Config) -> None:
    """Give the app its hub; the listener thread starts with the first subscriber."""
    settings = LiveSettings(
        poll_s=config.LIVE_POLL_SECONDS,
        keepalive_s=config.LIVE_KEEPALIVE_SECONDS,
        round_s=config.LIVE_ROUND_SECONDS,
        queue_size=config.LIVE_QUEUE_SIZE,
    )
    app.extensions[EXTENSION] = LiveHub(database, settings)
    limits = StreamLimits(
        per_user=config.LIVE_STREAMS_PER_USER,
        per_process=config.live_streams_per_process(),
        retry_after_s=max(1, math.ceil(config.LIVE_KEEPALIVE_SECONDS)),
    )
    app.extensions[SLOTS] = StreamSlots(limits)


def stop(app: Flask) -> None:
    """Stop the app's hub (its listener holds a connection of its own): app teardown."""
    found: LiveHub | None = app.extensions.get(EXTENSION)
    if found is not None:
        found.stop()


def hub() -> LiveHub:
    """Return this app's hub."""
    found: LiveHub = current_app.extensions[EXTENSION]
    return found


def slots() -> StreamSlots:
    """Return this app's count of open streams."""
    found: StreamSlots = current_app.extensions[SLOTS]
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
    client live; the request's session is closed before the first byte is streamed. Every
    stream route comes through here: it takes one of the caller's (and the process's) stream
    places or is refused with 429, lasts at most LIVE_MAX_STREAM_SECONDS, and ends when its
    caller is disabled or changes role or department (`stream_recheck`).
    """
    policy.authorize(actor, action)  # the service-level check, whatever the route did
    # Refused before the ticket is spent: the client retries with it after Retry-After.
    slot = slots().acquire(f"{actor.kind}:{actor.id}")
    live = hub()
    try:
        spend_stream_ticket()  # the request is valid: now its ticket (if any) is used up
        # Streams are for department-scoped roles; a crew-bound caller would see no department.
        departments = (
            frozenset()
            if policy.crew_bound(actor)
            else frozenset(session.scalars(policy.department_filter(actor)))
        )
        sub = live.subscribe(departments, types, id_types=id_types, bbox=bbox)
        try:
            events = backlog(departments)
        except BaseException:
            live.unsubscribe(sub)
            raise
    except BaseException:
        slot.release()
        raise
    lifetime = float(current_app.config["LIVE_MAX_STREAM_SECONDS"])
    ends_as = "max_seconds"
    if max_seconds is None or max_seconds > lifetime:
        max_seconds, ends_as = lifetime, "lifetime"
    body = stream(
        live,
        sub,
        events,
        max_seconds=max_seconds,
        ends_as=ends_as,
        recheck=stream_recheck(actor, action),
    )
    response = Response(
        stream_with_context(body),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    # The server closes the response however the stream ended (its end, the client gone, an
    # error), even one never iterated, whose generator would run no `finally`.
    response.call_on_close(slot.release)
    response.call_on_close(lambda: live.unsubscribe(sub))
    return response
