"""The risk report: grades by department and size, ABC shares, collection steps due."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import current_app

from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.db import utcnow
from backend.inputs import Blueprint
from backend.reports.routes import _render, report_response
from backend.reports.schemas import ExportSchema
from backend.risk import abc, ladder, reports
from backend.unit_of_work import request_session

blp = Blueprint("risk_reports", __name__, url_prefix="/api/v1", description="Risk reports")


@blp.route("/risk/report", methods=["GET"])
@requires(Action.RISK_READ)
@blp.arguments(ExportSchema, location="query")
@blp.doc(responses={"200": report_response("Tables grades, abc, ladder")})
def risk_report(args: dict[str, Any]) -> Any:
    """Grade distribution by department and customer size, ABC shares, ladder steps due."""
    config = current_app.config
    thresholds = abc.Thresholds(
        a_share=Decimal(str(config.get("RISK_ABC_A_SHARE", "0.02"))),
        c_share=Decimal(str(config.get("RISK_ABC_C_SHARE", "0.005"))),
    )
    tables = reports.risk_report(
        session=request_session(), actor=current_actor(), today=utcnow().date(),
        abc_window=int(config.get("RISK_ABC_WINDOW_MONTHS", 12)), thresholds=thresholds,
        ladder_rows=ladder.due_rows(request_session(), current_actor(), utcnow().date()),
    )  # fmt: skip
    return _render("risk", tables, args)
