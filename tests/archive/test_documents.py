"""Stage-tagged documents of a file through the content-addressed blob store, with thumbnails."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime, timedelta

from PIL import Image

from sync.blobs import service as blobs
from sync.registry import registry
from tests.conftest import assert_problem
from tests.sync.conftest import token


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 120, 200)).save(out, "JPEG", quality=70)
    return out.getvalue() + os.urandom(16)


def _upload(client, headers, data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    response = client.put(
        f"/api/v1/blobs/{sha}", data=data, headers={**headers, "Content-Type": "image/jpeg"}
    )
    assert response.status_code == 200, response.get_json()
    return sha


def _doc(sha: str, **extra):
    return {"sha256": sha, "stage": "installation", "kind": "meter photo",
            "title": "meter box after installation", "paper_shelf": "A-03", "paper_box": "17",
            "business_at": "2026-11-20T08:00:00+08:00", **extra}  # fmt: skip


def test_attach_photo_lists_with_thumbnail_and_serves_bytes(sync_app, backend, committed_db):
    client = sync_app.test_client()
    headers = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    body = _open(client, headers)
    data = _photo()
    sha = _upload(client, headers, data)
    url = f"/api/v1/customers/{body['id']}/documents"
    created = client.post(url, json=_doc(sha), headers=headers)
    assert created.status_code == 201, created.get_json()
    document = created.get_json()
    assert (document["blob"], document["thumbnail"]) == ("stored", True)
    assert document["paper_box"] == "17"
    listed = client.get(f"{url}?stage=installation", headers=headers).get_json()
    assert [d["id"] for d in listed] == [document["id"]]
    assert client.get(f"{url}?stage=closure", headers=headers).get_json() == []
    content = client.get(f"/api/v1/documents/{document['id']}/content", headers=headers)
    assert content.status_code == 200 and content.data == data
    # Served as the blob door serves bytes: never run by the browser on the API's origin.
    assert content.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    assert content.headers["Content-Disposition"].startswith("inline;")  # an image
    # Every view is a logged read: no cache answers it (the browser revalidates each time).
    assert "no-cache" in content.headers["Cache-Control"]
    thumb = client.get(f"/api/v1/documents/{document['id']}/thumbnail", headers=headers)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) < 800
    # Out of scope: the suburban crew may not read the urban file's documents.
    other = {"Authorization": f"Bearer {token(backend, 'crew3')}"}
    assert_problem(client.get(f"/api/v1/documents/{document['id']}/content", headers=other), 403)
    # Blob garbage collection keeps bytes that a document references.
    with committed_db.unit_of_work() as session:
        gone = blobs.collect_garbage(session, registry, now=datetime.now(UTC) + timedelta(days=30))
    assert sha not in gone


def test_pending_blob_and_bad_documents(sync_app, backend):
    client = sync_app.test_client()
    headers = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    body = _open(client, headers)
    url = f"/api/v1/customers/{body['id']}/documents"
    later = hashlib.sha256(os.urandom(32)).hexdigest()
    pending = client.post(url, json=_doc(later), headers=headers).get_json()
    assert pending["blob"] == "missing"
    missing = client.get(f"/api/v1/documents/{pending['id']}/content", headers=headers)
    assert_problem(missing, 404)
    assert_problem(client.post(url, json=_doc(later, stage="whatever"), headers=headers), 422)
    assert_problem(client.post(url, json=_doc("xyz"), headers=headers), 422)
    assert_problem(
        client.post(url, json=_doc(later, supersedes_id=body["id"]), headers=headers), 422
    )
    closure = client.post(url, json=_doc(later, stage="closure"), headers=headers)
    assert closure.status_code == 201  # the closure application: closing's gate
    close = f"/api/v1/customers/{body['id']}/close"
    assert client.post(close, json={"reason": "moved"}, headers=headers).status_code == 200
    assert_problem(client.post(url, json=_doc(later), headers=headers), 409)
    closure = client.post(url, json=_doc(later, stage="closure"), headers=headers)
    assert closure.status_code == 201


def _open(client, headers):
    from tests.archive.helpers import customer_body

    response = client.post("/api/v1/customers", json=customer_body(), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_contract_documents_follow_the_contract_fields(sync_app, backend):
    """The call center sees the file but not its contract, so not the scanned contract either."""
    client = sync_app.test_client()
    headers = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    body = _open(client, headers)
    url = f"/api/v1/customers/{body['id']}/documents"
    photo_sha, contract_sha = _upload(client, headers, _photo()), _upload(client, headers, _photo())
    photo = client.post(url, json=_doc(photo_sha), headers=headers).get_json()
    contract = client.post(url, json=_doc(contract_sha, stage="contract"), headers=headers)
    contract = contract.get_json()
    desk = {"Authorization": f"Bearer {token(backend, 'callcenter')}"}
    assert client.get(f"/api/v1/customers/{body['id']}", headers=desk).status_code == 200
    assert [d["id"] for d in client.get(url, headers=desk).get_json()] == [photo["id"]]
    assert_problem(client.get(f"/api/v1/documents/{contract['id']}/content", headers=desk), 404)
    assert_problem(client.get(f"/api/v1/blobs/{contract_sha}/content", headers=desk), 404)
    assert client.get(f"/api/v1/blobs/{photo_sha}/content", headers=desk).status_code == 200
    # The archivist sees contracts.
    assert len(client.get(url, headers=headers).get_json()) == 2


def test_every_door_to_a_document_answers_alike(sync_app, backend, committed_db):
    """Whoever is shown a document in a listing reads its bytes and thumbnail by either door.

    The documents route and the blob route (`/blobs/{sha}/content`, `/thumbnail`) ask the same
    rule (the file's scope, contracts hidden where the role's contract fields are): a
    dispatcher or call center agent listing a file's documents may open each of them, and
    one never listed (a contract, a file outside its scope) is a 404 at the blob door too.
    """
    from sqlalchemy import select

    from backend.org.models import Department
    from tests.archive.helpers import customer_body

    client = sync_app.test_client()
    archivist = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    with committed_db.unit_of_work() as session:
        departments = {d.code: d.id for d in session.scalars(select(Department))}
    callers = ("callcenter", "dispatcher", "supervisor", "auditor", "collector", "crew1")
    shown = 0
    for code in ("ST-URB", "CALL"):
        body = customer_body(department_id=departments[code])
        file = client.post("/api/v1/customers", json=body, headers=archivist).get_json()
        url = f"/api/v1/customers/{file['id']}/documents"
        for stage in ("installation", "contract"):
            sha = _upload(client, archivist, _photo())
            document = client.post(url, json=_doc(sha, stage=stage), headers=archivist)
            assert document.status_code == 201, document.get_json()
            for who in callers:
                headers = {"Authorization": f"Bearer {token(backend, who)}"}
                listing = client.get(url, headers=headers)
                listed = listing.status_code == 200 and sha in {
                    d["sha256"] for d in listing.get_json()
                }
                doors = {
                    f"/api/v1/blobs/{sha}/content": 200 if listed else 404,
                    f"/api/v1/blobs/{sha}/thumbnail": 200 if listed else 404,
                    f"/api/v1/documents/{document.get_json()['id']}/content": (
                        200 if listed else (404 if listing.status_code == 200 else 403)
                    ),
                }
                for door, status in doors.items():
                    got = client.get(door, headers=headers).status_code
                    assert got == status, (code, stage, who, door, got)
                shown += listed
    assert shown >= 8  # the desks do list documents here: the test is not vacuous


def test_document_bytes_read_through_the_blob_door_are_logged(sync_app, backend, committed_db):
    """Reading a document's bytes is a read of its file, whichever door serves them."""
    from sqlalchemy import select

    from backend.org.models import Department
    from tests.archive.helpers import customer_body

    client = sync_app.test_client()
    archivist = {"Authorization": f"Bearer {token(backend, 'archivist')}"}
    dispatcher = {"Authorization": f"Bearer {token(backend, 'dispatcher')}"}
    with committed_db.unit_of_work() as session:
        station = session.scalar(select(Department.id).where(Department.code == "ST-URB"))
    file = client.post(
        "/api/v1/customers", json=customer_body(department_id=station), headers=archivist
    ).get_json()
    sha = _upload(client, archivist, _photo())
    url = f"/api/v1/customers/{file['id']}/documents"
    assert client.post(url, json=_doc(sha), headers=archivist).status_code == 201

    def logged() -> list[str]:
        log = client.get(
            "/api/v1/archive/reads", query_string={"customer_id": file["id"]}, headers=archivist
        )
        return [r["what"] for r in log.get_json() if r["reader"].endswith(":dispatcher")]

    before = logged()
    for door in ("content", "thumbnail"):
        served = client.get(f"/api/v1/blobs/{sha}/{door}", headers=dispatcher)
        assert served.status_code == 200 and "no-cache" in served.headers["Cache-Control"]
    assert logged().count("document bytes") == before.count("document bytes") + 2
