"""The billing table (imported) and the ABC value classes it yields."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates
from sqlalchemy import select

from backend.archive.io_routes import ImportFileSchema, ImportFormSchema
from backend.archive.records import Customer
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action, authorize, load_in_scope
from backend.db import utcnow
from backend.errors import Unprocessable
from backend.imports import ImportJobBaseSchema, load_job, new_job, read_upload
from backend.inputs import Blueprint, Day, Timestamp
from backend.reports.routes import _render, report_response
from backend.reports.schemas import ExportSchema
from backend.risk import abc, billing, payment_service
from backend.risk.class_routes import window
from backend.risk.models import BillingImport, BillingRecord
from backend.unit_of_work import request_session
from sync.fields import Decimal as DecimalField
from sync.fields import Float, Integer

blp = Blueprint(
    "risk_billing", __name__, url_prefix="/api/v1", description="Billing table and ABC classes"
)


class BillingImportSchema(ImportJobBaseSchema):
    """A billing import and its outcome."""


class BillingMonthSchema(Schema):
    """One month of an account as the billing system reported it (the newest import)."""

    period = fields.String()
    billed = Float()
    paid = Float()
    paid_on = Day(allow_none=True)
    prepaid = Float()
    litigation = fields.Boolean()
    recorded_at = Timestamp()


class AbcArgsSchema(ExportSchema):
    """The revenue window and the thresholds (defaults: RISK_ABC_* settings)."""

    as_of = fields.String(load_default=None, metadata={"description": "last month, YYYY-MM"})
    window_months = Integer(load_default=None, validate=validate.Range(1, 120))
    a_share = DecimalField(load_default=None, places=4, as_string=True, allow_nan=False)
    c_share = DecimalField(load_default=None, places=4, as_string=True, allow_nan=False)

    @validates("as_of")
    def _month(self, value: str | None, **kwargs: Any) -> None:
        if value is not None:
            billing.parse_period(value)

    @validates("a_share")
    def _a(self, value: Decimal | None, **kwargs: Any) -> None:
        if value is not None and not 0 < value <= 1:
            raise ValidationError("A fraction above 0 and at most 1 (0.02 is 2 %).")

    @validates("c_share")
    def _c(self, value: Decimal | None, **kwargs: Any) -> None:
        if value is not None and not 0 < value <= 1:
            raise ValidationError("A fraction above 0 and at most 1 (0.005 is 0.5 %).")


@blp.route("/risk/billing-imports")
class BillingImports(MethodView):
    """Imports of the billing table."""

    @requires(Action.RISK_BILLING_IMPORT)
    @blp.arguments(ImportFormSchema, location="form")
    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(201, BillingImportSchema)
    @blp.alt_response(422, description="Rows with errors: `row_errors`; nothing was written")
    def post(self, form: dict[str, Any], files: dict[str, Any]) -> BillingImport:
        """Import a CSV/XLSX billing table: all rows or none; `dry_run` only checks."""
        session, actor = request_session(), current_actor()
        file = files["file"]
        upload = read_upload(file.read(), file.filename, form["encoding"], billing.ALIASES)
        job = new_job(BillingImport, actor, upload, dry_run=form["dry_run"])
        billing.run_import(session=session, actor=actor, table=upload.table, job=job)
        if job.status == "failed":
            raise Unprocessable(
                f"{len(job.errors)} problem(s) in {job.filename}; nothing was imported.",
                row_errors=job.errors,
            )
        if job.status == "committed":  # new months: judge the payment behaviour again
            imported = select(BillingRecord.customer_id).where(BillingRecord.import_id == job.id)
            customers = session.scalars(imported.distinct()).all()
            payment_service.evaluate_many(
                session, sorted(customers), window=window(), by=actor.audit_name
            )
        return job


@blp.route("/risk/billing-imports/<uuid:job_id>")
class BillingImportById(MethodView):
    """One billing import."""

    @requires(Action.RISK_BILLING_IMPORT)
    @blp.response(200, BillingImportSchema)
    def get(self, job_id: uuid.UUID) -> BillingImport:
        """Show an import you made (the admin: anyone's)."""
        return load_job(request_session(), current_actor(), BillingImport, job_id, "Billing import")


@blp.route("/customers/<uuid:customer_id>/billing")
class CustomerBilling(MethodView):
    """The months the billing system reported for a customer."""

    @requires(Action.RISK_READ, scope=(Customer, "customer_id"))
    @blp.response(200, BillingMonthSchema(many=True))
    def get(self, customer_id: uuid.UUID) -> list[dict[str, Any]]:
        """List the customer's months, oldest first (the newest import of each month)."""
        session = request_session()
        load_in_scope(session, current_actor(), Customer, customer_id, action=Action.RISK_READ)
        return [
            {
                "period": f"{r.period:%Y-%m}",
                "billed": float(r.billed),
                "paid": float(r.paid),
                "paid_on": r.paid_on,
                "prepaid": float(r.prepaid),
                "litigation": r.litigation,
                "recorded_at": r.recorded_at,
            }  # fmt: skip
            for r in billing.effective_records(session, customer_id)
        ]


def _as_of(raw: str | None) -> date:
    if raw is not None:
        return billing.parse_period(raw)
    today = utcnow().date()
    return abc.add_months(today, -1)  # the last complete month


@blp.route("/risk/abc", methods=["GET"])
@requires(Action.RISK_READ)
@blp.arguments(AbcArgsSchema, location="query")
@blp.doc(responses={"200": report_response("Tables window, summary (per class), customers")})
def abc_report(args: dict[str, Any]) -> Any:
    """ABC classes by revenue over the window: each class's share of customers and revenue."""
    config = current_app.config
    actor = current_actor()
    authorize(actor, Action.RISK_READ)
    thresholds = abc.Thresholds(
        a_share=args["a_share"] or Decimal(str(config.get("RISK_ABC_A_SHARE", "0.02"))),
        c_share=args["c_share"] or Decimal(str(config.get("RISK_ABC_C_SHARE", "0.005"))),
    )
    tables = abc.report(
        session=request_session(), actor=actor, as_of=_as_of(args["as_of"]),
        window_months=args["window_months"] or int(config.get("RISK_ABC_WINDOW_MONTHS", 12)),
        thresholds=thresholds,
    )  # fmt: skip
    return _render("abc", tables, args)
