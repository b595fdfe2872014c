"""Login, token refresh and logout, users, devices and the audit log."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView
from flask_jwt_extended import get_jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth import issuing, service
from backend.auth.actions import allowed_actions
from backend.auth.audit import AuditLog
from backend.auth.guard import current_actor, requires
from backend.auth.models import Device, User
from backend.auth.policy import Action
from backend.auth.schemas import (
    AuditEntrySchema,
    AuditQuerySchema,
    DeviceChangeSchema,
    DeviceCreatedSchema,
    DeviceCreateSchema,
    DeviceLoginSchema,
    DeviceReadSchema,
    LoginSchema,
    LogoutSchema,
    MeSchema,
    StreamTicketSchema,
    TokenSchema,
    UserCreateSchema,
    UserReadSchema,
    UserUpdateSchema,
)
from backend.errors import Unauthorized
from backend.inputs import Blueprint, SelectPage
from backend.unit_of_work import database, request_session

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Authentication and users")


def _user_session(session: Session, user: User) -> dict[str, Any]:
    return issuing.open_session(
        session,
        subject=f"user:{user.id}",
        claims={"kind": "user", "role": user.role, "dept": user.department_id},
        generation=user.token_generation,
        actor={"kind": "user", "id": user.id, "username": user.username, "role": user.role},
    )


def _device_session(session: Session, device: Device) -> dict[str, Any]:
    return issuing.open_session(
        session,
        subject=f"device:{device.id}",
        claims={"kind": "device", "dept": device.department_id},
        generation=device.token_generation,
        actor={"kind": "device", "id": device.id, "identifier": device.identifier},
    )


@blp.route("/auth/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(429, description="Too many failed attempts for this account or address")
@blp.doc(security=[])
def login(data: dict[str, Any]) -> dict[str, Any]:
    """Log in with username and password; returns access and refresh tokens."""

    def check() -> dict[str, Any] | None:
        # Its own unit of work: a failed attempt is recorded although the request fails.
        with database().unit_of_work(actor=f"login:{data['username']}") as session:
            user = service.attempt_login(
                session=session,
                username=data["username"],
                password=data["password"],
                remote_addr=issuing.client_address(),
                now=datetime.now(UTC),
            )
            return _user_session(session, user) if user else None

    tokens = issuing.throttled("user", data["username"], check)
    if tokens is None:
        raise Unauthorized("Wrong username or password.")
    return tokens


@blp.route("/auth/device-login", methods=["POST"])
@blp.arguments(DeviceLoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(429, description="Too many failed attempts for this device or address")
@blp.doc(security=[])
def device_login(data: dict[str, Any]) -> dict[str, Any]:
    """Log a vehicle terminal or handheld in with its own credentials."""

    def check() -> dict[str, Any] | None:
        with database().unit_of_work(actor=f"device-login:{data['identifier']}") as session:
            device = service.authenticate_device(
                session=session,
                identifier=data["identifier"],
                secret=data["secret"],
                now=datetime.now(UTC),
            )
            return _device_session(session, device) if device else None

    tokens = issuing.throttled("device", data["identifier"], check)
    if tokens is None:
        raise Unauthorized("Wrong device identifier or secret, or the device is disabled.")
    return tokens


@blp.route("/auth/refresh", methods=["POST"])
@requires(Action.SESSION, refresh=True)
@blp.response(200, TokenSchema)
def refresh() -> dict[str, Any]:
    """Exchange the refresh token for a new access and refresh token (the old one is spent)."""
    return issuing.rotate_session(get_jwt(), current_actor())


@blp.route("/auth/logout", methods=["POST"])
@requires(Action.SESSION)
@blp.arguments(LogoutSchema)
@blp.response(204)
def logout(data: dict[str, Any]) -> None:
    """Revoke this login session's tokens (and the refresh token's session, when given)."""
    issuing.end_sessions(request_session(), get_jwt(), data.get("refresh_token"))


@blp.route("/auth/stream-ticket", methods=["POST"])
@requires(Action.SIGNED_IN)
@blp.response(200, StreamTicketSchema)
def stream_ticket() -> dict[str, Any]:
    """Get a single-use ticket opening one event stream (`?ticket=`), valid for seconds."""
    return issuing.stream_ticket(get_jwt())


@blp.route("/auth/me")
@requires(Action.SESSION)
@blp.response(200, MeSchema)
def me() -> dict[str, Any]:
    """Tell who the token belongs to and what it may do (the console offers only that)."""
    actor = current_actor()
    return {**asdict(actor), "actions": allowed_actions(actor)}


@blp.route("/users")
class Users(MethodView):
    """Users of the caller's departments."""

    @requires(Action.USER_READ)
    @blp.response(200, UserReadSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List users in your scope."""
        return service.list_users(actor=current_actor())

    @requires(Action.USER_MANAGE)
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserReadSchema)
    def post(self, data: dict[str, Any]) -> User:
        """Create a user in a department of your scope."""
        return service.create_user(session=request_session(), actor=current_actor(), data=data)


@blp.route("/users/<int:user_id>")
class UserById(MethodView):
    """One user."""

    @requires(Action.USER_READ)
    @blp.response(200, UserReadSchema)
    def get(self, user_id: int) -> User:
        """Show a user."""
        return service.get_user(session=request_session(), actor=current_actor(), user_id=user_id)

    @requires(Action.USER_MANAGE)
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserReadSchema)
    def patch(self, data: dict[str, Any], user_id: int) -> User:
        """Change a user."""
        return service.update_user(
            session=request_session(), actor=current_actor(), user_id=user_id, data=data
        )


@blp.route("/devices")
class Devices(MethodView):
    """Vehicle terminals and handhelds."""

    @requires(Action.DEVICE_READ)
    @blp.response(200, DeviceReadSchema(many=True))
    @blp.paginate(SelectPage)
    def get(self) -> Any:
        """List devices in your scope."""
        return service.list_devices(actor=current_actor())

    @requires(Action.DEVICE_MANAGE)
    @blp.arguments(DeviceCreateSchema)
    @blp.response(201, DeviceCreatedSchema)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Register a device; the secret is returned this once."""
        device, secret = service.register_device(
            session=request_session(), actor=current_actor(), data=data
        )
        return {**DeviceReadSchema().dump(device), "secret": secret}


@blp.route("/devices/<int:device_id>")
class DeviceById(MethodView):
    """One device credential."""

    @requires(Action.DEVICE_MANAGE, scope=(Device, "device_id"))
    @blp.arguments(DeviceChangeSchema)
    @blp.response(200, DeviceReadSchema)
    def patch(self, data: dict[str, Any], device_id: int) -> Device:
        """Disable (`active: false`) or re-enable a device; disabling ends its tokens at once."""
        return service.set_device_active(
            session=request_session(), actor=current_actor(), device_id=device_id, **data
        )


@blp.route("/devices/<int:device_id>/secret", methods=["POST"])
@requires(Action.DEVICE_MANAGE, scope=(Device, "device_id"))
@blp.response(200, DeviceCreatedSchema)
def rotate_device_secret(device_id: int) -> dict[str, Any]:
    """Give a device a new secret, returned this once; the old one and its tokens stop working."""
    device, secret = service.rotate_device_secret(
        session=request_session(), actor=current_actor(), device_id=device_id
    )
    return {**{name: getattr(device, name) for name in DeviceReadSchema().fields}, "secret": secret}


@blp.route("/audit")
@requires(Action.AUDIT_READ)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditEntrySchema(many=True))
@blp.paginate(SelectPage)
def audit_log(query: dict[str, Any]) -> Any:
    """Read the append-only audit log, newest first."""
    statement = select(AuditLog).order_by(AuditLog.id.desc())
    for key in ("entity", "entity_id", "actor"):
        if key in query:
            statement = statement.where(getattr(AuditLog, key) == query[key])
    return statement


__all__ = ["blp", "Device"]
