"""Request and response schemas for authentication, users and devices."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from backend.auth.models import DeviceKind, Role
from backend.inputs import DbInteger, Timestamp
from sync.fields import Integer

ROLES = [r.value for r in Role]


class LoginSchema(Schema):
    """Username and password."""

    username = fields.String(required=True, validate=validate.Length(1, 64))
    password = fields.String(required=True, validate=validate.Length(1, 256), load_only=True)


class DeviceLoginSchema(Schema):
    """A device identifier and its secret."""

    identifier = fields.String(required=True, validate=validate.Length(1, 64))
    secret = fields.String(required=True, validate=validate.Length(1, 256), load_only=True)


class LogoutSchema(Schema):
    """Optionally the refresh token to revoke along with the access token."""

    refresh_token = fields.String(load_default=None)


class UserReadSchema(Schema):
    """A user as shown to administrators."""

    id = Integer()
    username = fields.String()
    full_name = fields.String()
    role = fields.String()
    department_id = DbInteger()
    phone = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = Timestamp()


class UserCreateSchema(Schema):
    """A new user."""

    username = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{2,64}$"))
    full_name = fields.String(required=True, validate=validate.Length(1, 200))
    password = fields.String(required=True, validate=validate.Length(8, 256), load_only=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    department_id = DbInteger(required=True, strict=True)
    phone = fields.String(load_default=None, validate=validate.Length(max=32))


class UserUpdateSchema(Schema):
    """Changes to a user; every field optional."""

    full_name = fields.String(validate=validate.Length(1, 200))
    password = fields.String(validate=validate.Length(8, 256), load_only=True)
    role = fields.String(validate=validate.OneOf(ROLES))
    department_id = DbInteger(strict=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=32))
    active = fields.Boolean()


class TokenSchema(Schema):
    """Tokens issued at login or refresh."""

    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = Integer()
    actor = fields.Dict()


class StreamTicketSchema(Schema):
    """A single-use ticket for `?ticket=` on an event stream."""

    ticket = fields.String()
    expires_in = Integer()


class MeSchema(Schema):
    """The caller as the server sees it."""

    kind = fields.String()
    id = Integer()
    label = fields.String()
    role = fields.String(allow_none=True)
    department_id = DbInteger()
    crew_id = DbInteger(allow_none=True)
    vehicle_id = DbInteger(allow_none=True)
    actions = fields.List(
        fields.String(),
        metadata={"description": "What the caller may do, e.g. `order.dispatch` (README)"},
    )


class DeviceCreateSchema(Schema):
    """A device to register."""

    identifier = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{2,64}$"))
    kind = fields.String(required=True, validate=validate.OneOf([k.value for k in DeviceKind]))
    department_id = DbInteger(required=True, strict=True)
    crew_id = DbInteger(load_default=None, strict=True)
    vehicle_id = DbInteger(load_default=None, strict=True)


class DeviceChangeSchema(Schema):
    """Disable or re-enable a device."""

    active = fields.Boolean(required=True)


class DeviceReadSchema(Schema):
    """A registered device (never its secret)."""

    id = Integer()
    identifier = fields.String()
    kind = fields.String()
    department_id = DbInteger()
    crew_id = DbInteger(allow_none=True)
    vehicle_id = DbInteger(allow_none=True)
    active = fields.Boolean()
    last_seen_at = Timestamp(allow_none=True)


class DeviceCreatedSchema(DeviceReadSchema):
    """A newly registered device with its secret, shown this once."""

    secret = fields.String()


class AuditEntrySchema(Schema):
    """One audit log row."""

    id = Integer()
    at = Timestamp()
    actor = fields.String()
    action = fields.String()
    entity = fields.String()
    entity_id = fields.String()
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class AuditQuerySchema(Schema):
    """Filters for the audit log."""

    entity = fields.String()
    entity_id = fields.String()
    actor = fields.String()
