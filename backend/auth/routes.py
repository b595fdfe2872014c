"""Login, token refresh and logout, users, devices and the audit log."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request
from flask.views import MethodView
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token, get_jwt
from flask_smorest import Blueprint
from jwt.exceptions import PyJWTError
from sqlalchemy import select

from backend.auth import service
from backend.auth.actions import allowed_actions
from backend.auth.audit import AuditLog
from backend.auth.guard import current_actor, requires
from backend.auth.models import Device, User
from backend.auth.policy import Action
from backend.auth.schemas import (
    AuditEntrySchema,
    AuditQuerySchema,
    DeviceCreatedSchema,
    DeviceCreateSchema,
    DeviceLoginSchema,
    DeviceReadSchema,
    LoginSchema,
    LogoutSchema,
    MeSchema,
    TokenSchema,
    UserCreateSchema,
    UserReadSchema,
    UserUpdateSchema,
)
from backend.common import SelectPage
from backend.errors import BadRequest, TooManyRequests, Unauthorized
from backend.unit_of_work import database, request_session

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Authentication and users")


def _tokens(subject: str, claims: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=subject, additional_claims=claims),
        "refresh_token": create_refresh_token(identity=subject, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
        "actor": actor,
    }


def _user_tokens(user: User) -> dict[str, Any]:
    claims = {"kind": "user", "role": user.role, "dept": user.department_id}
    return _tokens(
        f"user:{user.id}",
        claims,
        {"kind": "user", "id": user.id, "username": user.username, "role": user.role},
    )


@blp.route("/auth/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.doc(security=[])
def login(data: dict[str, Any]) -> dict[str, Any]:
    """Log in with username and password; returns access and refresh tokens."""
    config = current_app.config
    # Its own unit of work: a failed attempt must be recorded although the request fails.
    with database().unit_of_work(actor=f"login:{data['username']}") as session:
        outcome = service.attempt_login(
            session=session,
            username=data["username"],
            password=data["password"],
            remote_addr=request.remote_addr or "unknown",
            now=datetime.now(UTC),
            max_failures=config["LOGIN_MAX_FAILURES"],
            window=config["LOGIN_FAILURE_WINDOW"],
        )
        user_tokens = _user_tokens(outcome.user) if outcome.user else None
    if outcome.throttled:
        raise TooManyRequests(
            "Too many failed logins; wait before trying again.",
            retry_after_seconds=int(config["LOGIN_FAILURE_WINDOW"].total_seconds()),
        )
    if user_tokens is None:
        raise Unauthorized("Wrong username or password.")
    return user_tokens


@blp.route("/auth/device-login", methods=["POST"])
@blp.arguments(DeviceLoginSchema)
@blp.response(200, TokenSchema)
@blp.doc(security=[])
def device_login(data: dict[str, Any]) -> dict[str, Any]:
    """Log a vehicle terminal or handheld in with its own credentials."""
    device = service.authenticate_device(
        session=request_session(),
        identifier=data["identifier"],
        secret=data["secret"],
        now=datetime.now(UTC),
    )
    if device is None:
        raise Unauthorized("Wrong device identifier or secret, or the device is disabled.")
    claims = {"kind": "device", "dept": device.department_id}
    return _tokens(
        f"device:{device.id}",
        claims,
        {"kind": "device", "id": device.id, "identifier": device.identifier},
    )


@blp.route("/auth/refresh", methods=["POST"])
@requires(Action.SESSION, refresh=True)
@blp.response(200, TokenSchema)
def refresh() -> dict[str, Any]:
    """Exchange a refresh token for a new access token."""
    claims = get_jwt()
    extra = {k: claims[k] for k in ("kind", "role", "dept") if k in claims}
    token = create_access_token(identity=claims["sub"], additional_claims=extra)
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
        "actor": {"sub": claims["sub"]},
    }


@blp.route("/auth/logout", methods=["POST"])
@requires(Action.SESSION)
@blp.arguments(LogoutSchema)
@blp.response(204)
def logout(data: dict[str, Any]) -> None:
    """Revoke the access token (and the refresh token, when given)."""
    session = request_session()
    tokens = [get_jwt()]
    if data.get("refresh_token"):
        try:
            tokens.append(decode_token(data["refresh_token"], allow_expired=True))
        except PyJWTError as exc:
            raise BadRequest(f"The refresh token is not valid: {exc}.") from exc
        if tokens[-1]["sub"] != tokens[0]["sub"]:
            raise BadRequest("The refresh token belongs to someone else.")
    for claims in tokens:
        service.revoke_token(
            session=session,
            jti=claims["jti"],
            token_type=claims["type"],
            subject=claims["sub"],
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )


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
