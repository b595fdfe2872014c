"""Live vehicles, track history, nearest free vehicle, live feed, metrics and OsmAnd ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, current_app, request
from marshmallow import Schema, fields, validate

from backend.auth import issuing, policy
from backend.auth.actor import Actor
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import BadRequest, Unauthorized, field_error
from backend.inputs import BBoxField, Blueprint, StreamTicketArgs, Timestamp, check_text
from backend.live import backlog
from backend.live.collect import FeedCursor
from backend.live.events import EventType, LiveEvent
from backend.live.http import STREAMS_AT_CAP, event_stream
from backend.spec import GEOJSON_COLLECTION, event_stream_response, json_response, text_response
from backend.tracking import nearest, service
from backend.tracking.checkpoints import arrival_rules
from backend.tracking.ingest.decode import DecodeError, decode_osmand, decode_traccar_json
from backend.tracking.ingest.pipeline import BatchReport
from backend.tracking.models import PositionSource
from backend.unit_of_work import request_session, writes_on_get
from gis.datum import Datum
from gis.filters import RejectReason
from sync.fields import Float, Integer

blp = Blueprint("tracking", __name__, url_prefix="/api/v1/tracking", description="Vehicle tracking")

_DATUMS = [Datum.WGS84.value, Datum.GCJ02.value]
FEED_EVENTS = (
    EventType.POSITION,
    EventType.STATE,
    EventType.ORDER,
    EventType.ORDER_EVENT,
    EventType.ALERT,
    EventType.OUTAGE,
)
# Events that carry a resumable `id` (Last-Event-ID): changes read from the change feed.
RESUMABLE = (EventType.ORDER, EventType.ORDER_EVENT, EventType.OUTAGE)
# Event types a caller gets only with the action that reads them.
GUARDED = {EventType.ALERT: Action.ALERT_READ, EventType.OUTAGE: Action.OUTAGE_READ}


def feed_events_for(actor: Actor) -> tuple[EventType, ...]:
    """The map feed's event types for a caller: alerts and outages only to their readers."""
    return tuple(e for e in FEED_EVENTS if e not in GUARDED or policy.can(actor, GUARDED[e]))


class DatumArgs(Schema):
    """Output datum: WGS-84, or GCJ-02 for Chinese base maps."""

    datum = fields.String(load_default="wgs84", validate=validate.OneOf(_DATUMS))


class TrackArgs(DatumArgs):
    """The time window of a track (default: the last hour)."""

    since = Timestamp(load_default=None)
    until = Timestamp(load_default=None)


class NearestArgs(Schema):
    """Where the work is and what it needs."""

    lon = Float(required=True, validate=validate.Range(-180, 180))
    lat = Float(required=True, validate=validate.Range(-90, 90))
    specialty = fields.String(load_default=None)
    limit = Integer(load_default=5, validate=validate.Range(1, 50))
    max_distance_m = Float(load_default=50_000, validate=validate.Range(1, 500_000))


class CandidatePositionSchema(Schema):
    """Where a candidate is (WGS-84)."""

    lon = Float()
    lat = Float()


class NearestCandidateSchema(Schema):
    """A free vehicle and how far it is."""

    vehicle_id = Integer()
    plate = fields.String()
    specialty = fields.String()
    department_id = Integer()
    distance_m = Float()
    eta_min = Float()
    liveness = fields.String()
    position = fields.Nested(CandidatePositionSchema)


class NearestSchema(Schema):
    """Free vehicles, nearest first."""

    candidates = fields.List(fields.Nested(NearestCandidateSchema))


class IngestReplySchema(Schema):
    """How many fixes were stored; a dropped fix (filtered or a duplicate) also says why."""

    stored = Integer()
    dropped = Integer(metadata={"description": "Fixes not stored (only when one was dropped)."})
    reason = fields.String(
        validate=validate.OneOf([str(r) for r in RejectReason]),
        metadata={
            "description": "Why the fix was dropped: the fix filter's reason (only when one "
            "was dropped). Final: the same fix sent again is dropped again."
        },
    )


class FeedArgs(StreamTicketArgs):
    """`max_seconds` ends the stream (tests, polling clients); `bbox` limits positions."""

    max_seconds = Float(load_default=None, validate=validate.Range(0, 86_400))
    bbox = BBoxField(
        metadata={
            "description": "A viewport west,south,east,north (WGS-84 degrees): `position` "
            "events (and the opening positions) only of vehicles inside it"
        },
    )


@blp.route("/vehicles")
@requires(Action.TRACKING_READ)
@blp.arguments(DatumArgs, location="query")
@blp.doc(responses={"200": json_response(GEOJSON_COLLECTION, "Vehicles as GeoJSON points")})
def live_vehicles(args: dict[str, Any]) -> Any:
    """List visible vehicles with their current position and state (GeoJSON)."""
    actor = current_actor()
    return service.live_vehicles(session=request_session(), actor=actor, datum=Datum(args["datum"]))


@blp.route("/vehicles/<int:vehicle_id>/track")
@requires(Action.TRACKING_READ)
@blp.arguments(TrackArgs, location="query")
@blp.doc(responses={"200": json_response(GEOJSON_COLLECTION, "The track line and its fixes")})
def vehicle_track(args: dict[str, Any], vehicle_id: int) -> Any:
    """Return a vehicle's track for a time window as GeoJSON (optionally in GCJ-02)."""
    until = args["until"] or datetime.now(UTC)
    since = args["since"] or until - timedelta(hours=1)
    return service.track(
        session=request_session(),
        actor=current_actor(),
        vehicle_id=vehicle_id,
        since=since,
        until=until,
        datum=Datum(args["datum"]),
    )


