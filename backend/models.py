"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from backend.archive import models as archive_models  # noqa: F401
from backend.auth import audit as audit  # noqa: F401
from backend.auth import models as auth_models  # noqa: F401
from backend.db import Base
from backend.dispatch import models as dispatch_models  # noqa: F401
from backend.inspection import cases as inspection_cases  # noqa: F401
from backend.inspection import models as inspection_models  # noqa: F401
from backend.network import models as network_models  # noqa: F401
from backend.network import outage_models  # noqa: F401
from backend.org import models as org_models  # noqa: F401
from backend.tracking import models as tracking_models  # noqa: F401
from sync import store as sync_store  # noqa: F401
from sync.changes import SyncBase
from sync.store.tables import SyncConflict

# Conflict resolutions are audited like any other edit (the sync tables cannot take the mixin).
audit.audit_model(SyncConflict)

# Alembic compares the models against both: the backend's tables and the sync tables.
metadatas = [Base.metadata, SyncBase.metadata]
