"""Request and response schemas of the customer archive."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from backend.archive.meters import meter_day_problem
from backend.archive.vocab import (
    VOLTAGE_LEVELS,
    AccountStatus,
    CustomerType,
    MeterFault,
    ReadingMethod,
    Source,
)
from backend.inputs import Day, DbInteger, PointField, Timestamp
from backend.inspection.schemas import OffenderSchema
from sync.fields import Float, Integer

PHONE = validate.Regexp(r"^\+?[0-9 ()-]{3,32}$", error="Not a phone number.")
ACCOUNT = validate.Regexp(r"^[A-Za-z0-9-]{1,32}$", error="1-32 letters, digits or dashes.")
REASON = fields.String(required=True, validate=validate.Length(1, 500))
CAPACITY = validate.Range(0, 1_000_000)
# Who may claim which source through the API: imports and sync have their own paths.
API_SOURCES = [Source.UI.value, Source.FIELD_VERIFICATION.value]


class MeterDay(Day):
    """A meter's installation or calibration day, read by the archive's date rule.

    The rule's range (from 1950, not in the future) lies inside the API's years, so its
    message is the only one a readable day gets (REST and the import).
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        day: date = fields.Date._deserialize(self, value, attr, data, **kwargs)
        problem = meter_day_problem(day)
        if problem:
            raise ValidationError(f"Expected {problem}.")
        return day


class ContactSchema(Schema):
    """Someone to reach about the account."""

    name = fields.String(required=True, validate=validate.Length(1, 100))
    phone = fields.String(required=True, validate=PHONE)
    role = fields.String(load_default=None, validate=validate.Length(max=50))


class PremiseCreateSchema(Schema):
    """A premise: where supply is delivered."""

    address = fields.String(required=True, validate=validate.Length(1, 400))
    location = PointField(load_default=None, allow_none=True)
    region_code = fields.String(validate=validate.Length(1, 32))
    transformer_area_id = fields.UUID(load_default=None, allow_none=True)
    line_id = fields.UUID(load_default=None, allow_none=True)
    line_name = fields.String(load_default=None, validate=validate.Length(max=120))
    access_notes = fields.String(load_default=None, validate=validate.Length(max=1000))


class CustomerCreateSchema(Schema):
    """A new customer file."""

    account_number = fields.String(required=True, validate=ACCOUNT)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    customer_type = fields.String(
        required=True, validate=validate.OneOf([t.value for t in CustomerType])
    )
    voltage_level = fields.String(required=True, validate=validate.OneOf(VOLTAGE_LEVELS))
    contract_capacity_kw = Float(required=True, validate=CAPACITY, allow_nan=False)
    region_code = fields.String(required=True, validate=validate.Length(1, 32))
    department_id = DbInteger(load_default=None, strict=True)
    contacts = fields.List(
        fields.Nested(ContactSchema), load_default=list, validate=validate.Length(max=20)
    )
    contract_number = fields.String(load_default=None, validate=validate.Length(max=64))
    contract_signed_on = Day(load_default=None, allow_none=True)
    contract_expires_on = Day(load_default=None, allow_none=True)
    supply_scheme = fields.String(load_default=None, validate=validate.Length(max=4000))
    premises = fields.List(
        fields.Nested(PremiseCreateSchema), load_default=list, validate=validate.Length(max=50)
    )
    reason = fields.String(load_default=None, validate=validate.Length(1, 500))


class ChangeSchema(Schema):
    """Why a change is made, where it comes from, and which version was edited."""

    reason = REASON
    source = fields.String(load_default=Source.UI.value, validate=validate.OneOf(API_SOURCES))
    base_version = Integer(load_default=None, strict=True, validate=validate.Range(1, 2**31 - 1))