@blp.route("/nearest")
@requires(Action.TRACKING_READ)
@blp.arguments(NearestArgs, location="query")
@blp.response(200, NearestSchema)
def nearest_vehicles(args: dict[str, Any]) -> Any:
    """Rank free vehicles of a specialty by distance, with an ETA estimate."""
    found = nearest.nearest_free_vehicles(session=request_session(), actor=current_actor(), **args)
    return {"candidates": [c.as_dict() for c in found]}


@blp.route("/feed")
@requires(Action.TRACKING_READ, stream=True)
@blp.arguments(FeedArgs, location="query")
@blp.doc(
    responses={"200": event_stream_response("Live map events", [e.value for e in FEED_EVENTS])}
)
@blp.alt_response(429, description=STREAMS_AT_CAP)
def live_feed(args: dict[str, Any]) -> Response:
    """Stream positions, vehicle states, order changes, alerts and outages (text/event-stream).

    Resumes order and outage events after `Last-Event-ID` (the `id` of the last
    `order`/`order_event`/`outage`).
    """
    session, actor = request_session(), current_actor()
    last = request.headers.get("Last-Event-ID")
    resume_after = None if last is None else FeedCursor.parse(last)
    if last is not None and resume_after is None:
        raise BadRequest("Last-Event-ID must be the `id` of an order or outage event of this feed.")

    types = feed_events_for(actor)

    def catch_up(departments: frozenset[int]) -> list[LiveEvent]:
        found = backlog.positions(session, departments, args.get("bbox"))
        if EventType.ALERT in types:
            found += backlog.alerts(session, departments)
        if resume_after is not None:
            missed = backlog.order_changes(session, departments, after=resume_after)
            found += [event for event in missed if event.type in types]
        return found

    return event_stream(
        session,
        actor,
        Action.TRACKING_READ,
        types,
        catch_up,
        max_seconds=args["max_seconds"],
        id_types=RESUMABLE,
        bbox=args.get("bbox"),
    )


@blp.route("/metrics")
@requires(Action.METRICS_READ)
@blp.doc(responses={"200": text_response("text/plain", "Prometheus text exposition format")})
def metrics() -> Response:
    """Return the ingest counters (stored, duplicates, each filter) in Prometheus format."""
    return Response(service.metrics_text(request_session()), mimetype="text/plain")


@blp.route("/osmand", methods=["GET", "POST"])
@writes_on_get
@blp.doc(security=[])
@blp.response(200, IngestReplySchema)
def osmand() -> Any:
    """Accept an OsmAnd / Traccar Client fix; the device authenticates with its secret.

    The secret comes as HTTP Basic auth (username = device identifier) or a `key` parameter.
    """
    ingest: service.HttpIngest = current_app.extensions.setdefault(
        "fieldline.http_ingest", service.HttpIngest(arrival_rules(current_app.config))
    )
    identifier, secret = _device_credentials()
    # A secret not recently seen good is a guess until checked: it is charged to the login
    # throttle first (committed before this request's session opens).
    remembered = ingest.devices.remembers(identifier, secret)
    charged = None if remembered else issuing.charge_attempt("device", identifier)
    session = request_session()
    device = ingest.devices.check(session, identifier, secret)
    if charged:
        issuing.settle_attempt(session, charged)
    fix: Any
    try:
        if request.is_json:
            fix, source = decode_traccar_json(request.get_data()), PositionSource.TRACCAR
        else:
            params = {**request.args.to_dict(), **request.form.to_dict()}
            params.pop("key", None)
            fix, source = decode_osmand(params), PositionSource.OSMAND
    except DecodeError as exc:
        fix, source = exc, PositionSource.OSMAND
    if isinstance(fix, DecodeError):
        where = "json" if request.is_json else "query"
        raise field_error(fix.field or "_", f"The fix was rejected: {fix}.", where)
    report = ingest.ingest(session=session, device=device, fix=fix, source=source)
    return ingest_reply(report)


def ingest_reply(report: BatchReport) -> dict[str, Any]:
    """Say what became of the fix: still 200 when dropped, so the terminal does not resend it."""
    reply: dict[str, Any] = {"stored": report.stored}
    if report.dropped:
        reply["dropped"] = report.dropped.total()
        reply["reason"] = report.dropped.most_common(1)[0][0]
    return reply


def _device_credentials() -> tuple[str, str]:
    auth = request.authorization
    if auth is not None and auth.username and auth.password:
        return auth.username, auth.password
    # OsmAnd and Traccar Client send the fields in the query or as a form-encoded body.
    fields = {**request.args.to_dict(), **request.form.to_dict()}
    identifier = fields.get("id") or fields.get("deviceid")
    if identifier is None and request.is_json:
        body = request.get_json(silent=True)
        identifier = body.get("device_id") if isinstance(body, dict) else None
        check_text({"device_id": identifier}, "json")  # a name the login and throttle store
    secret = fields.get("key")
    if not isinstance(identifier, str) or not identifier or not secret:  # JSON: any type
        raise Unauthorized("Send the device identifier and secret (Basic auth or `key`).")
    return identifier, secret
