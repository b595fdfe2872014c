"""Query arguments of the reports."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

FORMATS = ["json", "csv", "xlsx"]


class ExportSchema(Schema):
    """Output format; `table` picks the table a CSV holds (XLSX holds all)."""

    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))
    table = fields.String(load_default=None)


class PeriodSchema(ExportSchema):
    """A reporting window [from, to)."""

    from_ = fields.AwareDateTime(required=True, data_key="from")
    to = fields.AwareDateTime(required=True)

    @validates_schema
    def _ordered(self, data: dict[str, object], **kwargs: object) -> None:
        if data["to"] <= data["from_"]:  # type: ignore[operator]
            raise ValidationError("'to' must be after 'from'.", "to")


class DaySchema(ExportSchema):
    """A calendar day in the display time zone."""

    day = fields.Date(required=True)
