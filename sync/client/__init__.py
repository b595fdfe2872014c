"""Reference sync client: a local SQLite outbox and store, push/pull loop, resumable uploads."""

from sync.client.client import SyncClient
from sync.client.transport import Reply, Transport, TransportError, UrllibTransport

__all__ = ["Reply", "SyncClient", "Transport", "TransportError", "UrllibTransport"]
