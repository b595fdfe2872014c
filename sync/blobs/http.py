"""HTTP endpoints of blobs: resumable upload, state, and the scoped original and thumbnail.

A blob exists for a caller only when it may read a record that references it (or uploaded the
bytes itself); otherwise every endpoint answers 404, so a hash reveals nothing. Bytes are
immutable (content-addressed): ETag is the hash, cached privately for a year, byte ranges
and `If-None-Match` supported.
"""

import io
from datetime import UTC, datetime
from typing import Any

from flask import Response, request, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from sync.blobs import service as blobs
from sync.blobs.images import THUMBNAIL_TYPE, thumbnail_name
from sync.blobs.scope import may_read, note_read
from sync.http import authenticate, blob_storage, context, render_sync_error, typed
from sync.registry import registry
from sync.schemas import BlobSchema, BlobUploadQuerySchema
from sync.store import SyncError
from sync.wire import ascii_int

blp = Blueprint(
    "blobs",
    __name__,
    url_prefix="/api/v1",
    description="Content-addressed blobs (photos, documents), readable by whoever may read a "
    "record referencing them.",
)
blp.errorhandler(SyncError)(render_sync_error)
blp.before_request(authenticate)

BINARY = {"schema": {"type": "string", "format": "binary"}}
IMMUTABLE = 365 * 24 * 3600
UPLOAD_HEADERS = {
    "Upload-Offset": {"description": "Bytes of your upload stored (resume here).",
                      "schema": {"type": "integer"}},
    "Upload-Length": {"description": "The blob's size.", "schema": {"type": "integer"}},
    "Blob-Complete": {"description": "`true` once the verified blob is stored.",
                      "schema": {"type": "string", "enum": ["true", "false"]}},
}  # fmt: skip
BYTES_HEADERS = {
    "ETag": {"description": "The SHA-256 (quoted).", "schema": {"type": "string"}},
    "Cache-Control": {"schema": {"type": "string"}},
    "Accept-Ranges": {"schema": {"type": "string"}},
}


def _doc_bytes(what: str, types: list[str]) -> dict[str, Any]:
    content = dict.fromkeys(types, BINARY)
    return {
        "200": {"description": what, "content": content, "headers": BYTES_HEADERS},
        "206": {"description": "The requested byte range", "content": content},
        "304": {"description": "Not modified (`If-None-Match` matched)"},
        "404": {"description": "No such blob you may read"},
        "416": {"description": "Range not satisfiable"},
    }


def _chunk(offset: int | None, total: int | None) -> blobs.Chunk:
    data = request.get_data(cache=False)
    header = request.headers.get("Content-Range")
    if header:
        span, _, size_text = header.strip().removeprefix("bytes ").partition("/")
        first_text, _, last_text = span.partition("-")
        parts = [ascii_int(p.strip()) for p in (first_text, last_text, size_text)]
        if None in parts:
            raise SyncError(
                400,
                "bad-request",
                "Bad Content-Range",
                "use Content-Range: bytes <first>-<last>/<total>",
            )
        first, last, size = (p or 0 for p in parts)  # all present: checked above
        if last - first + 1 != len(data):
            raise SyncError(
                400,
                "bad-request",
                "Bad Content-Range",
                f"the range names {last - first + 1} bytes, the body has {len(data)}",
            )
        return blobs.Chunk(first, size, data)
    return blobs.Chunk(offset or 0, len(data) if total is None else total, data)


def _readable(sha256: str) -> bool:
    session, actor = context()
    return may_read(session, actor, registry, blobs.check_sha(sha256))


def _state(sha256: str) -> blobs.BlobState:
    session, actor = context()
    state = blobs.state_of(session, blob_storage(), actor, sha256, readable=_readable(sha256))
    if state is None:
        raise SyncError(404, "not-found", "Not found", f"no blob {sha256} you may read")
    return state


def _served(sha256: str) -> tuple[blobs.BlobState, bool]:
    """Return the state of a blob whose bytes are about to be sent, and whether it logged.

    A logged read (`note_read`) must reach the server again next time: no cache answers it.
    """
    state = _state(sha256)
    if state.blob is None:
        return state, False
    session, actor = context()
    return state, note_read(session, actor, registry, state.sha256)


