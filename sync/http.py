"""HTTP endpoints of offline sync and blobs (a flask-smorest blueprint; no backend imports)."""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from flask import Response, current_app, g, json, request
from flask.views import MethodView
from flask_smorest import Blueprint, Page
from sqlalchemy import func, select

from sync import store
from sync.blobs import service as blobs
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

blp = Blueprint("sync", __name__, url_prefix="/api/v1", description="Offline sync and blobs.")

PROBLEM = "application/problem+json"
BINARY = {"schema": {"type": "string", "format": "binary"}}
F = TypeVar("F", bound=Callable[..., Any])


def _typed(decorator: Any) -> Callable[[F], F]:
    """Keep a view's signature through flask-smorest's untyped decorators."""
    return cast(Callable[[F], F], decorator)


def _problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    return Response(json.dumps({**body, **extra}), status=status, mimetype=PROBLEM)


@_typed(blp.errorhandler(store.SyncError))
def _sync_error(exc: store.SyncError) -> Response:
    return _problem(exc.status, exc.slug, exc.title, exc.detail, **exc.extra)


@_typed(blp.errorhandler(ProtocolError))
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


def _context() -> tuple[Any, SyncActor]:
    """Return this request's session and caller (authenticated once per request)."""
    hooks = _hooks()
    actor: SyncActor | None = g.get("sync_actor")
    if actor is None:
        actor = g.sync_actor = hooks.actor()
    return hooks.session(), actor


@_typed(blp.before_request)
def _authenticate() -> None:
    """Authenticate before any argument is validated: an anonymous caller learns nothing."""
    _context()


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


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise store.SyncError(400, "bad-request", "Bad request", f"{name} must be an integer")
    return int(raw)


PUSH_BODY = {"content": {"application/json": {"schema": PushRequestSchema}}}


@_typed(blp.route("/sync/push", methods=["POST"]))
@_typed(blp.doc(summary="Push a batch of mutations", requestBody=PUSH_BODY))
@_typed(blp.response(200, PushReplySchema))
@_typed(
    blp.alt_response(422, description="Malformed batch (`sync-protocol-error`), nothing applied")
)
def push() -> dict[str, object]:
    """Apply a batch atomically; one verdict per mutation (replays are idempotent)."""
    session, actor = _context()
    batch = parse_push(request.get_json(silent=True))
    now = datetime.now(UTC)
    return store.push(session, actor, batch, registry=registry, now=now).to_wire()


@_typed(blp.route("/sync/pull", methods=["GET"]))
@_typed(blp.arguments(PullQuerySchema, location="query", as_kwargs=True))
@_typed(blp.response(200, PullPageSchema))
@_typed(blp.alt_response(400, description="Invalid cursor"))
def pull(cursor: str | None = None, limit: int = 200) -> dict[str, object]:
    """Return changes in your scope after `cursor` (tombstones and scope leaves included)."""
    session, actor = _context()
    position = store.Cursor.decode(cursor)
    page = store.pull(session, actor, registry=registry, cursor=position, limit=limit)
    return page.to_wire()


@_typed(blp.route("/sync/conflicts", methods=["GET"]))
@_typed(blp.arguments(ConflictQuerySchema, location="query", as_kwargs=True))
@_typed(blp.response(200, ConflictSchema(many=True)))
@_typed(blp.paginate(QueryPage))
def list_conflicts(status: str | None = None, record_id: uuid.UUID | None = None) -> Any:
    """List queued conflicts in your scope, oldest first (`status=open|resolved`, `record_id`)."""
    _session, actor = _context()
    return store.conflicts_query(actor, status=status, record_id=record_id)


@_typed(blp.route("/sync/conflicts/<int:conflict_id>", methods=["GET"]))
@_typed(blp.response(200, ConflictSchema))
@_typed(blp.alt_response(404, description="No such conflict in your scope"))
def get_conflict(conflict_id: int) -> Any:
    """Show one conflict with the server and client values."""
    session, actor = _context()
    return store.get_conflict(session, actor, conflict_id)


