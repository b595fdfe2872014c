"""Imports every domain's models so the metadata (and Alembic) sees all tables."""

from backend.auth import audit as audit  # noqa: F401
from backend.auth import models as auth_models  # noqa: F401
from backend.db import Base
from backend.org import models as org_models  # noqa: F401
from sync.changes import SyncBase

# Alembic compares the models against both: the backend's tables and the sync tables.
metadatas = [Base.metadata, SyncBase.metadata]
