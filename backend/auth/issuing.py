"""Signing a login session's tokens, stream tickets, and throttled secret checks (Flask side)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import current_app, request
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from jwt.exceptions import PyJWTError
from sqlalchemy.orm import Session

from backend.auth import sessions, throttle
from backend.auth.actor import Actor
from backend.auth.guard import REVOKED, STREAM_AUDIENCE
from backend.errors import BadRequest, TooManyRequests, Unauthorized
from backend.unit_of_work import database, request_session

T = TypeVar("T")
# Claims a session's tokens carry: who (kind, role, department) and which session/generation.
CARRIED = ("kind", "role", "dept", "gen", "fam")


def client_address() -> str:
    """The caller's address (the real client's when TRUSTED_PROXIES is set)."""
    return request.remote_addr or "unknown"


def charge_attempt(kind: str, account: str) -> list[throttle.Limit]:
    """Charge a secret check to the account (at this address) and the address, or raise 429.

    Committed at once, before the check, so concurrent guesses cannot overtake the limit.
    """
    config = current_app.config
    window: timedelta = config["LOGIN_FAILURE_WINDOW"]
    limits = throttle.limits_for(
        kind,
        account,
        client_address(),
        per_account=config["LOGIN_MAX_FAILURES"],
        per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
    )
    now = datetime.now(UTC)
    with database().unit_of_work(actor=f"throttle:{kind}") as session:
        throttle.prune(session, now=now, window=window)
        until = throttle.charge(session, limits, now=now, window=window)
    if until is not None:
        raise TooManyRequests(
            "Too many failed attempts; wait before trying again.",
            retry_after_seconds=max(1, int((until - now).total_seconds()) + 1),
        )
    return limits


def settle_attempt(session: Session, limits: list[throttle.Limit]) -> None:
    """The secret was right: give the charge back (in the caller's unit of work)."""
    throttle.settle(session, limits, succeeded=True)


def throttled(kind: str, account: str, check: Callable[[], T | None]) -> T | None:
    """Run a secret check (its own unit of work) if the throttle allows; None means wrong."""
    limits = charge_attempt(kind, account)
    result = check()
    if result is not None:
        with database().unit_of_work(actor=f"throttle:{kind}") as session:
            settle_attempt(session, limits)
    return result


def open_session(
    session: Session,
    *,
    subject: str,
    claims: dict[str, Any],
    generation: int,
    actor: dict[str, Any],
) -> dict[str, Any]:
    """Start a login session (token family) and return its first access and refresh token."""
    now = datetime.now(UTC)
    expires = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    family = sessions.open_family(
        session=session, subject=subject, now=now, expires_at=now + expires
    )
    return _signed(subject, {**claims, "gen": generation, "fam": family}, family, actor)


def rotate_session(claims: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """Exchange the session's newest refresh token for a new pair; an old one revokes all."""
    now = datetime.now(UTC)
    new_jti = str(uuid.uuid4())
    expires = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    # So far this request's session only read (the token check); end its transaction, as
    # SQLite has one writer and the rotation commits on its own (a reuse must stay revoked).
    request_session().rollback()
    with database().unit_of_work(actor=actor.audit_name) as session:
        outcome = sessions.rotate(
            session=session,
            family_id=str(claims["fam"]),
            presented_jti=str(claims["jti"]),
            new_jti=new_jti,
            now=now,
            expires_at=now + expires,
            actor=actor.audit_name,
        )
    if outcome is sessions.Rotation.REUSED:
        raise Unauthorized(
            "This refresh token was already exchanged; the login session is revoked. Log in again."
        )
    if outcome is not sessions.Rotation.ROTATED:
        raise Unauthorized(REVOKED)
    carried = {k: claims[k] for k in CARRIED if k in claims}
    if actor.kind == "user":  # the role and department as they are now
        carried |= {"role": actor.role, "dept": actor.department_id}
    return _signed(str(claims["sub"]), carried, new_jti, {"sub": claims["sub"]})


def _signed(
    subject: str, claims: dict[str, Any], refresh_jti: str, actor: dict[str, Any]
) -> dict[str, Any]:
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access_token": create_access_token(identity=subject, additional_claims=claims),
        "refresh_token": create_refresh_token(
            identity=subject, additional_claims={**claims, "jti": refresh_jti}
        ),
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
        "actor": actor,
    }


def stream_ticket(claims: dict[str, Any]) -> dict[str, Any]:
    """Sign a short-lived ticket of the caller's session that opens one event stream once."""
    seconds = int(current_app.config["STREAM_TICKET_SECONDS"])
    extra = {k: claims[k] for k in ("kind", "gen", "fam") if k in claims}
    ticket = create_access_token(
        identity=claims["sub"],
        expires_delta=timedelta(seconds=seconds),
        additional_claims={**extra, "aud": STREAM_AUDIENCE, "type": "stream"},
    )
    return {"ticket": ticket, "expires_in": seconds}


def end_sessions(session: Session, claims: dict[str, Any], refresh_token: str | None) -> None:
    """Log out: revoke the caller's session (and the one of `refresh_token`, if another)."""
    families = {str(claims["fam"])}
    if refresh_token:
        try:
            other = decode_token(refresh_token, allow_expired=True)
        except PyJWTError as exc:
            raise BadRequest(f"The refresh token is not valid: {exc}.") from exc
        if other.get("type") != "refresh" or "aud" in other:
            raise BadRequest("The refresh token is not a refresh token.")
        if other["sub"] != claims["sub"]:
            raise BadRequest("The refresh token belongs to someone else.")
        if "fam" in other:
            families.add(str(other["fam"]))
    now = datetime.now(UTC)
    for family in sorted(families):
        sessions.revoke_family(session=session, family_id=family, reason="logout", now=now)
