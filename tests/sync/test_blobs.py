"""Blob uploads: chunks and resume, hash check, dedupe, limits, EXIF, pending references, GC."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from datetime import UTC, datetime, timedelta

from PIL import Image
from sqlalchemy import select

from sync.blobs import service as blobs
from sync.registry import registry
from sync.store import BlobRecord, BlobUpload
from tests.sync.helpers import batch, mutation


def jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (640, 480), (200, 120, 40))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2026:11:20 08:30:00"
    exif.get_ifd(0x8769)[36881] = "+08:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (30.0, 15.0, 0.0)
    gps[3], gps[4] = "E", (120.0, 9.0, 0.0)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=70)
    return out.getvalue() + os.urandom(16)  # unique per test run


def test_upload_survives_a_dropped_connection_and_extracts_exif(make_client, http):
    client = make_client("H-1001")
    data = jpeg_with_exif()
    sha = hashlib.sha256(data).hexdigest()
    assert client.upload(data, "image/jpeg", chunk_size=4096, max_chunks=1) == sha
    head = http("H-1001").request("HEAD", f"/api/v1/blobs/{sha}")
    assert head.headers["upload-offset"] == "4096"
    assert client.resume_uploads(chunk_size=4096) == [sha]
    info = http("H-1001").request("GET", f"/api/v1/blobs/{sha}").body
    assert info["complete"] and info["offset"] == len(data)
    assert info["taken_at"] == "2026-11-20T00:30:00Z"
    assert abs(info["lat"] - 30.25) < 1e-6 and abs(info["lon"] - 120.15) < 1e-6
    assert info["thumbnail"] is True
    # Uploading the same bytes again is deduplicated: one PUT, complete at once.
    again = http("H-1001").request("PUT", f"/api/v1/blobs/{sha}", data=data,
                                   headers={"Content-Type": "image/jpeg"})  # fmt: skip
    assert again.status == 200 and again.body["complete"]


def broken_png() -> bytes:
    """A PNG whose second image-data chunk has a zeroed type: Pillow fails mid-decode."""
    import struct
    import zlib

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 20, 30)).save(out, "PNG")
    data, position, broken = out.getvalue(), 8, out.getvalue()[:8]

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IDAT":
            broken += chunk(b"IDAT", body[: length // 2]) + chunk(b"\0\0\0\0", body[length // 2 :])
        else:
            broken += chunk(kind, body)
    return broken + os.urandom(16)


def test_an_image_the_decoder_fails_on_is_stored_without_metadata(http):
    device = http("H-1001")
    data = broken_png()
    sha = hashlib.sha256(data).hexdigest()
    stored = device.request("PUT", f"/api/v1/blobs/{sha}", data=data,
                            headers={"Content-Type": "image/png"})  # fmt: skip
    assert stored.status == 200 and stored.body["complete"], stored.body
    info = device.request("GET", f"/api/v1/blobs/{sha}").body
    assert info["thumbnail"] is False and info["taken_at"] is None
    content = device.request("GET", f"/api/v1/blobs/{sha}/content")
    assert content.status == 200
    assert "immutable" in content.headers["cache-control"]  # no document: cached for good


def test_a_truncated_photo_keeps_its_exif_without_a_thumbnail(http):
    """The EXIF block comes before the pixels: a photo cut short keeps its time and place."""
    whole = jpeg_with_exif()
    data = whole[: len(whole) // 2]
    sha = hashlib.sha256(data).hexdigest()
    stored = http("H-1001").request("PUT", f"/api/v1/blobs/{sha}", data=data,
                                    headers={"Content-Type": "image/jpeg"})  # fmt: skip
    assert stored.status == 200, stored.body
    info = http("H-1001").request("GET", f"/api/v1/blobs/{sha}").body
    assert info["thumbnail"] is False and info["taken_at"] == "2026-11-20T00:30:00Z"
    assert abs(info["lat"] - 30.25) < 1e-6


def test_a_thumbnail_the_store_refuses_leaves_the_blob_stored(http, sync_app, monkeypatch):
    """The bytes are verified and in place: a full store refusing the thumbnail costs only it."""
    from sync.blobs.storage import StorageFull

    storage = sync_app.extensions["fieldline.blobs"]
    write = storage.write

    def full_for_thumbnails(name: str, data: bytes) -> None:
        if name.endswith(".thumb.jpg"):
            raise StorageFull("no space left")
        write(name, data)

    monkeypatch.setattr(storage, "write", full_for_thumbnails)
    data = jpeg_with_exif()
    sha = hashlib.sha256(data).hexdigest()
    stored = http("H-1001").request("PUT", f"/api/v1/blobs/{sha}", data=data,
                                    headers={"Content-Type": "image/jpeg"})  # fmt: skip
    assert stored.status == 200 and stored.body["complete"], stored.body
    info = http("H-1001").request("GET", f"/api/v1/blobs/{sha}").body
    assert info["thumbnail"] is False and info["taken_at"] == "2026-11-20T00:30:00Z"


def test_wrong_hash_is_refused_and_the_upload_starts_over(http):
    device = http("H-1001")
    data = os.urandom(1000)
    wrong = hashlib.sha256(b"something else" + data).hexdigest()
    reply = device.request("PUT", f"/api/v1/blobs/{wrong}", data=data,
                           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert reply.status == 422 and reply.body["type"] == "/problems/blob-hash-mismatch"
    assert reply.body["offset"] == 0
    head = device.request("HEAD", f"/api/v1/blobs/{wrong}")
    assert head.status == 404 or head.headers["upload-offset"] == "0"


def test_chunks_out_of_range_and_oversized_or_unknown_types_are_refused(http):
    device = http("H-1001")
    data = os.urandom(2000)
    sha = hashlib.sha256(data).hexdigest()
    octet = {"Content-Type": "application/octet-stream"}
    first = device.request("PUT", f"/api/v1/blobs/{sha}", data=data[:1000],
                           headers={**octet, "Content-Range": "bytes 0-999/2000"})  # fmt: skip
    assert first.status == 200 and first.body["offset"] == 1000
    gap = device.request("PUT", f"/api/v1/blobs/{sha}", data=data[1500:],
                         headers={**octet, "Content-Range": "bytes 1500-1999/2000"})  # fmt: skip
    assert gap.status == 416 and gap.body["offset"] == 1000
    beyond = device.request("PUT", f"/api/v1/blobs/{sha}", data=data[1000:] + b"x",
                            headers={**octet, "Content-Range": "bytes 1000-2000/2000"})  # fmt: skip
    assert beyond.status == 416
    # A resent overlap is skipped, not written twice.
    rest = device.request("PUT", f"/api/v1/blobs/{sha}", data=data[500:],
                          headers={**octet, "Content-Range": "bytes 500-1999/2000"})  # fmt: skip
    assert rest.status == 200 and rest.body["complete"], rest.body
    big = device.request("PUT", f"/api/v1/blobs/{'0' * 64}?offset=0&total={11 * 1024 * 1024}",
                         data=b"x", headers=octet)  # fmt: skip
    assert big.status == 413 and big.body["type"] == "/problems/blob-too-large"
    odd = device.request("PUT", f"/api/v1/blobs/{'1' * 64}", data=b"x",
                         headers={"Content-Type": "application/x-msdownload"})  # fmt: skip
    assert odd.status == 415


def test_a_photo_may_reference_a_blob_that_arrives_later(http, make_client):
    device = make_client("H-1001")
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    photo = mutation("photo", "append", {"sha256": sha, "caption": "meter box"})
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=batch(photo))
    assert reply.body["verdicts"][0]["verdict"] == "applied"
    reply = http("H-1001").request("GET", "/api/v1/sync/pull?limit=1000&cursor="
                                   + device._meta("cursor"))  # fmt: skip
    [entry] = [c for c in reply.body["changes"] if c["id"] == photo["id"]]
    assert entry["blobs"] == {sha: "pending"}
    device.upload(data, "application/octet-stream")
    reply = http("H-1001").request("GET", "/api/v1/sync/pull?limit=1000&cursor="
                                   + device._meta("cursor"))  # fmt: skip
    # The photo moved to a new version when its blob arrived: the pull says it is stored.
    [entry] = [c for c in reply.body["changes"] if c["id"] == photo["id"]]
    assert entry["blobs"] == {sha: "stored"}
    assert http("H-1001").request("GET", f"/api/v1/blobs/{sha}").body["complete"]


def test_gc_never_deletes_a_referenced_blob(http, sync_app, committed_db):
    device = http("H-1001")
    kept, dropped = os.urandom(500), os.urandom(500)
    for data in (kept, dropped):
        sha = hashlib.sha256(data).hexdigest()
        device.request("PUT", f"/api/v1/blobs/{sha}", data=data,
                       headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    kept_sha, dropped_sha = (hashlib.sha256(d).hexdigest() for d in (kept, dropped))
    photo = mutation("photo", "append", {"sha256": kept_sha})
    device.request("POST", "/api/v1/sync/push", json_body=batch(photo))
    storage = sync_app.extensions["fieldline.blobs"]
    later = datetime.now(UTC) + timedelta(days=30)
    with committed_db.unit_of_work() as session:
        deleted = blobs.collect_garbage(session, registry, now=later)
    blobs.remove_files(storage, deleted)  # after the commit
    assert dropped_sha in deleted and kept_sha not in deleted
    with committed_db.unit_of_work() as session:
        assert session.get(BlobRecord, kept_sha) is not None
        assert session.get(BlobRecord, dropped_sha) is None
    assert storage.exists(kept_sha) and not storage.exists(dropped_sha)
    assert uuid.UUID(photo["id"])


def test_gc_collects_stale_unfinished_uploads_and_their_bytes(http, sync_app, committed_db):
    data = os.urandom(600)
    sha = hashlib.sha256(data).hexdigest()
    device = http("H-1001")
    reply = device.request("PUT", f"/api/v1/blobs/{sha}", data=data[:100],
                           headers={"Content-Type": "application/octet-stream",
                                    "Content-Range": "bytes 0-99/600"})  # fmt: skip
    assert reply.status == 200 and reply.body["offset"] == 100
    storage = sync_app.extensions["fieldline.blobs"]
    with committed_db.unit_of_work() as session:
        [upload] = session.scalars(select(BlobUpload).where(BlobUpload.sha256 == sha)).all()
        partial = upload.partial
    assert storage.partial_size(partial) == 100
    with committed_db.unit_of_work() as session:
        deleted = blobs.collect_garbage(
            session, registry, now=datetime.now(UTC) + timedelta(days=30)
        )
    blobs.remove_files(storage, deleted)
    assert partial in deleted and storage.partial_size(partial) == 0
    assert device.request("HEAD", f"/api/v1/blobs/{sha}").status == 404
