"""HTTP endpoints of offline sync (a flask-smorest blueprint; no backend imports).

The blob endpoints are `sync.blobs.http`; both share the helpers here.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast

import orjson
from flask import Response, current_app, g, json, request
from flask_smorest import Blueprint, Page
from sqlalchemy import func, select

from sync import store
from sync.blobs.storage import BlobStorage, LocalBlobStorage
from sync.merge import Resolution
from sync.protocol import ProtocolError, parse_push
from sync.registry import SyncActor, SyncHooks, registry
from sync.schemas import (
    ConflictQuerySchema,
    ConflictSchema,
    PullPageSchema,
    PullQuerySchema,
    PushReplySchema,
    PushRequestSchema,
    ResolveSchema,
)

blp = Blueprint(
    "sync", __name__, url_prefix="/api/v1", description="Offline sync: push, pull, conflicts."
)

PROBLEM = "application/problem+json"
F = TypeVar("F", bound=Callable[..., Any])


def typed(decorator: Any) -> Callable[[F], F]:
    """Keep a view's signature through flask-smorest's untyped decorators."""
    return cast(Callable[[F], F], decorator)


def _problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    return Response(json.dumps({**body, **extra}), status=status, mimetype=PROBLEM)


@typed(blp.errorhandler(store.SyncError))
def render_sync_error(exc: store.SyncError) -> Response:
    """Render a sync or blob error as RFC 9457 problem+json."""
    return _problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)


@typed(blp.errorhandler(ProtocolError))
def _protocol_error(exc: ProtocolError) -> Response:
    errors = [
        {"field": path, "in": "body", "messages": messages}
        for path, messages in sorted(exc.field_errors.items())
    ]
    return _problem(
        422,
        exc.type,
        exc.title,
        "The push does not follow the sync contract; nothing was applied.",
        errors=errors,
    )


def _hooks() -> SyncHooks:
    if registry.hooks is None:  # pragma: no cover - create_app always registers them
        raise RuntimeError("sync hooks are not registered")
    return registry.hooks


def context() -> tuple[Any, SyncActor]:
    """Return this request's session and caller (authenticated once per request)."""
    hooks = _hooks()
    actor: SyncActor | None = g.get("sync_actor")
    if actor is None:
        actor = g.sync_actor = hooks.actor()
    return hooks.session(), actor


@typed(blp.before_request)
def authenticate() -> None:
    """Authenticate before any argument is validated: an anonymous caller learns nothing."""
    context()


class QueryPage(Page):  # type: ignore[misc]
    """flask-smorest pagination (`page`, `page_size`, `X-Pagination`) over a `select()`."""

    @property
    def items(self) -> list[Any]:
        first = self.page_params.first_item
        if first > 2**31:  # no table holds that many rows; the drivers refuse such offsets
            return []
        statement = self.collection.offset(first).limit(self.page_params.page_size)
        return list(_hooks().session().scalars(statement))

    @property
    def item_count(self) -> int:
        count = select(func.count()).select_from(self.collection.order_by(None).subquery())
        return int(_hooks().session().scalar(count) or 0)


def blob_storage() -> BlobStorage:
    """Return the app's blob storage (a local directory under BLOB_DIR unless replaced)."""
    storage: BlobStorage | None = current_app.extensions.get("fieldline.blobs")
    if storage is None:
        storage = LocalBlobStorage(current_app.config["BLOB_DIR"])
        current_app.extensions["fieldline.blobs"] = storage
    return storage


def _json_reply(body: dict[str, object]) -> Response:
    """Return a JSON reply built by the store, as the documented schema describes it.

    The push and pull bodies are plain JSON values already (`to_wire`), so they skip the
    schema's dump: on a page of 1,000 changes that dump cost more than the queries.
    `tests/sync/test_wire.py` checks that the replies validate against the schemas.
    orjson writes them (keys sorted, as Flask's encoder does, UTF-8 instead of ASCII
    escapes); what it cannot write (an integer past 64 bits, a Decimal) falls back to Flask's.
    """
    try:
        text: bytes | str = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        text = current_app.json.dumps(body)
    return Response(text, mimetype="application/json")


PUSH_BODY = {"content": {"application/json": {"schema": PushRequestSchema}}}


@typed(blp.route("/sync/push", methods=["POST"]))
@typed(blp.doc(summary="Push a batch of mutations", requestBody=PUSH_BODY))
@typed(blp.response(200, PushReplySchema))
@typed(
    blp.alt_response(422, description="Malformed batch (`sync-protocol-error`), nothing applied")
)
def push() -> Response:
    """Apply a batch atomically; one verdict per mutation (replays are idempotent)."""
    session, actor = context()
    batch = parse_push(request.get_json(silent=True))
    now = datetime.now(UTC)
    return _json_reply(store.push(session, actor, batch, registry=registry, now=now).to_wire())


@typed(blp.route("/sync/pull", methods=["GET"]))
@typed(blp.arguments(PullQuerySchema, location="query", as_kwargs=True))
@typed(blp.response(200, PullPageSchema))
@typed(blp.alt_response(400, description="Invalid cursor"))
def pull(cursor: str | None = None, limit: int = 200) -> Response:
    """Return changes in your scope after `cursor` (tombstones and scope leaves included)."""
    session, actor = context()
    position = store.Cursor.decode(cursor)
    page = store.pull(session, actor, registry=registry, cursor=position, limit=limit)
    return _json_reply(page.to_wire())


@typed(blp.route("/sync/conflicts", methods=["GET"]))
@typed(blp.arguments(ConflictQuerySchema, location="query", as_kwargs=True))
@typed(blp.response(200, ConflictSchema(many=True)))
@typed(blp.paginate(QueryPage))
def list_conflicts(status: str | None = None, record_id: uuid.UUID | None = None) -> Any:
    """List queued conflicts in your scope, oldest first (`status=open|resolved`, `record_id`)."""
    _session, actor = context()
    return store.conflicts_query(actor, status=status, record_id=record_id)


@typed(blp.route("/sync/conflicts/<int:conflict_id>", methods=["GET"]))
@typed(blp.response(200, ConflictSchema))
@typed(blp.alt_response(404, description="No such conflict in your scope"))
def get_conflict(conflict_id: int) -> Any:
    """Show one conflict with the server and client values."""
    session, actor = context()
    return store.get_conflict(session, actor, conflict_id)


def _resolver_first(view: F) -> F:
    """Refuse a caller who may not resolve the conflict before its body is parsed (below)."""

    @wraps(view)
    def checked(*args: Any, conflict_id: int, **kwargs: Any) -> Any:
        session, actor = context()
        store.may_resolve(session, actor, conflict_id)
        return view(*args, conflict_id=conflict_id, **kwargs)

    return cast(F, checked)


@typed(blp.route("/sync/conflicts/<int:conflict_id>/resolve", methods=["POST"]))
@_resolver_first
@typed(blp.arguments(ResolveSchema))
@typed(blp.response(200, ConflictSchema))
@typed(blp.alt_response(403, description="Only dispatchers resolve conflicts"))
@typed(blp.alt_response(404, description="No such conflict in your scope"))
@typed(blp.alt_response(409, description="Already resolved, or the record changed or is gone"))
def resolve_conflict(body: dict[str, Any], conflict_id: int) -> Any:
    """Resolve a conflict: `take_server`, `take_client` or `edit` with `value`; audited."""
    session, actor = context()
    return store.resolve(
        session,
        actor,
        registry=registry,
        conflict_id=conflict_id,
        resolution=Resolution(body["resolution"]),
        value=body.get("value"),
        now=datetime.now(UTC),
    )
