"""Token checks for every endpoint: who may call it (the policy's action) and as whom."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, g
from flask_jwt_extended import JWTManager, get_jwt, verify_jwt_in_request

from backend.auth.actor import Actor, actor_for_user
from backend.auth.models import Device, RevokedToken, User
from backend.auth.policy import Action, authorize, load_in_scope
from backend.errors import Unauthorized, problem_response
from backend.org.models import Department
from backend.unit_of_work import request_session

F = TypeVar("F", bound=Callable[..., Any])

jwt = JWTManager()


def _token_problem(detail: str) -> Any:
    return problem_response(Unauthorized(detail).to_dict(), {"WWW-Authenticate": "Bearer"})


def init_app(app: Flask) -> None:
    """Wire flask-jwt-extended's failures to problem+json and check the revocation list."""
    jwt.init_app(app)

    @jwt.token_in_blocklist_loader
    def is_revoked(header: dict[str, Any], payload: dict[str, Any]) -> bool:
        return request_session().get(RevokedToken, payload["jti"]) is not None

    jwt.expired_token_loader(lambda h, p: _token_problem("The token has expired; refresh it."))
    jwt.revoked_token_loader(lambda h, p: _token_problem("The token has been revoked."))
    jwt.invalid_token_loader(lambda reason: _token_problem(f"Invalid token: {reason}."))
    jwt.unauthorized_loader(lambda reason: _token_problem(f"Authentication required: {reason}."))
    jwt.needs_fresh_token_loader(lambda h, p: _token_problem("A fresh login is required."))
    jwt.user_lookup_error_loader(lambda h, p: _token_problem("The account no longer exists."))


def _load_actor(claims: dict[str, Any]) -> Actor:
    session = request_session()
    kind = claims.get("kind", "user")
    subject = int(claims["sub"].split(":", 1)[1])
    if kind == "device":
        device = session.get(Device, subject)
        if device is None or not device.active:
            raise Unauthorized("The device is unknown or disabled.")
        department = session.get(Department, device.department_id)
        assert department is not None  # noqa: S101 - guaranteed by the foreign key
        crews = frozenset({device.crew_id}) if device.crew_id else frozenset()
        return Actor(
            kind="device",
            id=device.id,
            label=device.identifier,
            department_id=department.id,
            department_path=department.path,
            role="device",  # not a Role: devices are authorized by `Rule.devices`
            crew_id=device.crew_id,
            vehicle_id=device.vehicle_id,
            crew_ids=crews,
        )
    user = session.get(User, subject)
    if user is None or not user.active:
        raise Unauthorized("The account is unknown or disabled.")
    return actor_for_user(session, user)


def current_actor() -> Actor:
    """Return the actor of this request (set by `requires`)."""
    actor: Actor | None = g.get("actor")
    if actor is None:
        raise Unauthorized("Authentication required.")
    return actor


def requires(
    action: Action = Action.SIGNED_IN,
    *,
    refresh: bool = False,
    scope: tuple[type[Any], str] | None = None,
) -> Callable[[F], F]:
    """Require a valid token whose role (or device) may do `action` (see `backend.auth.policy`).

    `scope=(Model, "url_arg")` also checks that the record named in the URL is in the
    caller's scope before the body is validated (a 403 must not depend on the body); the
    service behind the view checks scope and action again.
    """

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request(refresh=refresh)
            claims = get_jwt()
            actor = _load_actor(claims)
            authorize(actor, action)
            if scope is not None:
                model, arg = scope
                load_in_scope(request_session(), actor, model, kwargs[arg])
            g.actor = actor
            request_session().info["actor"] = actor.audit_name
            return view(*args, **kwargs)

        wrapper.__fieldline_action__ = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