class CustomerChangeSchema(ChangeSchema):
    """Changes to a customer file; they become a new version."""

    name = fields.String(validate=validate.Length(1, 200))
    customer_type = fields.String(validate=validate.OneOf([t.value for t in CustomerType]))
    voltage_level = fields.String(validate=validate.OneOf(VOLTAGE_LEVELS))
    contract_capacity_kw = Float(validate=CAPACITY, allow_nan=False)
    region_code = fields.String(validate=validate.Length(1, 32))
    department_id = DbInteger(strict=True)
    contacts = fields.List(fields.Nested(ContactSchema), validate=validate.Length(max=20))
    contract_number = fields.String(allow_none=True, validate=validate.Length(max=64))
    contract_signed_on = Day(allow_none=True)
    contract_expires_on = Day(allow_none=True)
    supply_scheme = fields.String(allow_none=True, validate=validate.Length(max=4000))


class CloseSchema(Schema):
    """Why an account is closed."""

    reason = REASON
    base_version = Integer(load_default=None, strict=True, validate=validate.Range(1, 2**31 - 1))


class PremiseChangeSchema(ChangeSchema):
    """Corrections to a premise."""

    address = fields.String(validate=validate.Length(1, 400))
    location = PointField(allow_none=True)
    region_code = fields.String(validate=validate.Length(1, 32))
    transformer_area_id = fields.UUID(allow_none=True)
    line_id = fields.UUID(allow_none=True)
    line_name = fields.String(allow_none=True, validate=validate.Length(max=120))
    access_notes = fields.String(allow_none=True, validate=validate.Length(max=1000))


def _seals(**kwargs: object) -> fields.List:
    return fields.List(
        fields.String(validate=validate.Length(1, 32)), validate=validate.Length(max=20), **kwargs
    )


def _faults(**kwargs: object) -> fields.List:
    return fields.List(
        fields.String(validate=validate.OneOf([f.value for f in MeterFault])), **kwargs
    )


class MeterCreateSchema(Schema):
    """A meter installed at a premise."""

    number = fields.String(required=True, validate=ACCOUNT)
    meter_type = fields.String(required=True, validate=validate.Length(1, 32))
    multiplier = Float(load_default=1.0, validate=validate.Range(0.001, 100_000))
    reading_method = fields.String(
        required=True, validate=validate.OneOf([m.value for m in ReadingMethod])
    )
    installed_on = MeterDay(required=True)
    calibrated_on = MeterDay(load_default=None, allow_none=True)
    seals = _seals(load_default=list)
    faults = _faults(load_default=list)
    reason = fields.String(load_default=None, validate=validate.Length(1, 500))


class MeterChangeSchema(ChangeSchema):
    """Changes to a meter."""

    meter_type = fields.String(validate=validate.Length(1, 32))
    multiplier = Float(validate=validate.Range(0.001, 100_000), allow_nan=False)
    reading_method = fields.String(validate=validate.OneOf([m.value for m in ReadingMethod]))
    installed_on = MeterDay()
    calibrated_on = MeterDay(allow_none=True)
    seals = _seals()
    faults = _faults()
    status = fields.String(validate=validate.OneOf(["in_service", "removed"]))


class MeterTypeSchema(Schema):
    """A meter type's replacement and calibration intervals."""

    code = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]{1,32}$"))
    name = fields.String(required=True, validate=validate.Length(1, 120))
    replacement_months = Integer(required=True, strict=True, validate=validate.Range(1, 600))
    calibration_months = Integer(required=True, strict=True, validate=validate.Range(1, 600))


class SearchArgsSchema(Schema):
    """Search and filters; a text query ranks the results best first."""

    q = fields.String(validate=validate.Length(1, 200))
    name = fields.String(validate=validate.Length(1, 200))
    account_number = fields.String(validate=validate.Length(1, 32))
    address = fields.String(validate=validate.Length(1, 400))
    phone = fields.String(validate=validate.Length(1, 32))
    line = fields.String(validate=validate.Length(1, 120))
    capacity_min = Float(validate=CAPACITY, allow_nan=False)
    capacity_max = Float(validate=CAPACITY, allow_nan=False)
    status = fields.String(validate=validate.OneOf([s.value for s in AccountStatus]))
    department_id = DbInteger()


