"""Water network assets (the seed's second utility): nodes joined by pipes.

Nodes are valves, hydrants, sources, monitoring points and junctions; `order_assets` says
which asset a repair order is about.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.auth.audit import Audited
from backend.db import Base, JSONType, UUIDPrimaryKey, utcnow

NODE_KINDS = ("junction", "valve", "hydrant", "source", "monitoring_point")


class WaterNode(UUIDPrimaryKey, Audited, Base):
    """A point of the pipe network; a valve bounds an isolation, a source feeds it."""

    __tablename__ = "water_nodes"

    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326))
    # Valves: whether it stands open now (a closed valve already bounds the network).
    valve_open: Mapped[bool | None] = mapped_column()
    # Monitoring points: what they measure, e.g. {"measures": ["pressure", "flow"]}.
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WaterPipe(UUIDPrimaryKey, Audited, Base):
    """A pipe between two nodes: route, diameter and material."""

    __tablename__ = "water_pipes"
    __table_args__ = (CheckConstraint("from_node_id <> to_node_id", name="pipe_two_ends"),)

    code: Mapped[str] = mapped_column(String(32), unique=True)
    from_node_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("water_nodes.id"), index=True)
    to_node_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("water_nodes.id"), index=True)
    route: Mapped[WKBElement] = mapped_column(Geometry("LINESTRING", srid=4326))
    diameter_mm: Mapped[int] = mapped_column()
    material: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderAsset(Base):
    """The water asset a repair order is about (a pipe or a node)."""

    __tablename__ = "order_assets"
    __table_args__ = (CheckConstraint("(pipe_id IS NULL) <> (node_id IS NULL)", name="one_asset"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    pipe_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("water_pipes.id"), index=True)
    node_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("water_nodes.id"), index=True)
