"""Rules for logins, tokens, users and devices; plain functions over an explicit session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, scope_filter
from backend.auth.models import Device, LoginAttempt, Role, User
from backend.auth.passwords import hash_secret, new_device_secret, verify_secret
from backend.auth.policy import Action, authorize, load_in_scope
from backend.errors import Conflict, field_error
from backend.org import service as org
from backend.org.models import Department


def attempt_login(
    *, session: Session, username: str, password: str, remote_addr: str, now: datetime
) -> User | None:
    """Check a password and record the attempt; returns the user when it is right and active.

    Throttling happens before this is called (`backend.auth.throttle`).
    """
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_secret(user.password_hash if user else None, password)
    ok = ok and user is not None and user.active
    session.add(LoginAttempt(username=username, remote_addr=remote_addr, succeeded=ok, at=now))
    return user if ok else None


def authenticate_device(
    *, session: Session, identifier: str, secret: str, now: datetime
) -> Device | None:
    """Return the active device whose secret matches, noting when it was last seen."""
    device = session.scalar(select(Device).where(Device.identifier == identifier))
    if not verify_secret(device.secret_hash if device else None, secret):
        return None
    if device is None or not device.active:
        return None
    device.last_seen_at = now
    return device


def list_users(*, actor: Actor) -> object:
    """Return a select of the users in the actor's scope."""
    authorize(actor, Action.USER_READ)
    return select(User).where(scope_filter(actor, User.department_id)).order_by(User.id)


def get_user(*, session: Session, actor: Actor, user_id: int) -> User:
    """Load a user in the actor's scope."""
    return load_in_scope(session, actor, User, user_id, action=Action.USER_READ)


def create_user(*, session: Session, actor: Actor, data: dict[str, object]) -> User:
    """Create a user in a department of the actor's scope."""
    department_id = int(data["department_id"])  # type: ignore[call-overload]
    load_in_scope(session, actor, Department, department_id, action=Action.USER_MANAGE)
    _check_role(str(data["role"]))
    if session.scalar(select(User.id).where(User.username == data["username"])) is not None:
        raise Conflict(f"Username '{data['username']}' is taken.")
    password = str(data.pop("password"))
    user = User(**data, password_hash=hash_secret(password))
    session.add(user)
    session.flush()
    return user


def update_user(*, session: Session, actor: Actor, user_id: int, data: dict[str, object]) -> User:
    """Change a user's name, role, department, phone, activity or password."""
    user = load_in_scope(session, actor, User, user_id, action=Action.USER_MANAGE)
    if "department_id" in data:
        department_id = int(data["department_id"])  # type: ignore[call-overload]
        load_in_scope(session, actor, Department, department_id)
    if "role" in data:
        _check_role(str(data["role"]))
    if "password" in data:
        user.password_hash = hash_secret(str(data.pop("password")))
    for key, value in data.items():
        setattr(user, key, value)
    session.flush()
    return user


def _check_role(role: str) -> None:
    if role not in set(Role):
        raise field_error("role", f"Unknown role '{role}'.")


def register_device(
    *, session: Session, actor: Actor, data: dict[str, object]
) -> tuple[Device, str]:
    """Register a vehicle terminal or handheld; returns the device and its one-time secret."""
    department_id = int(data["department_id"])  # type: ignore[call-overload]
    load_in_scope(session, actor, Department, department_id, action=Action.DEVICE_MANAGE)
    if session.scalar(select(Device.id).where(Device.identifier == data["identifier"])):
        raise Conflict(f"Device '{data['identifier']}' is already registered.")
    # Binding a device to a crew or vehicle grants it their orders: both must be in scope.
    if data.get("crew_id") is not None:
        org.get_crew(session=session, actor=actor, crew_id=int(data["crew_id"]))  # type: ignore[call-overload]
    if data.get("vehicle_id") is not None:
        org.get_vehicle(session=session, actor=actor, vehicle_id=int(data["vehicle_id"]))  # type: ignore[call-overload]
    secret = new_device_secret()
    device = Device(**data, secret_hash=hash_secret(secret))
    session.add(device)
    session.flush()
    return device, secret


def set_device_active(*, session: Session, actor: Actor, device_id: int, active: bool) -> Device:
    """Disable (or re-enable) a device: its tokens die at once, and a terminal's MQTT login.

    Disabling bumps the token generation (`models.revoke_tokens_on_credential_change`), so
    every access and refresh token of the device is refused from the next request; a vehicle
    terminal's MQTT credential is removed from the database; the broker refuses the login
    once `fieldline vehicles credentials` rewrote its files (the embedded broker re-reads them
    when they change, Mosquitto on SIGHUP). Meanwhile the ingest refuses whatever the terminal
    would prove: its events, its acks and the timing points of its positions
    (`tracking.terminal.disabled_terminals`). Re-enabling brings no old token back, nor the
    old MQTT password: issue a new one with that command.
    """
    device = load_in_scope(session, actor, Device, device_id, action=Action.DEVICE_MANAGE)
    if device.active == active:
        return device
    device.active = active
    session.flush()
    if not active and device.vehicle_id is not None:
        from backend.tracking.credentials import revoke_vehicle  # tracking builds on auth

        revoke_vehicle(session, device.vehicle_id)
    return device


def rotate_device_secret(*, session: Session, actor: Actor, device_id: int) -> tuple[Device, str]:
    """Give a device a new secret (shown once); its old secret and every token stop working."""
    device = load_in_scope(session, actor, Device, device_id, action=Action.DEVICE_MANAGE)
    secret = new_device_secret()
    device.secret_hash = hash_secret(secret)
    session.flush()
    return device, secret


def list_devices(*, actor: Actor) -> object:
    """Return a select of the devices in the actor's scope."""
    authorize(actor, Action.DEVICE_READ)
    return select(Device).where(scope_filter(actor, Device.department_id)).order_by(Device.id)
