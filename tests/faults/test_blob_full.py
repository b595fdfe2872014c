"""A full blob directory: the upload gets a clear 507 problem and no half-written blob is kept.

The API runs as a real process under a kernel file-size limit (RLIMIT_FSIZE), so its writes
fail the way they do on a full disk or an exhausted quota.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from pathlib import Path
from typing import Any

import pytest

from backend.demo import DEMO_DEVICE_SECRET
from tests.faults.stack import Service, gunicorn
from tests.tracking.brokers import free_port

LIMIT = 64 * 1024


def _request(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, response.getheader("Content-Type"), json.loads(raw or b"null")
    finally:
        conn.close()


def _healthy(port: int) -> bool:
    try:
        return _request(port, "GET", "/healthz", b"", {})[0] == 200
    except OSError:
        return False


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_a_full_blob_directory_answers_507_and_keeps_nothing_half_written(
    backend: Any, committed_db: Any, tmp_path: Path
) -> None:
    blobs = tmp_path / "blobs"
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": backend.url,
        "BLOB_DIR": str(blobs),
        "SECRET_KEY": "blob-full-" + "k" * 40,
        "LOG_LEVEL": "WARNING",
    }
    api = Service(
        "api-blob-full",
        gunicorn(port),
        env,
        ready=lambda: _healthy(port),
        limit_file_bytes=LIMIT,
    ).start()
    try:
        login = json.dumps({"identifier": "H-1001", "secret": DEMO_DEVICE_SECRET}).encode()
        status, _, body = _request(
            port, "POST", "/api/v1/auth/device-login", login, {"Content-Type": "application/json"}
        )
        assert status == 200, body
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        data = os.urandom(4 * LIMIT)  # more than the directory takes
        sha = hashlib.sha256(data).hexdigest()
        status, media_type, problem = _request(
            port,
            "PUT",
            f"/api/v1/blobs/{sha}?type=application/pdf",
            data,
            {**headers, "Content-Type": "application/pdf"},
        )
        assert status == 507, (status, problem, api.tail())
        assert media_type == "application/problem+json"
        assert problem["status"] == 507 and problem["offset"] == 0
        # Nothing half-written: no blob under its name, no bytes kept of the partial upload.
        stored = [p for p in blobs.rglob("*") if p.is_file()]
        assert [p for p in stored if p.name == sha] == []
        assert all(p.stat().st_size == 0 for p in stored), stored
        status, _, state = _request(port, "GET", f"/api/v1/blobs/{sha}", b"", headers)
        assert status in (404, 200) and (state is None or not state.get("stored")), state
    finally:
        api.stop()
