"""Token checks for every endpoint: who may call it (the policy's action) and as whom."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import jwt as pyjwt
from flask import Flask, current_app, g, request
from flask_jwt_extended import JWTManager, get_jwt, verify_jwt_in_request
from sqlalchemy.orm import Session

from backend.auth import sessions
from backend.auth.actor import Actor, actor_for_user
from backend.auth.models import Device, User
from backend.auth.policy import Action, authorize, can, load_in_scope
from backend.dispatch.models import Alert, WorkOrder
from backend.errors import Unauthorized, problem_response
from backend.org.models import Crew, Department, Vehicle
from backend.unit_of_work import database, request_session

F = TypeVar("F", bound=Callable[..., Any])

jwt = JWTManager()
# A stream ticket names this audience, which makes every other endpoint refuse it.
STREAM_AUDIENCE = "fieldline:stream"
REVOKED = "The token has been revoked (logout, password change or deactivation); log in again."


def _token_problem(detail: str) -> Any:
    return problem_response(Unauthorized(detail).to_dict(), {"WWW-Authenticate": "Bearer"})


def init_app(app: Flask) -> None:
    """Wire flask-jwt-extended's failures to problem+json and check the revocation list."""
    jwt.init_app(app)

    @jwt.token_in_blocklist_loader
    def is_revoked(header: dict[str, Any], payload: dict[str, Any]) -> bool:
        # Every token names its login session (family); logout or reuse revokes the family.
        family = payload.get("fam")
        if not isinstance(family, str):
            return True
        return sessions.family_revoked(session=request_session(), family_id=family)

    @jwt.token_verification_loader
    def is_session_token(header: dict[str, Any], payload: dict[str, Any]) -> bool:
        # flask-jwt-extended ignores `aud` when no audience is configured: stream tickets
        # (and anything not an access or refresh token) are refused here explicitly.
        return payload.get("type") in ("access", "refresh") and "aud" not in payload

    jwt.token_verification_failed_loader(
        lambda h, p: _token_problem("Invalid token: not an access or refresh token.")
    )
    jwt.expired_token_loader(lambda h, p: _token_problem("The token has expired; refresh it."))
    jwt.revoked_token_loader(lambda h, p: _token_problem(REVOKED))
    jwt.invalid_token_loader(lambda reason: _token_problem(f"Invalid token: {reason}."))
    jwt.unauthorized_loader(lambda reason: _token_problem(f"Authentication required: {reason}."))
    jwt.needs_fresh_token_loader(lambda h, p: _token_problem("A fresh login is required."))
    jwt.user_lookup_error_loader(lambda h, p: _token_problem("The account no longer exists."))


def _load_actor(claims: dict[str, Any]) -> Actor:
    return _actor_of(request_session(), claims)


def _actor_of(session: Session, claims: dict[str, Any]) -> Actor:
    kind = claims.get("kind", "user")
    subject = int(claims["sub"].split(":", 1)[1])
    if kind == "device":
        device = session.get(Device, subject)
        if device is None or not device.active:
            raise Unauthorized("The device is unknown or disabled.")
        if claims.get("gen") != device.token_generation:
            raise Unauthorized(REVOKED)
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
    if claims.get("gen") != user.token_generation:
        raise Unauthorized(REVOKED)
    return actor_for_user(session, user)


def _check_ticket(ticket: str) -> dict[str, Any]:
    """Verify a stream ticket (signature, audience, expiry, live session), without spending it."""
    config = current_app.config
    try:
        claims: dict[str, Any] = pyjwt.decode(
            ticket,
            config["JWT_SECRET_KEY"],
            algorithms=[config["JWT_ALGORITHM"]],
            audience=STREAM_AUDIENCE,
            options={"require": ["exp", "jti", "sub", "fam"]},
        )
    except pyjwt.PyJWTError as exc:
        raise Unauthorized(f"Invalid stream ticket: {exc}.") from exc
    if claims.get("type") != "stream":
        raise Unauthorized("Invalid stream ticket: not a stream ticket.")
    with database().unit_of_work(actor=f"ticket:{claims['sub']}") as session:
        if sessions.family_revoked(session=session, family_id=str(claims["fam"])):
            raise Unauthorized(REVOKED)
    return claims


def spend_stream_ticket() -> None:
    """Use up this request's stream ticket, if it came with one: it opens one stream, once.

    Called by the stream after its query and headers were validated (a malformed request
    leaves the ticket usable), and by `requires` after the view as a backstop.
    """
    claims: dict[str, Any] | None = g.pop("stream_ticket", None)
    if claims is None:
        return
    # Its own unit of work: the ticket must be spent even if the stream later fails.
    with database().unit_of_work(actor=f"ticket:{claims['sub']}") as session:
        fresh = sessions.redeem_ticket(
            session=session,
            jti=str(claims["jti"]),
            subject=str(claims["sub"]),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            now=datetime.now(UTC),
        )
    if not fresh:
        raise Unauthorized("This stream ticket was used already; ask for a new one.")


