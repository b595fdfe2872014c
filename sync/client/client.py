"""The reference client: what a handheld app does to sync safely over a bad connection.

- Every change goes to a local outbox first (and is shown locally at once).
- `push` sends the outbox in batches. A batch is written down with its `batch_id` before it is
  sent, so after a dropped reply (or a crash) the same batch is sent again: the server answers
  `duplicate` for what it already applied.
- `pull` pages the change feed from the stored cursor and replaces local copies with the
  server's, re-applying changes still in the outbox on top.
- `upload` sends a blob in chunks, asking the server where to resume.
"""

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sync.client.transport import Reply, Transport, TransportError
from sync.entities import ENTITIES, FieldKind
from sync.protocol import format_time

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    entity TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL DEFAULT 0,
    server TEXT, local TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (entity, id));
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, mutation_id TEXT UNIQUE NOT NULL,
    entity TEXT NOT NULL, id TEXT NOT NULL, op TEXT NOT NULL, base_version INTEGER,
    fields TEXT NOT NULL, occurred_at TEXT NOT NULL, batch_id TEXT);
CREATE TABLE IF NOT EXISTS verdicts (mutation_id TEXT PRIMARY KEY, verdict TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT PRIMARY KEY, media_type TEXT NOT NULL, data BLOB NOT NULL);
"""


class SyncFailed(Exception):
    """The server refused a request as a whole (problem+json body attached)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"{reply.status}: {reply.body}")
        self.reply = reply


def _patch(entity: str, held: Mapping[str, object], fields: Mapping[str, object]) -> dict[str, Any]:
    """Apply client fields to a local copy (SET fields are patches)."""
    spec = ENTITIES.get(entity)
    result = dict(held)
    for name, value in fields.items():
        kind = spec.fields[name].kind if spec and name in spec.fields else None
        if kind is FieldKind.SET and isinstance(value, Mapping):
            current = result.get(name)
            result[name] = {**(current if isinstance(current, Mapping) else {}), **value}
        else:
            result[name] = value
    return result


