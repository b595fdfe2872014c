"""Reports as JSON, CSV or XLSX."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import Unprocessable
from backend.inputs import Blueprint
from backend.reports import export, service
from backend.reports.schemas import DaySchema, PeriodSchema
from backend.unit_of_work import replica_session

blp = Blueprint("reports", __name__, url_prefix="/api/v1/reports", description="Reports")

XLSX = export.XLSX_MEDIA_TYPE


def _render(name: str, tables: dict[str, Any], args: dict[str, Any]) -> Any:
    if args["format"] == "json":
        return tables
    if args["format"] == "xlsx":
        return Response(
            export.to_xlsx(tables),
            mimetype=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    table = args["table"] or next(t for t in tables if t != "summary" or len(tables) == 1)
    if table not in tables:
        raise Unprocessable(
            f"Unknown table {table!r}; one of {', '.join(tables)}.",
            errors=[{"field": "table", "in": "query", "messages": [f"one of {list(tables)}"]}],
        )
    return Response(
        export.to_csv(tables[table]),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{table}.csv"'},
    )


def report_response(tables: str) -> dict[str, Any]:
    """The three forms a report comes in (`format=json|csv|xlsx`)."""
    return {
        "description": f"{tables}: JSON, one table as CSV, or all as XLSX",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "text/csv": {"schema": {"type": "string"}},
            XLSX: {"schema": {"type": "string", "format": "binary"}},
        },
    }


def _zone() -> str:
    return str(current_app.config.get("DISPLAY_TIMEZONE", "Asia/Shanghai"))


@blp.route("/sla-compliance", methods=["GET"])
@requires(Action.REPORT_READ)
@blp.arguments(PeriodSchema, location="query")
@blp.doc(responses={"200": report_response("Tables summary, segments, departments, days")})
def sla_compliance(args: dict[str, Any]) -> Any:
    """SLA compliance per segment, responsible department and day (counts, rates, p50/p90)."""
    tables = service.sla_compliance(
        session=replica_session(),
        actor=current_actor(),
        start=args["from_"],
        end=args["to"],
        zone=_zone(),
    )
    return _render("sla-compliance", tables, args)


@blp.route("/vehicle-busy", methods=["GET"])
@requires(Action.REPORT_READ)
@blp.arguments(PeriodSchema, location="query")
@blp.doc(
    responses={"200": report_response("Table hours: busy minutes per department, specialty, hour")}
)
def vehicle_busy(args: dict[str, Any]) -> Any:
    """Vehicle busy time by department, specialty and hour of day: where capacity is short."""
    tables = service.vehicle_busy(
        session=replica_session(),
        actor=current_actor(),
        start=args["from_"],
        end=args["to"],
        zone=_zone(),
    )
    return _render("vehicle-busy", tables, args)


@blp.route("/call-center-daily", methods=["GET"])
@requires(Action.REPORT_READ)
@blp.arguments(DaySchema, location="query")
@blp.doc(responses={"200": report_response("Tables summary and fault_types")})
def call_center_daily(args: dict[str, Any]) -> Any:
    """The call center's daily report."""
    tables = service.call_center_daily(
        session=replica_session(), actor=current_actor(), day=args["day"], zone=_zone()
    )
    return _render("call-center-daily", tables, args)
