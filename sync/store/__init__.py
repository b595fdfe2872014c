"""Persistence of sync: apply a push through the merge engine, page the change feed, conflicts.

Tables live on `SyncBase`: stored verdicts by (principal, `mutation_id`) (idempotent replay),
the conflict queue, purged ids (tombstones that outlive their rows), blob metadata and upload
sessions, and device clock skew.
Nothing here commits: the request (or the caller's unit of work) is the commit point.
"""

from sync.store.apply import SKEW_TOLERANCE, PushOutcome, purge, push
from sync.store.conflicts import conflicts_query, get_conflict, may_resolve, resolve
from sync.store.errors import SyncError
from sync.store.feed import MAX_PULL_LIMIT, Cursor, PullPage, blob_states, pull
from sync.store.records import (
    from_wire,
    record_fields,
    record_scope,
    server_record,
    to_wire,
)
from sync.store.tables import (
    BlobRecord,
    BlobUpload,
    DeviceClock,
    StoredMutation,
    SyncConflict,
    Tombstone,
)

__all__ = [
    "MAX_PULL_LIMIT",
    "SKEW_TOLERANCE",
    "BlobRecord",
    "BlobUpload",
    "Cursor",
    "DeviceClock",
    "PullPage",
    "PushOutcome",
    "StoredMutation",
    "SyncConflict",
    "SyncError",
    "Tombstone",
    "blob_states",
    "from_wire",
    "conflicts_query",
    "get_conflict",
    "may_resolve",
    "pull",
    "purge",
    "push",
    "record_fields",
    "record_scope",
    "resolve",
    "server_record",
    "to_wire",
]
