"""What every process wires on start: all tables, the Session listeners, the synced entities.

Nothing registers itself on import: `create_app`, the CLI's app-less commands (the ingest
worker) and the test setup call `open_database` or `install_session_listeners` explicitly;
`create_app` calls `wire_sync`.
"""

from typing import Any

from backend.archive import blobs as archive_blobs
from backend.archive import handheld, seals
from backend.archive import models as archive_models  # noqa: F401
from backend.archive import sync_adapters as archive_sync
from backend.auth import audit
from backend.auth import models as auth_models
from backend.auth.sync_access import request_actor
from backend.db import Base, Database
from backend.dispatch import feed as dispatch_feed
from backend.dispatch import models as dispatch_models  # noqa: F401
from backend.dispatch import sync_adapters as dispatch_sync
from backend.inspection import cases as inspection_cases  # noqa: F401
from backend.inspection import meter_models as inspection_meters  # noqa: F401
from backend.inspection import models as inspection_models  # noqa: F401
from backend.inspection import plan_models as inspection_plans  # noqa: F401
from backend.inspection import sync_adapters as inspection_sync
from backend.inspection import verification_models as inspection_verification  # noqa: F401
from backend.live import announce as live_announce
from backend.network import handheld as network_handheld
from backend.network import models as network_models  # noqa: F401
from backend.network import (
    outage_models,  # noqa: F401
    water_models,  # noqa: F401
)
from backend.network import sync_adapters as network_sync
from backend.org import models as org_models  # noqa: F401
from backend.risk import models as risk_models  # noqa: F401
from backend.risk import sync_adapters as risk_sync
from backend.tracking import models as tracking_models  # noqa: F401
from backend.unit_of_work import request_session
from sync import changes as sync_changes
from sync import store as sync_store  # noqa: F401
from sync.changes import SyncBase
from sync.registry import SyncHooks, registry
from sync.store.tables import SyncConflict

# Alembic compares the models against both: the backend's tables and the sync tables.
metadatas = [Base.metadata, SyncBase.metadata]


def install_session_listeners() -> None:
    """Register every flush hook on SQLAlchemy's Session (idempotent), in this order."""
    sync_changes.install_listeners()  # synced records get versions and feed rows first
    auth_models.install_listeners()  # a new secret or deactivation ends old tokens
    handheld.install_listeners()  # work and file changes reach the handhelds' change feed
    dispatch_feed.install_listeners()  # and order changes every department that sees the order
    seals.install_listeners()  # in-service meters' seals keep their unique copy
    live_announce.install_listeners()  # outage changes reach the live feed
    network_handheld.install_listeners()  # and the lines, areas and outages near that work
    audit.install_listeners()  # every audited change leaves an audit row
    # Conflict resolutions are audited like any other edit (the sync tables cannot take the mixin).
    audit.audit_model(SyncConflict)


def open_database(url: str, read_url: str | None = None, **engine_options: Any) -> Database:
    """A Database whose sessions run every flush hook: what each process should use.

    `read_url`: a read replica for reports and the live feed (Config READ_DATABASE_URL).
    """
    install_session_listeners()
    return Database(url, read_url, **engine_options)


# Every synced entity, each adapter beside its domain's services.
SYNC_ADAPTERS = (
    *dispatch_sync.ADAPTERS, *inspection_sync.ADAPTERS, *archive_sync.ADAPTERS,
    *risk_sync.ADAPTERS, *network_sync.ADAPTERS,
)  # fmt: skip


def wire_sync() -> None:
    """Register the synced entities, the blobs they reference and the request hooks."""
    for adapter in SYNC_ADAPTERS:
        registry.register(adapter)
    archive_blobs.register(registry)  # photos and documents, through their order/file
    registry.hooks = SyncHooks(session=request_session, actor=request_actor)
