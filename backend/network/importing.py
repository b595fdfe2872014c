"""Import of the network: lines, areas, water nodes and pipes, customers' areas, region codes.

Files: GeoJSON (a FeatureCollection: properties + geometry), CSV (UTF-8 or GBK; geometry as
WKT in a `wkt` column) or XLSX (the same columns). Geometry is in the declared `srid` and is
checked and reprojected by the same services the API uses, so an imported line is held to
exactly the rules of one posted by hand. Every row is tried in a savepoint of its own, so
all rows are checked and every problem is reported (`row`, `column`, `reason`); then either
everything is kept or — any error, or a dry run — nothing is (the outer savepoint rolls back).
Rows may refer to records earlier in the same file (an area to its line, a pipe to its nodes).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive.records import Customer, Premise
from backend.archive.service import change_premise
from backend.archive.tabular import decode, xlsx_rows
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.errors import Conflict, Problem, Unprocessable
from backend.network import regions, service, water
from backend.network.models import FeederLine, TransformerArea
from backend.network.schemas import (
    AreaSchema,
    LineSchema,
    RegionCodeSchema,
    WaterNodeSchema,
    WaterPipeSchema,
)
from backend.network.water_models import WaterNode, WaterPipe

CREATED, UPDATED = "created", "updated"
KINDS = ("lines", "areas", "water-nodes", "water-pipes", "customer-links", "region-codes")
MAX_ROWS = 100_000
Progress = Callable[[int], None]


def read_rows(data: bytes, filename: str, encoding: str | None) -> list[tuple[int, dict[str, Any]]]:
    """Parse a GeoJSON, CSV or XLSX file into (row number, values) with `geometry` set."""
    name = filename.lower()
    if name.endswith((".geojson", ".json")) or data.lstrip()[:1] == b"{":
        return _geojson(data)
    if name.endswith(".xlsx") or data[:2] == b"PK":
        return _table(xlsx_rows(data))
    text, _ = decode(data, encoding)
    try:
        return _table(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise Unprocessable(f"The CSV file is malformed: {exc}.") from exc


def _geojson(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    try:
        body = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise Unprocessable("The file is not GeoJSON (JSON could not be read).") from exc
    if not isinstance(body, dict) or body.get("type") != "FeatureCollection":
        raise Unprocessable("A GeoJSON import is one FeatureCollection.")
    features = body.get("features")
    if not isinstance(features, list):
        raise Unprocessable("The FeatureCollection has no `features` list.")
    rows = []
    for number, feature in enumerate(features, start=1):
        properties = feature.get("properties") if isinstance(feature, dict) else None
        values = dict(properties) if isinstance(properties, dict) else {}
        values["geometry"] = feature.get("geometry") if isinstance(feature, dict) else None
        rows.append((number, values))
    return _bounded(rows)


def _table(lines: Iterator[list[Any]] | Any) -> list[tuple[int, dict[str, Any]]]:
    iterator = iter(lines)
    header = next(iterator, None)
    if not header:
        raise Unprocessable("The file is empty: a header row naming the columns is needed.")
    names = [str(h or "").strip().lower() for h in header]
    rows = []
    for number, line in enumerate(iterator, start=2):
        cells = ["" if c is None else str(c).strip() for c in line]
        if not any(cells):
            continue
        values = {n: cells[i] for i, n in enumerate(names) if n and i < len(cells) and cells[i]}
        values["geometry"] = values.pop("wkt", None) or values.pop("geometry", None)
        rows.append((number, values))
    return _bounded(rows)


def _bounded(rows: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    if len(rows) > MAX_ROWS:
        raise Unprocessable(f"At most {MAX_ROWS} rows per import; split the file.")
    return rows


def _load(schema: Schema, values: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = schema.load(values)
    return loaded


def _code(session: Session, model: Any, code: Any, column: str) -> Any:
    found = session.scalar(select(model.id).where(model.code == str(code or "")))
    if found is None:
        raise _RowError(column, f"No {column.removesuffix('_code')} with code {code!r}.")
    return found


class _RowError(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column, self.reason = column, reason


def _existing(session: Session, model: Any, v: dict[str, Any]) -> Any:
    """The record a row's code names already (the row then updates it), or None."""
    code = v.get("code")
    if not isinstance(code, str) or not code:  # a GeoJSON property may be any type: the
        return None  # schema then refuses it (compared with a text column, PostgreSQL fails)
    return session.scalar(select(model).where(model.code == code))


def _line(session: Session, actor: Actor, v: dict[str, Any], srid: int) -> str:
    v["route"], v["srid"] = v.pop("geometry", None), srid
    if isinstance(v.get("switch_points"), str):
        try:
            v["switch_points"] = json.loads(v["switch_points"])
        except (ValueError, RecursionError) as exc:
            raise _RowError("switch_points", "not a JSON list of points") from exc
    data = _load(LineSchema(), v)
    line = _existing(session, FeederLine, v)
    if line is None:
        service.create_line(session=session, actor=actor, data=data)
        return CREATED
    service.change_line(session=session, actor=actor, line_id=line.id, changes=data)
    return UPDATED


def _area(session: Session, actor: Actor, v: dict[str, Any], srid: int) -> str:
    geometry = v.pop("geometry", None)
    polygon = (
        isinstance(geometry, dict)
        and geometry.get("type") == "Polygon"
        or (isinstance(geometry, str) and geometry.strip().upper().startswith("POLYGON"))
    )
    v["line_id"] = str(_code(session, FeederLine, v.pop("line_code", None), "line_code"))
    v["boundary" if polygon else "location"], v["srid"] = geometry, srid
    data = _load(AreaSchema(), v)
    area = _existing(session, TransformerArea, v)
    if area is None:
        service.create_area(session=session, actor=actor, data=data)
        return CREATED
    service.change_area(session=session, actor=actor, area_id=area.id, changes=data)
    return UPDATED