def _verified_claims(*, refresh: bool, stream: bool) -> dict[str, Any]:
    if stream and "ticket" in request.args:
        claims = _check_ticket(request.args["ticket"])
        g.stream_ticket = claims  # spent once the request passed validation
        return claims
    verify_jwt_in_request(refresh=refresh)
    jwt_claims: dict[str, Any] = get_jwt()
    return jwt_claims


def stream_recheck(actor: Actor, action: Action) -> Callable[[], str | None]:
    """Return a check an open stream runs now and then: None while its caller may go on.

    It loads the caller again from this request's claims, as `requires` did (account active,
    token generation, login session not revoked), and asks the policy again: the reason to end
    is `revoked` (disabled, logged out, password changed), `forbidden` (the role lost
    `action`) or `scope_changed` (another role or department than at subscribe time).
    """
    claims: dict[str, Any] = g.claims
    db = database()

    def recheck() -> str | None:
        session = db.read_session()
        try:
            family = claims.get("fam")
            if not isinstance(family, str) or sessions.family_revoked(
                session=session, family_id=family
            ):
                return "revoked"
            try:
                now = _actor_of(session, claims)
            except Unauthorized:
                return "revoked"
        finally:
            session.close()
        if not can(now, action):
            return "forbidden"
        held = (actor.role, actor.department_id, actor.department_path)
        if (now.role, now.department_id, now.department_path) != held:
            return "scope_changed"
        return None

    return recheck


def current_actor() -> Actor:
    """Return the actor of this request (set by `requires`)."""
    actor: Actor | None = g.get("actor")
    if actor is None:
        raise Unauthorized("Authentication required.")
    return actor


def _url_records() -> dict[str, type[Any]]:
    """URL arguments that name a scoped record, and its model (checked before any body)."""
    from backend.network.models import FeederLine, TransformerArea
    from backend.network.outage_models import Outage, OutageSuggestion
    from backend.network.water_models import WaterNode, WaterPipe

    return {
        "order_id": WorkOrder, "crew_id": Crew, "vehicle_id": Vehicle,
        "department_id": Department, "user_id": User, "device_id": Device, "alert_id": Alert,
        "line_id": FeederLine, "area_id": TransformerArea, "outage_id": Outage,
        "suggestion_id": OutageSuggestion, "node_id": WaterNode, "pipe_id": WaterPipe,
    }  # fmt: skip


AUTO: Any = object()  # `requires(scope=AUTO)`: every record the URL names (`_url_records`)


def requires(
    action: Action = Action.SIGNED_IN,
    *also: Action,
    refresh: bool = False,
    scope: tuple[type[Any], str] | None = AUTO,
    before_body: Callable[..., None] | None = None,
    stream: bool = False,
) -> Callable[[F], F]:
    """Require a valid token whose role (or device) may do `action` (see `backend.auth.policy`).

    Everything that does not depend on the body is checked here, before flask-smorest's
    `arguments` parse it (this decorator stands above them), so a caller without the right
    gets its 401/403/404 whatever it sent, never a 422 or 409 about the body:
    - the role: `action`, or any of `also` (an operation two rights reach, e.g. a crew's
      report or a supervisor's correction; the service decides which applies);
    - the records the URL names: each one `_url_records` knows is loaded in the caller's
      scope (404 absent, 403 outside); `scope=(Model, "url_arg")` names another instead,
      `scope=None` leaves the scope to the service (it answers something other than 403);
    - `before_body(**url_args)`: any further check of the service's that needs no body.
    The service behind the view checks scope and action again. `stream=True` (event streams
    only: EventSource cannot send headers) also admits `?ticket=` from
    `POST /auth/stream-ticket`.
    """
    actions = (action, *also)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            claims = _verified_claims(refresh=refresh, stream=stream)
            actor = _load_actor(claims)
            if not any(can(actor, a) for a in actions):
                authorize(actor, action)  # raises the refusal of the main action
            if scope is AUTO:
                named = _url_records()
                for arg in sorted(kwargs.keys() & named.keys()):
                    load_in_scope(request_session(), actor, named[arg], kwargs[arg])
            elif scope is not None:
                model, arg = scope
                load_in_scope(request_session(), actor, model, kwargs[arg])
            g.actor, g.claims = actor, claims
            request_session().info["actor"] = actor.audit_name
            if before_body is not None:
                before_body(**kwargs)
            result = view(*args, **kwargs)
            spend_stream_ticket()  # a no-op unless a stream view left its ticket unspent
            return result

        wrapper.__fieldline_action__ = action  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
