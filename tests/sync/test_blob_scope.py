"""Blobs are scoped by the records referencing them; uploads belong to their uploader."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import select

from backend.archive.models import Photo
from sync.registry import BlobReference, registry
from tests.archive.helpers import customer_body
from tests.sync.conftest import feed_end, token
from tests.sync.helpers import batch, mutation
from tests.sync.test_blobs import jpeg_with_exif

URBAN, URBAN_B, OTHER_CREW = "H-1001", "H-1001-B", "H-1002"
JPEG = {"Content-Type": "image/jpeg"}


def put(transport, data, *, sha=None, headers=None):
    sha = sha or hashlib.sha256(data).hexdigest()
    return transport.request("PUT", f"/api/v1/blobs/{sha}", data=data,
                             headers={**JPEG, **(headers or {})})  # fmt: skip


def photo_of(transport, sha, **fields):
    item = mutation("photo", "append", {"sha256": sha, **fields})
    reply = transport.request("POST", "/api/v1/sync/push", json_body=batch(item))
    assert reply.body["verdicts"][0]["verdict"] == "applied", reply.body
    return item


@pytest.fixture
def photo(http):
    """A JPEG uploaded by H-1001 and referenced by a photo record of its crew."""
    data = jpeg_with_exif()
    assert put(http(URBAN), data).status == 200
    sha = hashlib.sha256(data).hexdigest()
    photo_of(http(URBAN), sha, caption="meter box")
    return sha, data


@pytest.mark.parametrize("who", [URBAN, URBAN_B, "crew1", "dispatcher", "auditor"])
def test_whoever_may_read_a_referencing_record_reads_the_blob(http, photo, who):
    sha, data = photo
    reader = http(who)
    info = reader.request("GET", f"/api/v1/blobs/{sha}")
    assert info.status == 200 and info.body["complete"] and info.body["lat"] is not None
    assert reader.request("GET", f"/api/v1/blobs/{sha}/content").status == 200
    assert reader.request("GET", f"/api/v1/blobs/{sha}/thumbnail").status == 200
    head = reader.request("HEAD", f"/api/v1/blobs/{sha}")
    assert head.headers["blob-complete"] == "true"


@pytest.mark.parametrize("who", [OTHER_CREW, "crew3", "callcenter"])
def test_nobody_else_learns_anything_from_a_hash(http, photo, who):
    sha, _data = photo
    outsider = http(who)
    for path in ("", "/content", "/thumbnail"):
        reply = outsider.request("GET", f"/api/v1/blobs/{sha}{path}")
        assert reply.status == 404, (path, reply.body)
        assert "lat" not in (reply.body or {})
    assert outsider.request("HEAD", f"/api/v1/blobs/{sha}").status == 404


def test_the_original_and_thumbnail_are_served_with_immutable_private_caching(http, photo):
    sha, data = photo
    device = http(URBAN_B)
    original = device.client.get(f"/api/v1/blobs/{sha}/content",
                                 headers={"Authorization": f"Bearer {device.token}"})  # fmt: skip
    assert original.status_code == 200 and original.data == data
    assert original.headers["Content-Type"] == "image/jpeg"
    assert original.headers["ETag"] == f'"{sha}"'
    cache = original.headers["Cache-Control"]
    assert "private" in cache and "immutable" in cache and "max-age=31536000" in cache
    assert "public" not in cache and "no-cache" not in cache
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    auth = {"Authorization": f"Bearer {device.token}"}
    again = device.client.get(f"/api/v1/blobs/{sha}/content",
                              headers={**auth, "If-None-Match": f'"{sha}"'})  # fmt: skip
    assert again.status_code == 304
    part = device.client.get(f"/api/v1/blobs/{sha}/content", headers={**auth, "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.data == data[:10]
    assert part.headers["Content-Range"] == f"bytes 0-9/{len(data)}"
    thumb = device.client.get(f"/api/v1/blobs/{sha}/thumbnail", headers=auth)
    assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
    assert thumb.data[:2] == b"\xff\xd8" and len(thumb.data) < len(data)
    assert thumb.headers["ETag"] != original.headers["ETag"]


def test_a_squatted_pending_upload_never_blocks_the_real_one(http):
    data = os.urandom(5000)
    sha = hashlib.sha256(data).hexdigest()
    photo = photo_of(http(URBAN), sha)  # the record arrives before its blob
    squatter = http(OTHER_CREW)
    octet = {"Content-Type": "application/octet-stream"}
    first = squatter.request("PUT", f"/api/v1/blobs/{sha}", data=b"x",
                             headers={**octet, "Content-Range": "bytes 0-0/5000"})  # fmt: skip
    assert first.status == 200 and first.body["offset"] == 1 and not first.body["complete"]
    # The owner's HEAD shows its own (empty) upload, not the squatter's byte.
    assert http(URBAN).request("HEAD", f"/api/v1/blobs/{sha}").status == 404
    real = http(URBAN).request("PUT", f"/api/v1/blobs/{sha}", data=data, headers=octet)
    assert real.status == 200 and real.body["complete"], real.body
    # The squatter still sees only its own pending upload, nothing of the stored blob.
    mine = squatter.request("GET", f"/api/v1/blobs/{sha}")
    assert mine.status == 200 and (mine.body["complete"], mine.body["offset"]) == (False, 1)
    assert squatter.request("GET", f"/api/v1/blobs/{sha}/content").status == 404
    assert http(URBAN_B).request("GET", f"/api/v1/blobs/{sha}/content").status == 200
    assert photo["id"]


def test_stored_bytes_are_deduplicated_only_after_verification(http):
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    octet = {"Content-Type": "application/octet-stream"}
    assert (
        http(URBAN)
        .request("PUT", f"/api/v1/blobs/{sha}", data=data, headers=octet)
        .body["complete"]
    )
    other = http(OTHER_CREW)
    # Knowing the hash is not enough: the first byte alone does not complete anything.
    probe = other.request("PUT", f"/api/v1/blobs/{sha}", data=data[:1],
                          headers={**octet, "Content-Range": "bytes 0-0/3000"})  # fmt: skip
    assert probe.status == 200 and not probe.body["complete"]
    wrong = other.request("PUT", f"/api/v1/blobs/{sha}", data=os.urandom(2999),
                          headers={**octet, "Content-Range": "bytes 1-2999/3000"})  # fmt: skip
    assert wrong.status == 422 and wrong.body["type"] == "/problems/blob-hash-mismatch"
    assert other.request("GET", f"/api/v1/blobs/{sha}/content").status == 404
    # Sending the real bytes proves possession: deduplicated, and now readable.
    right = other.request("PUT", f"/api/v1/blobs/{sha}", data=data, headers=octet)
    assert right.status == 200 and right.body["complete"]
    got = other.request("GET", f"/api/v1/blobs/{sha}/content")
    assert got.status == 200


def test_the_auditor_may_not_upload(http):
    data = os.urandom(100)
    reply = http("auditor").request("PUT", f"/api/v1/blobs/{hashlib.sha256(data).hexdigest()}",
                                    data=data, headers={"Content-Type": "image/png"})  # fmt: skip
    assert reply.status == 403 and reply.headers["content-type"] == "application/problem+json"


def test_a_completed_blob_re_versions_the_photos_referencing_it(http, make_client, backend):
    device = make_client(URBAN)
    data = os.urandom(4000)
    sha = hashlib.sha256(data).hexdigest()
    item = photo_of(http(URBAN), sha, caption="pending first")
    cursor = feed_end(backend)  # after the photo's creation
    device.upload(data, "application/octet-stream")
    # An incremental pull of another device now carries the photo again, its blob stored.
    reply = http(URBAN_B).request("GET", f"/api/v1/sync/pull?limit=1000&cursor={cursor}")
    [entry] = [c for c in reply.body["changes"] if c["id"] == item["id"]]
    assert entry["blobs"] == {sha: "stored"} and entry["op"] == "upsert"
    assert entry["fields"]["caption"] == "pending first"


def test_other_tables_can_register_as_blob_references(http, committed_db):
    data = os.urandom(700)
    sha = hashlib.sha256(data).hexdigest()
    octet = {"Content-Type": "application/octet-stream"}
    assert (
        http(URBAN).request("PUT", f"/api/v1/blobs/{sha}", data=data, headers=octet).status == 200
    )
    archivist = http("archivist")
    assert archivist.request("GET", f"/api/v1/blobs/{sha}").status == 404
    reference = BlobReference(
        "test_archive_document",
        Photo.sha256,  # any column naming blobs; the reader decides who may read its rows
        lambda session, actor, blob: actor.name.endswith(":archivist") and blob == sha,
    )
    registry.add_blob_reference(reference)
    try:
        assert archivist.request("GET", f"/api/v1/blobs/{sha}/content").status == 200
    finally:
        del registry.blob_references[reference.name]
    assert archivist.request("GET", f"/api/v1/blobs/{sha}").status == 404
    with committed_db.unit_of_work() as session:
        assert session.scalars(select(Photo).where(Photo.sha256 == sha)).first() is None


def test_a_photo_of_an_order_is_readable_by_whoever_may_read_the_order(http, committed_db):
    from tests.sync.test_work_orders import _dispatched_order

    order_id = _dispatched_order(committed_db)  # taken by the call center, sent to Urban Crew 1
    data = os.urandom(900)
    sha = hashlib.sha256(data).hexdigest()
    octet = {"Content-Type": "application/octet-stream"}
    assert (
        http(URBAN).request("PUT", f"/api/v1/blobs/{sha}", data=data, headers=octet).status == 200
    )
    photo_of(http(URBAN), sha, order_id=order_id)
    # The call center sees the order (not the station's records): it sees the photo too.
    assert http("callcenter").request("GET", f"/api/v1/blobs/{sha}/content").status == 200
    assert http("crew3").request("GET", f"/api/v1/blobs/{sha}/content").status == 404
    assert http(OTHER_CREW).request("GET", f"/api/v1/blobs/{sha}").status == 404


def test_a_record_may_not_name_someone_elses_blob(http, photo, sync_app, backend):
    """Copying a hash into one's own record does not make someone else's photo readable."""
    sha, _data = photo
    item = mutation("photo", "append", {"sha256": sha, "caption": "mine now"})
    [verdict] = (
        http(OTHER_CREW)
        .request("POST", "/api/v1/sync/push", json_body=batch(item))
        .body["verdicts"]
    )
    assert verdict["problem"]["type"] == "sync-out-of-scope", verdict
    assert "upload it yourself" in verdict["problem"]["detail"]
    assert http(OTHER_CREW).request("GET", f"/api/v1/blobs/{sha}").status == 404
    # Nor through an archive document (REST): the archivist may not read the crew's photo.
    archivist = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    client = sync_app.test_client()
    created = client.post("/api/v1/customers", json=customer_body(), headers=archivist)
    assert created.status_code == 201, created.get_json()
    document = {"sha256": sha, "stage": "installation", "kind": "meter photo", "title": "x"}
    url = f"/api/v1/customers/{created.get_json()['id']}/documents"
    refused = client.post(url, json=document, headers=archivist)
    assert refused.status_code == 422 and refused.get_json()["errors"][0]["field"] == "sha256"
    # The owner's crewmate may name it (it reads the photo already), as may the uploader.
    again = mutation("photo", "append", {"sha256": sha, "caption": "second angle"})
    [ok] = (
        http(URBAN_B).request("POST", "/api/v1/sync/push", json_body=batch(again)).body["verdicts"]
    )
    assert ok["verdict"] == "applied", ok
