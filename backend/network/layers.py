"""GeoJSON layers (lines, areas, substations) for QGIS and web maps: bbox-filtered, paged."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, select
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
    total, rows = page_in_bbox(
        session, statement, dialect=dialect, column=column, bbox=bbox,
        order_by=(model.code,), page=page, page_size=page_size,
    )  # fmt: skip
    features = [
        feature(
            row.id,
            getattr(row, column_name),
            {p: _plain(getattr(row, p)) for p in properties},
        )
        for (row,) in rows
    ]
    return collection(features, total=total, page=page, page_size=page_size)


def page_in_bbox(
    session: Session,
    statement: Select[Any],
    *,
    dialect: str,
    column: Any,
    bbox: tuple[float, float, float, float] | None,
    order_by: tuple[Any, ...],
    page: int,
    page_size: int,
) -> tuple[int, list[Any]]:
    """Return the total a statement matches within the bbox and the rows of one page."""
    if bbox is not None:
        statement = statement.where(intersects_bbox(dialect, column, *bbox))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.execute(
        statement.order_by(*order_by).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return total, list(rows)


def feature(record_id: uuid.UUID, geometry: Any, properties: dict[str, Any]) -> dict[str, Any]:
    """Return one GeoJSON feature; its properties lead with the record's id."""
    return {
        "type": "Feature",
        "id": str(record_id),
        "geometry": geojson(geometry),
        "properties": {"id": str(record_id), **properties},
    }


def collection(
    features: list[dict[str, Any]], *, total: int, page: int, page_size: int
) -> dict[str, Any]:
    """Return a page of features as a GeoJSON FeatureCollection with the total matched."""
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