@blp.route("/blobs/<sha256>")
class BlobView(MethodView):
    """One content-addressed blob."""

    @typed(blp.arguments(BlobUploadQuerySchema, location="query", as_kwargs=True))
    @typed(blp.response(200, BlobSchema))
    @typed(blp.doc(requestBody={"content": dict.fromkeys(sorted(blobs.SIZE_LIMITS), BINARY)}))
    @typed(blp.alt_response(403, description="Your role may not upload (auditors)"))
    @typed(blp.alt_response(409, description="Your upload was started with another size"))
    @typed(blp.alt_response(413, description="Larger than the media type allows"))
    @typed(blp.alt_response(415, description="Media type not accepted"))
    @typed(blp.alt_response(416, description="Chunk does not continue your upload (`offset`)"))
    @typed(blp.alt_response(422, description="Bytes do not hash to the name; start again"))
    @typed(blp.alt_response(507, description="Blob storage full; resume from `offset` later"))
    def put(
        self, sha256: str, offset: int | None = None, total: int | None = None, **query: Any
    ) -> dict[str, object]:
        """Upload a chunk of your upload (Content-Range, or offset/total); resumable."""
        session, actor = context()
        media_type = query.get("type") or request.mimetype or "application/octet-stream"
        state = blobs.put_chunk(
            session,
            blob_storage(),
            registry,
            actor=actor,
            sha256=sha256,
            media_type=media_type,
            chunk=_chunk(offset, total),
            readable=_readable(sha256),
            now=datetime.now(UTC),
        )
        return state.to_wire()

    @typed(blp.doc(responses={"200": {"description": "Upload state", "headers": UPLOAD_HEADERS},
                              "404": {"description": "Nothing stored for you"}}))  # fmt: skip
    def head(self, sha256: str) -> Response:
        """Tell where your upload resumes (`Upload-Offset`) and whether the blob is stored."""
        session, actor = context()
        readable = _readable(sha256)
        state = blobs.state_of(session, blob_storage(), actor, sha256, readable=readable)
        if state is None:
            return Response(status=404, headers={"Upload-Offset": "0"})
        headers = {
            "Upload-Offset": str(state.offset),
            "Upload-Length": str(state.size),
            "Blob-Complete": str(state.complete).lower(),
        }
        return Response(status=200, headers=headers)

    @typed(blp.response(200, BlobSchema))
    @typed(blp.alt_response(404, description="No such blob you may read"))
    def get(self, sha256: str) -> dict[str, object]:
        """Show a blob's upload state and extracted EXIF time and position."""
        return _state(sha256).to_wire()


def send_blob(
    data: bytes, media_type: str, etag: str, filename: str, *, logged: bool = False
) -> Response:
    """Serve stored bytes: conditional, private, never run by a browser.

    Content-addressed, so cached for good, unless each read is `logged` (a customer file's
    document): then the browser revalidates every time (a 304 with the ETag), so every view
    reaches the read log and a destroyed document or an expired grant stops showing.
    """
    response = send_file(
        io.BytesIO(data), mimetype=media_type, conditional=True, etag=etag, max_age=None
    )
    response.cache_control.private = True
    if logged:
        response.cache_control.no_cache = True
    else:
        response.cache_control.no_cache = None
        response.cache_control.max_age = IMMUTABLE
        response.cache_control.immutable = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    inline = media_type.startswith("image/")
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


EXTENSIONS = {  # the file name's extension of a served media type
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "application/pdf": "pdf",
}


@typed(blp.route("/blobs/<sha256>/content", methods=["GET"]))
@typed(blp.doc(responses=_doc_bytes("The blob's bytes", sorted(blobs.SIZE_LIMITS))))
def content(sha256: str) -> Response:
    """Download a stored blob (its own media type; byte ranges and If-None-Match)."""
    state, logged = _served(sha256)
    if state.blob is None:
        raise SyncError(404, "not-found", "Not found", f"blob {sha256} has not arrived yet")
    extension = EXTENSIONS.get(state.media_type, "bin")
    data = blob_storage().read(state.sha256)
    name = f"{state.sha256}.{extension}"
    return send_blob(data, state.media_type, state.sha256, name, logged=logged)


@typed(blp.route("/blobs/<sha256>/thumbnail", methods=["GET"]))
@typed(blp.doc(responses=_doc_bytes("A JPEG of at most 320 px", [THUMBNAIL_TYPE])))
def thumbnail(sha256: str) -> Response:
    """Download the 320 px JPEG thumbnail of a stored image blob."""
    state, logged = _served(sha256)
    if state.blob is None or not state.blob.has_thumbnail:
        raise SyncError(404, "not-found", "Not found", f"blob {sha256} has no thumbnail")
    data = blob_storage().read(thumbnail_name(state.sha256))
    etag, name = f"{state.sha256}-thumb", f"{state.sha256}-thumb.jpg"
    return send_blob(data, THUMBNAIL_TYPE, etag, name, logged=logged)
