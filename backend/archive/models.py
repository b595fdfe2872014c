"""Photos: records referencing content-addressed blobs (which may arrive later)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.inspection.models import Captured


class Photo(Captured, Base):
    """A photo taken on site; append-only. The bytes are the blob `sha256`."""

    __tablename__ = "photos"
    __sync_entity__ = "photo"

    sha256: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    inspection_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    caption: Mapped[str | None] = mapped_column(String(500))
    stage: Mapped[str | None] = mapped_column(String(32))
    taken_at: Mapped[datetime | None] = mapped_column()
