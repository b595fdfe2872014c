"""Query arguments of the reports."""

from __future__ import annotations

from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from backend.inputs import Day, Timestamp

FORMATS = ["json", "csv", "xlsx"]
# Reports slice their window by the hour; a year is the longest a dispatcher asks for.
MAX_WINDOW = timedelta(days=366)


class ExportSchema(Schema):
    """Output format; `table` picks the table a CSV holds (XLSX holds all)."""

    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    table = fields.String(load_default=None)


class PeriodSchema(ExportSchema):
    """A reporting window [from, to)."""

    from_ = Timestamp(required=True, data_key="from")
    to = Timestamp(required=True)

    @validates_schema
    def _ordered(self, data: dict[str, object], **kwargs: object) -> None:
        if data["to"] <= data["from_"]:  # type: ignore[operator]
            raise ValidationError("'to' must be after 'from'.", "to")
        if data["to"] - data["from_"] > MAX_WINDOW:  # type: ignore[operator]
            raise ValidationError("A report covers at most 366 days.", "to")


class DaySchema(ExportSchema):
    """A calendar day in the display time zone."""

    day = Day(required=True)