class DiffArgsSchema(Schema):
    """Two versions to compare."""

    from_ = Integer(data_key="from", required=True, validate=validate.Range(1, 2**31 - 1))
    to = Integer(required=True, validate=validate.Range(1, 2**31 - 1))


class HeadSchema(Schema):
    """Common fields of a current view."""

    id = fields.UUID()
    version_no = Integer()
    updated_at = fields.String()
    updated_by = fields.String()
    department_id = Integer()


class PremiseReadSchema(HeadSchema):
    """A premise."""

    customer_id = fields.UUID()
    address = fields.String()
    location = fields.Dict(allow_none=True)
    region_code = fields.String()
    transformer_area_id = fields.UUID(allow_none=True)
    line_id = fields.UUID(allow_none=True)
    line_name = fields.String(allow_none=True)
    access_notes = fields.String(allow_none=True)
    status = fields.String()


class MeterReadSchema(HeadSchema):
    """A meter, with its due dates."""

    number = fields.String()
    premise_id = fields.UUID()
    customer_id = fields.UUID()
    meter_type = fields.String()
    multiplier = Float()
    reading_method = fields.String()
    installed_on = fields.String()
    calibrated_on = fields.String(allow_none=True)
    replacement_due = fields.String()
    calibration_due = fields.String()
    seals = fields.List(fields.String())
    faults = fields.List(fields.String())
    status = fields.String()
    last_reading = Float(allow_none=True)
    last_read_at = fields.String(allow_none=True)


class CustomerReadSchema(HeadSchema):
    """A customer file's current view; fields the caller may not see are left out."""

    account_number = fields.String()
    name = fields.String()
    customer_type = fields.String()
    voltage_level = fields.String()
    contract_capacity_kw = Float()
    status = fields.String()
    region_code = fields.String()
    contacts = fields.List(fields.Dict(), metadata={"description": "Phones may be masked"})
    contract_number = fields.String(allow_none=True)
    contract_signed_on = fields.String(allow_none=True)
    contract_expires_on = fields.String(allow_none=True)
    supply_scheme = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    classification = fields.String(metadata={"description": "important, special or ordinary"})
    tier = fields.String(metadata={"description": "ordinary, key or vip"})
    account_owner = fields.String(allow_none=True)
    classified_on = fields.String(allow_none=True)
    # The credit summary, for roles the policy lets read credit data ([Customer risk]).
    credit = fields.Dict(allow_none=True)
    hidden_fields = fields.List(fields.String())
    premises = fields.List(fields.Nested(PremiseReadSchema))
    meters = fields.List(fields.Nested(MeterReadSchema))
    # Theft/violation cases of this customer and the repeat-offender flag ([Inspection]).
    case_history = fields.Nested(OffenderSchema)


class VersionSchema(Schema):
    """One appended version."""

    entity = fields.String()
    record_id = fields.UUID()
    customer_id = fields.UUID()
    version_no = Integer()
    changed_by = fields.String()
    changed_at = fields.String()
    reason = fields.String()
    source = fields.String()
    data = fields.Dict()


class FieldChangeSchema(Schema):
    """One field that differs between two versions."""

    field = fields.String()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)


class DiffSchema(Schema):
    """The field-level difference between two versions."""

    entity = fields.String()
    record_id = fields.UUID()
    from_ = Integer(data_key="from")
    to = Integer()
    changes = fields.List(fields.Nested(FieldChangeSchema))


class ReadingSchema(Schema):
    """A meter reading."""

    id = fields.UUID()
    value = Float()
    reading_kind = fields.String()
    read_at = Timestamp()
    created_by = fields.String()
    photo_sha256 = fields.String(allow_none=True)