def _node(session: Session, actor: Actor, v: dict[str, Any], srid: int) -> str:
    v["location"], v["srid"] = v.pop("geometry", None), srid
    if isinstance(v.get("valve_open"), str):
        v["valve_open"] = v["valve_open"].lower() in ("1", "true", "yes", "open")
    node = _existing(session, WaterNode, v)
    water.create_node(session=session, actor=actor, data=_load(WaterNodeSchema(), v),
                      existing=node)  # fmt: skip
    return CREATED if node is None else UPDATED


def _pipe(session: Session, actor: Actor, v: dict[str, Any], srid: int) -> str:
    ends = {f"{end}_node_id": str(_code(session, WaterNode, v.pop(f"{end}_code", None),
                                        f"{end}_code")) for end in ("from", "to")}  # fmt: skip
    v.update(ends, route=v.pop("geometry", None), srid=srid)
    if isinstance(v.get("diameter_mm"), str) and v["diameter_mm"].isascii():
        v["diameter_mm"] = int(v["diameter_mm"]) if v["diameter_mm"].isdigit() else v["diameter_mm"]
    pipe = _existing(session, WaterPipe, v)
    water.create_pipe(session=session, actor=actor, data=_load(WaterPipeSchema(), v),
                      existing=pipe)  # fmt: skip
    return CREATED if pipe is None else UPDATED


def _link(session: Session, actor: Actor, v: dict[str, Any], srid: int) -> str:
    del srid
    authorize(actor, Action.ARCHIVE_EDIT)
    account = str(v.get("account_number") or "")
    customer = session.scalar(select(Customer).where(Customer.account_number == account))
    if customer is None:
        raise _RowError("account_number", f"No customer with account {account!r}.")
    area_id = _code(session, TransformerArea, v.get("area_code"), "area_code")
    premises = list(session.scalars(select(Premise).where(Premise.customer_id == customer.id)))
    if not premises:
        raise _RowError("account_number", f"Account {account} has no premise.")
    for premise in premises:
        if premise.transformer_area_id != area_id:
            change_premise(session=session, actor=actor, premise=premise,
                           changes={"transformer_area_id": area_id},
                           reason="network import")  # fmt: skip
    return UPDATED


def _region(session: Session, actor: Actor, v: dict[str, Any], srid: int) -> str:
    del srid
    v.pop("geometry", None)
    regions.create(session=session, actor=actor, data=_load(RegionCodeSchema(), v))
    return CREATED


ROW = {"lines": _line, "areas": _area, "water-nodes": _node, "water-pipes": _pipe,
       "customer-links": _link, "region-codes": _region}  # fmt: skip


def run_import(
    *, session: Session, actor: Actor, kind: str, rows: list[tuple[int, dict[str, Any]]],
    srid: int = 4326, dry_run: bool = False, progress: Progress | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Try every row; keep them all, or (an error, a dry run) none. Return the outcome."""
    authorize(actor, Action.NETWORK_IMPORT)
    tick = progress or (lambda n: None)
    errors: list[dict[str, Any]] = []
    done = 0
    outcomes = {CREATED: 0, UPDATED: 0}
    outer = session.begin_nested()
    try:
        for number, values in rows:
            try:
                with session.begin_nested():
                    outcome = ROW[kind](session, actor, dict(values), srid)
                    session.flush()
                outcomes[outcome] += 1
            except _RowError as exc:
                errors.append({"row": number, "column": exc.column, "reason": exc.reason})
            except ValidationError as exc:
                for column, messages in _flat(exc.messages):
                    errors.append({"row": number, "column": column, "reason": messages})
            except (Problem, ValueError) as exc:
                errors.append({"row": number, "column": _column(exc), "reason": str(exc)})
            done += 1
            tick(1)
    finally:
        if errors or dry_run:
            outer.rollback()
        else:
            outer.commit()
    status = "failed" if errors else ("validated" if dry_run else "committed")
    kept = not errors and not dry_run
    return {"kind": kind, "dry_run": dry_run, "status": status, "total_rows": len(rows),
            "processed_rows": done,
            "created_rows": outcomes[CREATED] if kept else 0,
            "updated_rows": outcomes[UPDATED] if kept else 0,
            # What the file does (or, for a dry run, would do) once its errors are fixed.
            "would_create": outcomes[CREATED], "would_update": outcomes[UPDATED],
            "progress": 1.0 if not rows else done / len(rows), "errors": errors}  # fmt: skip


def _flat(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flat(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        yield prefix or "row", " ".join(messages)
    else:
        yield prefix or "row", str(messages)


def _column(exc: Exception) -> str:
    if isinstance(exc, Conflict):
        return "code"  # the only conflict a new network record meets: its code is taken
    fields = getattr(exc, "extensions", {}).get("errors") or []
    field = fields[0].get("field") if fields and isinstance(fields[0], dict) else None
    return {"route": "geometry", "location": "geometry", "boundary": "geometry",
            "line_id": "line_code", "from_node_id": "from_code",
            "to_node_id": "to_code", "transformer_area_id": "area_code"}.get(field, field or "row")  # fmt: skip  # noqa: E501