class SyncClient:
    """A device's local store and outbox, synced through a `Transport`."""

    def __init__(self, transport: Transport, path: str = ":memory:", device_id: str = "") -> None:
        self.transport = transport
        self.device_id = device_id or f"device-{uuid.uuid4().hex[:8]}"
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.executescript(SCHEMA)

    # ------------------------------------------------------------------ local changes
    def create(self, entity: str, fields: Mapping[str, object], record_id: str = "") -> str:
        """Create a mutable record (e.g. an inspection); returns its id."""
        record_id = record_id or str(uuid.uuid4())
        self._queue(entity, record_id, "create", None, fields)
        return record_id

    def append(self, entity: str, fields: Mapping[str, object], record_id: str = "") -> str:
        """Append an append-only record (reading, GPS fix, photo); returns its id."""
        record_id = record_id or str(uuid.uuid4())
        self._queue(entity, record_id, "append", None, fields)
        return record_id

    def update(self, entity: str, record_id: str, fields: Mapping[str, object]) -> str:
        """Change fields of a record, based on the version last pulled; returns the mutation id."""
        return self._queue(entity, record_id, "update", self._version(entity, record_id), fields)

    def delete(self, entity: str, record_id: str) -> str:
        """Delete a record, based on the version last pulled; returns the mutation id."""
        return self._queue(entity, record_id, "delete", self._version(entity, record_id), {})

    def _version(self, entity: str, record_id: str) -> int:
        row = self.db.execute(
            "SELECT version FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        return int(row[0]) if row else 0

    def _queue(
        self,
        entity: str,
        record_id: str,
        op: str,
        base: int | None,
        fields: Mapping[str, object],
    ) -> str:
        now = format_time(datetime.now(UTC))
        self.db.execute("BEGIN")
        # Edits of a record not yet sent travel as one mutation: a device never races itself.
        row = self.db.execute(
            "SELECT seq, mutation_id, fields FROM outbox WHERE entity = ? AND id = ? "
            "AND batch_id IS NULL AND op IN ('create', 'update') ORDER BY seq DESC LIMIT 1",
            (entity, record_id),
        ).fetchone()
        if op == "update" and row is not None:
            merged = _patch(entity, json.loads(row[2]), fields)
            self.db.execute(
                "UPDATE outbox SET fields = ? WHERE seq = ?", (json.dumps(merged), row[0])
            )
            mutation_id = str(row[1])
        else:
            mutation_id = str(uuid.uuid4())
            self.db.execute(
                "INSERT INTO outbox (mutation_id, entity, id, op, base_version, fields, "
                "occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (mutation_id, entity, record_id, op, base, json.dumps(dict(fields)), now),
            )
        self._apply_local(entity, record_id, op, fields)
        self.db.execute("COMMIT")
        return mutation_id

    def _apply_local(
        self, entity: str, record_id: str, op: str, fields: Mapping[str, object]
    ) -> None:
        row = self.db.execute(
            "SELECT local FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        if op == "delete":
            self.db.execute(
                "UPDATE records SET deleted = 1 WHERE entity = ? AND id = ?", (entity, record_id)
            )
            return
        local = _patch(entity, json.loads(row[0]) if row else {}, fields)
        self.db.execute(
            "INSERT INTO records (entity, id, local) VALUES (?, ?, ?) ON CONFLICT (entity, id) "
            "DO UPDATE SET local = excluded.local",
            (entity, record_id, json.dumps(local)),
        )

    # ------------------------------------------------------------------ reading
    def get(self, entity: str, record_id: str) -> dict[str, Any] | None:
        """Return the local view of a record (server copy plus unsent changes)."""
        row = self.db.execute(
            "SELECT local, deleted FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        if row is None or row[1]:
            return None
        local: dict[str, Any] = json.loads(row[0])
        return local

    def server_copy(self, entity: str) -> dict[str, tuple[int, dict[str, Any]]]:
        """Return the last pulled server copies of an entity: id -> (version, fields)."""
        rows = self.db.execute(
            "SELECT id, version, server FROM records WHERE entity = ? AND server IS NOT NULL "
            "AND deleted = 0",
            (entity,),
        )
        return {str(r[0]): (int(r[1]), json.loads(r[2])) for r in rows}

    def verdict(self, mutation_id: str) -> dict[str, Any] | None:
        """Return the server's verdict on a mutation once pushed."""
        row = self.db.execute(
            "SELECT verdict FROM verdicts WHERE mutation_id = ?", (mutation_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def pending(self) -> int:
        """Return how many mutations wait in the outbox."""
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    # ------------------------------------------------------------------ push
    def push(self, max_batch: int = 100) -> list[dict[str, Any]]:
        """Send the outbox batch by batch; return the verdicts received.

        Raises:
            TransportError: A reply was lost; the batch stays in flight and is resent as is.
            SyncFailed: The server refused a batch as a whole.
        """
        received: list[dict[str, Any]] = []
        while True:
            batch = self._next_batch(max_batch)
            if batch is None:
                return received
            reply = self.transport.request("POST", "/api/v1/sync/push", json_body=batch)
            if reply.status != 200:
                raise SyncFailed(reply)
            verdicts = list(reply.body["verdicts"])
            self._settle(batch, verdicts)
            received.extend(verdicts)

    def _next_batch(self, max_batch: int) -> dict[str, Any] | None:
        self.db.execute("BEGIN")
        row = self.db.execute(
            "SELECT batch_id FROM outbox WHERE batch_id IS NOT NULL ORDER BY seq LIMIT 1"
        ).fetchone()
        if row is None:
            seqs = [
                r[0]
                for r in self.db.execute(
                    "SELECT seq FROM outbox WHERE batch_id IS NULL ORDER BY seq LIMIT ?",
                    (max_batch,),
                )
            ]
            if not seqs:
                self.db.execute("COMMIT")
                return None
            batch_id = str(uuid.uuid4())
            self.db.executemany(
                "UPDATE outbox SET batch_id = ? WHERE seq = ?", [(batch_id, s) for s in seqs]
            )
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                ("sent_at:" + batch_id, format_time(datetime.now(UTC))),
            )
        else:
            batch_id = str(row[0])
        self.db.execute("COMMIT")
        rows = self.db.execute(
            "SELECT mutation_id, entity, id, op, base_version, fields, occurred_at FROM outbox "
            "WHERE batch_id = ? ORDER BY seq",
            (batch_id,),
        ).fetchall()
        return {
            "device_id": self.device_id,
            "batch_id": batch_id,
            "sent_at": format_time(datetime.now(UTC)),
            "mutations": [
                {
                    "mutation_id": r[0],
                    "entity": r[1],
                    "id": r[2],
                    "op": r[3],
                    "base_version": r[4],
                    "fields": json.loads(r[5]),
                    "occurred_at": r[6],
                }
                for r in rows
            ],
        }

    def _settle(self, batch: Mapping[str, Any], verdicts: list[dict[str, Any]]) -> None:
        self.db.execute("BEGIN")
        for mutation, verdict in zip(batch["mutations"], verdicts, strict=True):
            self.db.execute(
                "INSERT OR REPLACE INTO verdicts (mutation_id, verdict) VALUES (?, ?)",
                (mutation["mutation_id"], json.dumps(verdict)),
            )
            self.db.execute("DELETE FROM outbox WHERE mutation_id = ?", (mutation["mutation_id"],))
            kind = verdict.get("original") or verdict["verdict"]
            if kind in ("merged", "conflict", "rejected"):
                # Some field kept the server's value, which may not change again (so no pull
                # would correct it): show the server's copy plus what is still unsent.
                self._rebuild(mutation["entity"], mutation["id"])
            if kind == "rejected" and mutation["op"] in ("create", "append"):
                # The server never took the record: drop the local copy unless it knows one.
                self.db.execute(
                    "DELETE FROM records WHERE entity = ? AND id = ? AND server IS NULL",
                    (mutation["entity"], mutation["id"]),
                )
        self.db.execute("DELETE FROM meta WHERE key = ?", ("sent_at:" + batch["batch_id"],))
        self.db.execute("COMMIT")

    def _rebuild(self, entity: str, record_id: str) -> None:
        row = self.db.execute(
            "SELECT server FROM records WHERE entity = ? AND id = ?", (entity, record_id)
        ).fetchone()
        if row is None or row[0] is None:
            return
        local = self._local_view(entity, record_id, json.loads(row[0]))
        self.db.execute(
            "UPDATE records SET local = ?, deleted = 0 WHERE entity = ? AND id = ?",
            (json.dumps(local), entity, record_id),
        )

    def _local_view(self, entity: str, record_id: str, server: dict[str, Any]) -> dict[str, Any]:
        """The server's copy with the outbox's unsent edits laid on top, in order."""
        local = server
        pending = self.db.execute(
            "SELECT fields FROM outbox WHERE entity = ? AND id = ? AND op != 'delete' ORDER BY seq",
            (entity, record_id),
        )
        for (fields,) in pending:
            local = _patch(entity, local, json.loads(fields))
        return local

    # ------------------------------------------------------------------ pull
    def pull(self, limit: int = 200) -> int:
        """Page the change feed until the end; return how many entries were applied."""
        applied = 0
        while True:
            cursor = self._meta("cursor")
            query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            reply = self.transport.request("GET", "/api/v1/sync/pull" + query)
            if reply.status != 200:
                raise SyncFailed(reply)
            self.db.execute("BEGIN")
            for change in reply.body["changes"]:
                self._apply_change(change)
                applied += 1
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES ('cursor', ?) ON CONFLICT (key) "
                "DO UPDATE SET value = excluded.value",
                (reply.body["cursor"],),
            )
            self.db.execute("COMMIT")
            if not reply.body["has_more"]:
                return applied

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _apply_change(self, change: Mapping[str, Any]) -> None:
        entity, record_id = change["entity"], change["id"]
        if change["op"] in ("delete", "leave"):
            self.db.execute("DELETE FROM records WHERE entity = ? AND id = ?", (entity, record_id))
            if change["op"] == "leave":  # its unsent edits would be rejected: drop them
                self.db.execute(
                    "DELETE FROM outbox WHERE entity = ? AND id = ? AND batch_id IS NULL",
                    (entity, record_id),
                )
            return
        local = self._local_view(entity, record_id, dict(change["fields"]))
        self.db.execute(
            "INSERT INTO records (entity, id, version, server, local, deleted) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (entity, id) DO UPDATE SET "
            "version = excluded.version, server = excluded.server, local = excluded.local, "
            "deleted = 0",
            (entity, record_id, change["version"], json.dumps(change["fields"]), json.dumps(local)),
        )

    def sync(self) -> None:
        """Push everything, then pull everything."""
        self.push()
        self.pull()

    # ------------------------------------------------------------------ blobs
    def upload(
        self, data: bytes, media_type: str, *, chunk_size: int = 256 * 1024, max_chunks: int = 0
    ) -> str:
        """Upload a blob in chunks, resuming where the server stopped; returns its SHA-256.

        `max_chunks` stops after that many chunks (simulating a dropped connection); the
        upload stays queued and `resume_uploads` finishes it.
        """
        sha = hashlib.sha256(data).hexdigest()
        self.db.execute(
            "INSERT OR IGNORE INTO uploads (sha256, media_type, data) VALUES (?, ?, ?)",
            (sha, media_type, data),
        )
        self._upload(sha, media_type, data, chunk_size, max_chunks)
        return sha

    def resume_uploads(self, chunk_size: int = 256 * 1024) -> list[str]:
        """Finish every queued upload; return the hashes completed."""
        done = []
        for sha, media_type, data in self.db.execute(
            "SELECT sha256, media_type, data FROM uploads"
        ).fetchall():
            if self._upload(str(sha), str(media_type), bytes(data), chunk_size, 0):
                done.append(str(sha))
        return done

    def _upload(
        self, sha: str, media_type: str, data: bytes, chunk_size: int, max_chunks: int
    ) -> bool:
        head = self.transport.request("HEAD", f"/api/v1/blobs/{sha}")
        offset = int(head.headers.get("upload-offset", "0")) if head.status == 200 else 0
        sent = 0
        while offset < len(data) or not data:
            if max_chunks and sent >= max_chunks:
                return False
            chunk = data[offset : offset + chunk_size]
            end = offset + len(chunk) - 1
            reply = self.transport.request(
                "PUT",
                f"/api/v1/blobs/{sha}",
                data=chunk,
                headers={
                    "Content-Type": media_type,
                    "Content-Range": f"bytes {offset}-{end}/{len(data)}",
                },
            )
            if reply.status == 416:  # the server holds a different offset: continue from there
                offset = int(reply.body.get("offset", 0))
                continue
            if reply.status != 200:
                raise SyncFailed(reply)
            offset = int(reply.body["offset"])
            sent += 1
            if reply.body["complete"]:
                break
        self.db.execute("DELETE FROM uploads WHERE sha256 = ?", (sha,))
        return True


__all__ = ["SyncClient", "SyncFailed", "TransportError"]
