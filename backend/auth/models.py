"""Users, device credentials, revoked tokens and login attempts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, event, inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from backend.auth.audit import Audited
from backend.auth.roles import Role
from backend.db import Base, utcnow
from backend.org.models import Department

__all__ = ["Device", "LoginAttempt", "RevokedToken", "Role", "User"]


class User(Audited, Base):
    """A person who logs in; sees records of its department and the departments below it."""

    __tablename__ = "users"
    __audit_exclude__ = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Every token carries the generation it was issued under; a password change or a
    # deactivation bumps it, which revokes all of the user's tokens at once.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    department: Mapped[Department] = relationship()


class DeviceKind(StrEnum):
    """Machines that authenticate on their own: vehicle terminals and handhelds."""

    VEHICLE_TERMINAL = "vehicle_terminal"
    HANDHELD = "handheld"


class Device(Audited, Base):
    """A device credential, separate from user credentials; its secret is argon2-hashed."""

    __tablename__ = "devices"
    __audit_exclude__ = frozenset({"secret_hash", "mqtt_password_hash"})

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(255))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    crew_id: Mapped[int | None] = mapped_column(ForeignKey("crews.id"), index=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column()
    # Bumped when the secret rotates or the device is disabled: its tokens die with it.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    department: Mapped[Department] = relationship()


class RevokedToken(Base):
    """A JWT id that may not be used again: a redeemed stream ticket (single use)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginAttempt(Base):
    """One login attempt; recent failures per username and address throttle further tries."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class TokenFamily(Base):
    """One login session: its refresh token rotates, every token of it names the family.

    Only the newest refresh token (`current_jti`) may be exchanged; presenting an older one
    means it leaked, so the whole family is revoked. Logout revokes the family too.
    """

    __tablename__ = "token_families"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), index=True)
    current_jti: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class LoginThrottle(Base):
    """Attempts charged to one key (account+address, or address) in the current window.

    A row is charged before the secret is checked, in one atomic upsert, so concurrent
    guesses can never exceed the limit; a success gives its charge back.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(index=True)
    failures: Mapped[int] = mapped_column(Integer)


def revoke_tokens_on_credential_change(session: Session, context: Any, instances: Any) -> None:
    # On every path (API, CLI, seeding): a new secret or a deactivation ends all old tokens.
    for obj in session.dirty:
        if isinstance(obj, User):
            secret = "password_hash"  # noqa: S105 - a column name
        elif isinstance(obj, Device):
            secret = "secret_hash"  # noqa: S105 - a column name
        else:
            continue
        attrs = inspect(obj).attrs
        disabled = attrs["active"].history.has_changes() and not obj.active
        if attrs[secret].history.has_changes() or disabled:
            obj.token_generation = (obj.token_generation or 0) + 1


def install_listeners() -> None:
    """Register the token-revoking flush hook on every Session (called by `backend.wiring`)."""
    if not event.contains(Session, "before_flush", revoke_tokens_on_credential_change):
        event.listen(Session, "before_flush", revoke_tokens_on_credential_change)
