"""Import and export of customer files (CSV in UTF-8 or GBK, XLSX)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from backend.archive import import_jobs, service
from backend.archive.access import ArchiveAction, Level, field_levels, mask_phone, require
from backend.archive.documents import ImportJob
from backend.archive.grants import record_reads
from backend.archive.import_jobs import BACKGROUND_ROWS
from backend.archive.importer import rows_for_export, run_import
from backend.archive.schemas import SearchArgsSchema
from backend.archive.tabular import COLUMNS, ENCODINGS, write
from backend.auth.guard import current_actor, requires
from backend.auth.policy import Action
from backend.errors import Unprocessable
from backend.imports import ImportJobBaseSchema, load_job, new_job, read_upload
from backend.inputs import Blueprint
from backend.reports.export import XLSX_MEDIA_TYPE
from backend.unit_of_work import database, request_session
from sync.fields import Integer

blp = Blueprint(
    "archive_io", __name__, url_prefix="/api/v1", description="Customer import and export"
)

EXPORT_LIMIT = 50_000  # bigger extracts go through the CLI


class ImportFormSchema(Schema):
    """The file and how to read it."""

    dry_run = fields.Boolean(load_default=False)
    background = fields.Boolean(
        load_default=False,
        metadata={"description": f"answer 202 at once (always above {BACKGROUND_ROWS} rows)"},
    )
    encoding = fields.String(load_default=None, validate=validate.OneOf(list(ENCODINGS)))


class ImportFileSchema(Schema):
    """The uploaded file (CSV or XLSX)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImportJobSchema(ImportJobBaseSchema):
    """An import and its outcome."""

    status = fields.String(
        metadata={"description": "queued, running (background), validated, committed, failed"}
    )
    updated_rows = Integer()


class ExportArgsSchema(SearchArgsSchema):
    """Which customers, in which format."""

    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


@blp.route("/customer-imports")
class CustomerImports(MethodView):
    """Imports of customer files."""

    @requires(Action.ARCHIVE_IMPORT)
    @blp.arguments(ImportFormSchema, location="form")
    @blp.arguments(ImportFileSchema, location="files")
    @blp.response(201, ImportJobSchema)
    @blp.alt_response(202, schema=ImportJobSchema, description="Queued: poll the job's progress")
    @blp.alt_response(422, description="Rows with errors: `row_errors`; nothing was written")
    def post(self, form: dict[str, Any], files: dict[str, Any]) -> Any:
        """Import a CSV/XLSX file: all rows or none; `dry_run` only checks.

        Big files (or `background=true`) are queued: 202 with the job, whose `progress`
        moves while the import runs; the outcome (and any `errors`) ends up on the job.
        """
        session, actor = request_session(), current_actor()
        require(actor, ArchiveAction.IMPORT)
        file = files["file"]
        upload = read_upload(file.read(), file.filename, form["encoding"])
        table = upload.table
        job = new_job(ImportJob, actor, upload, dry_run=form["dry_run"], updated_rows=0)
        if form["background"] or len(table.rows) > BACKGROUND_ROWS:
            job.status, job.total_rows = "queued", len(table.rows) * (1 if job.dry_run else 2)
            session.add(job)
            session.flush()
            import_jobs.start_after_commit(database(), actor, table, job.id)
            return job, 202
        run_import(session=session, actor=actor, table=table, job=job)
        if job.status == "failed":
            raise Unprocessable(
                f"{len(job.errors)} problem(s) in {job.filename}; nothing was imported.",
                row_errors=job.errors,
            )
        return job


@blp.route("/customer-imports/<uuid:job_id>")
class CustomerImportById(MethodView):
    """One import."""

    @requires(Action.ARCHIVE_IMPORT)
    @blp.response(200, ImportJobSchema)
    def get(self, job_id: uuid.UUID) -> Any:
        """Show an import's progress and outcome."""
        job = load_job(request_session(), current_actor(), ImportJob, job_id, "Import")
        return import_jobs.overlay(job)


@blp.route("/customer-exports")
class CustomerExports(MethodView):
    """Extracts of customer files."""

    @requires(Action.ARCHIVE_EXPORT)
    @blp.arguments(ExportArgsSchema, location="query")
    @blp.doc(
        responses={
            "200": {
                "description": "The matching files as CSV (`format=csv`) or XLSX (`format=xlsx`)",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    )
    def get(self, args: dict[str, Any]) -> Response:
        """Export the customers matching the filters as CSV or XLSX (your visible fields)."""
        session, actor = request_session(), current_actor()
        require(actor, ArchiveAction.EXPORT)
        file_format = args.pop("format")
        statement = service.find_customers(
            session=session, actor=actor, filters=args, dialect=database().dialect
        )
        customers = list(session.scalars(statement.limit(EXPORT_LIMIT + 1)))
        if len(customers) > EXPORT_LIMIT:
            raise Unprocessable(f"More than {EXPORT_LIMIT} customers match; narrow the filters.")
        record_reads(actor, [c.id for c in customers], f"export {file_format}")
        rows = rows_for_export(customers, session)
        levels = field_levels(actor)
        columns = [c for c, _ in COLUMNS]
        if levels["contract"] is Level.HIDDEN:
            hidden = {"contract_number", "contract_expires_on", "supply_scheme",
                      "contract_capacity_kw"}  # fmt: skip
            columns = [c for c in columns if c not in hidden]
        if levels["contacts"] is Level.HIDDEN:
            columns = [c for c in columns if c not in ("contact_name", "contact_phone")]
        elif levels["contacts"] is Level.MASKED:
            for row in rows:
                row["contact_phone"] = mask_phone(row["contact_phone"])
        media = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MEDIA_TYPE}
        return Response(
            write(rows, columns, file_format),
            content_type=media[file_format],  # as is: `mimetype` would add a second charset
            headers={"Content-Disposition": f'attachment; filename="customers.{file_format}"'},
        )
