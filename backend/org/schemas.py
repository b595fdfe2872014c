"""Request and response schemas for departments, crews and vehicles."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from backend.inputs import DbInteger, PointField
from backend.org.models import DepartmentKind, Specialty
from sync.fields import Integer

KINDS = [k.value for k in DepartmentKind]
SPECIALTIES = [s.value for s in Specialty]
PHONE = validate.Regexp(r"^\+?[0-9 ()-]{3,32}$", error="Not a phone number.")


class DepartmentReadSchema(Schema):
    """A department."""

    id = Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    parent_id = DbInteger(allow_none=True)
    region_code = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    site = PointField(allow_none=True)
    supervisor_phone_1 = fields.String(allow_none=True)
    supervisor_phone_2 = fields.String(allow_none=True)
    specialties = fields.List(fields.String())


class DepartmentCreateSchema(Schema):
    """A new department under a parent of your scope."""

    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    parent_id = DbInteger(required=True, strict=True)
    region_code = fields.String(load_default=None, validate=validate.Length(max=32))
    address = fields.String(load_default=None, validate=validate.Length(max=400))
    site = PointField(load_default=None, allow_none=True)
    supervisor_phone_1 = fields.String(load_default=None, validate=PHONE)
    supervisor_phone_2 = fields.String(load_default=None, validate=PHONE)
    specialties = fields.List(
        fields.String(validate=validate.OneOf(SPECIALTIES)), load_default=list
    )


class DepartmentUpdateSchema(Schema):
    """Changes to a department (it keeps its place in the tree)."""

    name = fields.String(validate=validate.Length(1, 200))
    region_code = fields.String(allow_none=True, validate=validate.Length(max=32))
    address = fields.String(allow_none=True, validate=validate.Length(max=400))
    site = PointField(allow_none=True)
    supervisor_phone_1 = fields.String(allow_none=True, validate=PHONE)
    supervisor_phone_2 = fields.String(allow_none=True, validate=PHONE)
    specialties = fields.List(fields.String(validate=validate.OneOf(SPECIALTIES)))


class CrewMemberSchema(Schema):
    """A member of a crew."""

    user_id = DbInteger(required=True, strict=True)
    work_type = fields.String(required=True, validate=validate.OneOf(SPECIALTIES))
    receives_orders = fields.Boolean(load_default=False)


class CrewMemberReadSchema(CrewMemberSchema):
    """A member of a crew, with the user's name (the roster shows names, not ids)."""

    name = fields.Method("_name", dump_only=True)

    def _name(self, member: Any) -> str | None:
        user = getattr(member, "user", None)
        return user.full_name if user is not None else None


class CrewReadSchema(Schema):
    """A crew with its members."""

    id = Integer()
    name = fields.String()
    department_id = DbInteger()
    work_types = fields.List(fields.String())
    members = fields.List(fields.Nested(CrewMemberReadSchema))


class CrewCreateSchema(Schema):
    """A new crew."""

    name = fields.String(required=True, validate=validate.Length(1, 200))
    department_id = DbInteger(required=True, strict=True)
    work_types = fields.List(fields.String(validate=validate.OneOf(SPECIALTIES)), required=True)
    members = fields.List(fields.Nested(CrewMemberSchema), load_default=list)


class CrewUpdateSchema(Schema):
    """Changes to a crew; `members` replaces the member list."""

    name = fields.String(validate=validate.Length(1, 200))
    work_types = fields.List(fields.String(validate=validate.OneOf(SPECIALTIES)))
    members = fields.List(fields.Nested(CrewMemberSchema))


class VehicleReadSchema(Schema):
    """A vehicle."""

    id = Integer()
    plate = fields.String()
    department_id = DbInteger()
    crew_id = DbInteger(allow_none=True)
    specialty = fields.String()
    terminal_id = fields.String(allow_none=True)
    datum = fields.String()
    report_interval_s = Integer()


def _not_digits_only(value: str) -> None:
    if value.isdigit():
        raise ValidationError("Not digits only: a vehicle without a terminal reports under its id.")


# A terminal id is its MQTT login and a topic level: a safe alphabet, and never digits only
# (a vehicle without a terminal reports under its numeric id: "7" would take vehicle 7's).
TERMINAL_ID = [
    validate.Length(1, 64),
    validate.Regexp(
        r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        error="Letters, digits, '.', '_' or '-', starting with a letter or digit.",
    ),
    _not_digits_only,
]


class VehicleCreateSchema(Schema):
    """A new vehicle."""

    plate = fields.String(required=True, validate=validate.Length(1, 32))
    department_id = DbInteger(required=True, strict=True)
    crew_id = DbInteger(load_default=None, strict=True)
    specialty = fields.String(required=True, validate=validate.OneOf(SPECIALTIES))
    terminal_id = fields.String(load_default=None, validate=TERMINAL_ID)
    datum = fields.String(load_default="wgs84", validate=validate.OneOf(["wgs84", "gcj02", "bd09"]))
    report_interval_s = Integer(load_default=10, validate=validate.Range(1, 3600), strict=True)


class VehicleUpdateSchema(Schema):
    """Changes to a vehicle."""

    crew_id = DbInteger(allow_none=True, strict=True)
    specialty = fields.String(validate=validate.OneOf(SPECIALTIES))
    terminal_id = fields.String(allow_none=True, validate=TERMINAL_ID)
    datum = fields.String(validate=validate.OneOf(["wgs84", "gcj02", "bd09"]))
    report_interval_s = Integer(validate=validate.Range(1, 3600), strict=True)