@_typed(blp.route("/sync/conflicts/<int:conflict_id>/resolve", methods=["POST"]))
@_typed(blp.arguments(ResolveSchema))
@_typed(blp.response(200, ConflictSchema))
@_typed(blp.alt_response(403, description="Only dispatchers resolve conflicts"))
@_typed(blp.alt_response(404, description="No such conflict in your scope"))
@_typed(blp.alt_response(409, description="Already resolved, or the record changed or is gone"))
def resolve_conflict(body: dict[str, Any], conflict_id: int) -> Any:
    """Resolve a conflict: `take_server`, `take_client` or `edit` with `value`; audited."""
    session, actor = _context()
    return store.resolve(
        session,
        actor,
        registry=registry,
        conflict_id=conflict_id,
        resolution=Resolution(body["resolution"]),
        value=body.get("value"),
        now=datetime.now(UTC),
    )


def _chunk() -> blobs.Chunk:
    data = request.get_data(cache=False)
    header = request.headers.get("Content-Range")
    if header:
        parts = header.replace("bytes ", "").replace("/", "-").split("-")
        if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
            raise store.SyncError(
                400,
                "bad-request",
                "Bad Content-Range",
                "use Content-Range: bytes <first>-<last>/<total>",
            )
        first, last, total = (int(p) for p in parts)
        if last - first + 1 != len(data):
            raise store.SyncError(
                400,
                "bad-request",
                "Bad Content-Range",
                f"the range names {last - first + 1} bytes, the body has {len(data)}",
            )
        return blobs.Chunk(first, total, data)
    return blobs.Chunk(_int_arg("offset", 0), _int_arg("total", len(data)), data)


@_typed(blp.route("/blobs/<sha256>"))
class BlobView(MethodView):
    """One content-addressed blob."""

    @_typed(blp.response(200))
    @_typed(blp.doc(requestBody={"content": {"application/octet-stream": BINARY}}))
    def put(self, sha256: str) -> dict[str, object]:
        """Upload a chunk (Content-Range, or offset/total parameters); resumable."""
        session, actor = _context()
        if not actor.can_upload:
            raise store.SyncError(403, "forbidden", "Forbidden", "your role may not upload blobs")
        media_type = request.args.get("type") or request.mimetype or "application/octet-stream"
        storage = blob_storage()
        blob = blobs.put_chunk(
            session,
            storage,
            sha256=sha256,
            media_type=media_type,
            chunk=_chunk(),
            uploader=actor.name,
            now=datetime.now(UTC),
        )
        return _blob_wire(storage, blob)

    @_typed(blp.response(200))
    def head(self, sha256: str) -> Response:
        """Tell how many bytes are stored (`Upload-Offset`) and whether the blob is complete."""
        session, _actor = _context()
        blob = session.get(store.BlobRecord, blobs.check_sha(sha256))
        if blob is None:
            return Response(status=404, headers={"Upload-Offset": "0"})
        offset = blobs.stored_offset(blob_storage(), blob)
        return Response(
            status=200,
            headers={
                "Upload-Offset": str(offset),
                "Upload-Length": str(blob.size),
                "Blob-Complete": str(blob.complete).lower(),
            },
        )

    @_typed(blp.response(200))
    def get(self, sha256: str) -> dict[str, object]:
        """Show a blob's upload state and extracted EXIF time and position."""
        session, _actor = _context()
        blob = session.get(store.BlobRecord, blobs.check_sha(sha256))
        if blob is None:
            raise store.SyncError(404, "not-found", "Not found", f"no blob {sha256}")
        return _blob_wire(blob_storage(), blob)


def _blob_wire(storage: BlobStorage, blob: store.BlobRecord) -> dict[str, object]:
    return {
        "sha256": blob.sha256,
        "media_type": blob.media_type,
        "size": blob.size,
        "offset": blobs.stored_offset(storage, blob),
        "complete": blob.complete,
        "taken_at": store.to_wire(blob.taken_at),
        "lat": blob.lat,
        "lon": blob.lon,
        "thumbnail": blob.has_thumbnail,
    }
