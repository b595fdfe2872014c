"""GeoJSON layers (lines, areas, substations) for QGIS and web maps: bbox-filtered, paged."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, network_filter
from backend.network.geometry import geojson
from backend.network.models import FeederLine, Substation, TransformerArea
from backend.network.water_models import WaterNode, WaterPipe
from gis.queries import intersects_bbox

# layer -> (model, geometry column, properties)
LAYERS: dict[str, tuple[Any, str, tuple[str, ...]]] = {
    "lines": (FeederLine, "route", ("code", "name", "voltage", "region_code", "switch_points")),
    "areas": (
        TransformerArea,
        "location",
        ("code", "name", "line_id", "section", "capacity_kva", "ownership", "region_code"),
    ),
    "area-boundaries": (
        TransformerArea,
        "boundary",
        ("code", "name", "line_id", "section", "capacity_kva", "ownership", "region_code"),
    ),
    "substations": (Substation, "location", ("code", "name", "voltage")),
    "water-pipes": (
        WaterPipe,
        "route",
        ("code", "from_node_id", "to_node_id", "diameter_mm", "material"),
    ),  # noqa: E501
    "water-nodes": (WaterNode, "location", ("code", "kind", "name", "valve_open")),
}


def feature_collection(
    *,
    session: Session,
    actor: Actor,
    dialect: str,
    layer: str,
    bbox: tuple[float, float, float, float] | None,
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """Return one page of a layer as a GeoJSON FeatureCollection (with the total matched)."""
    authorize(actor, Action.NETWORK_READ)
    model, column_name, properties = LAYERS[layer]
    column = getattr(model, column_name)
    statement = select(model).where(network_filter(actor, model.department_id), column.isnot(None))
    if bbox is not None:
        statement = statement.where(intersects_bbox(dialect, column, *bbox))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(model.code).offset((page - 1) * page_size).limit(page_size)
    )
    features = [
        {
            "type": "Feature",
            "id": str(row.id),
            "geometry": geojson(getattr(row, column_name)),
            "properties": {
                "id": str(row.id),
                **{p: _plain(getattr(row, p)) for p in properties},
            },
        }
        for row in rows
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": total,
        "numberReturned": len(features),
        "page": page,
        "page_size": page_size,
    }


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value
