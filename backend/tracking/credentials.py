"""Per-vehicle MQTT credentials, Mosquitto password/ACL files, and the topic rules they encode.

A vehicle's MQTT username is its vid (the terminal id), so one ACL pattern line
(`pattern write {root}/vehicles/%u/...`) confines every vehicle to its own topics.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.org.models import Vehicle
from backend.tracking.models import MqttCredential

PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for `$7$`
VEHICLE_PUBLISH = ("position", "event", "status", "ack")


def mosquitto_hash(password: str, *, salt: bytes | None = None, use_binary: bool = True) -> str:
    """Hash like `mosquitto_passwd` (PBKDF2-SHA512, `$7$`); uses the binary when installed."""
    binary = shutil.which("mosquitto_passwd") if use_binary and salt is None else None
    if binary:
        with tempfile.TemporaryDirectory() as folder:
            file = Path(folder) / "pw"
            subprocess.run(  # noqa: S603 - fixed binary, arguments are not shell-parsed
                [binary, "-b", "-c", str(file), "u", password], check=True, capture_output=True
            )
            return file.read_text().strip().split(":", 1)[1]
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return f"$7${PBKDF2_ITERATIONS}$" + "$".join(encoded)


def verify_mosquitto_hash(password: str, stored: str) -> bool:
    """Check a password against a `$7$` hash (used by the embedded broker)."""
    try:
        _, kind, iterations, salt, digest = stored.split("$")
        if kind != "7":
            return False
        computed = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(iterations)
        )
        return hmac.compare_digest(computed, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True, slots=True)
class Issued:
    """A credential just generated: the password is shown once and never stored."""

    username: str
    password: str
    role: str


def issue(
    session: Session, *, rotate: bool = False, service_users: tuple[str, ...] = ("ingest",)
) -> list[Issued]:
    """Create credentials for vehicles (and service users) lacking them; `rotate` renews all."""
    issued: list[Issued] = []
    existing = {c.username: c for c in session.scalars(select(MqttCredential))}
    wanted: list[tuple[str, int | None, str]] = [(u, None, "service") for u in service_users]
    from backend.tracking.terminal import disabled_terminals  # it builds on the ingest

    disabled = disabled_terminals(session)  # no MQTT login until re-enabled
    for vehicle in session.scalars(select(Vehicle).order_by(Vehicle.id)):
        if vehicle.id in disabled:
            continue
        wanted.append((vehicle.terminal_id or str(vehicle.id), vehicle.id, "vehicle"))
    names = [username for username, _, _ in wanted]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:  # one login for two identities would let one publish as the other
        raise ValueError(
            f"MQTT login(s) claimed twice: {', '.join(clashes)}; change the terminal ids"
        )
    for username, vehicle_id, role in wanted:
        credential = existing.get(username)
        if credential is not None and not rotate:
            continue
        password = secrets.token_urlsafe(18)
        if credential is None:
            credential = MqttCredential(username=username, vehicle_id=vehicle_id, role=role)
            session.add(credential)
        credential.vid = username if role == "vehicle" else None
        credential.password_hash = mosquitto_hash(password)
        issued.append(Issued(username, password, role))
    session.flush()
    return issued


def revoke_vehicle(session: Session, vehicle_id: int) -> None:
    """Remove a vehicle's MQTT login (its terminal was disabled)."""
    for credential in session.scalars(
        select(MqttCredential).where(MqttCredential.vehicle_id == vehicle_id)
    ):
        session.delete(credential)
    session.flush()


def password_file(session: Session) -> str:
    """Return Mosquitto's password file for every stored credential."""
    rows = session.execute(
        select(MqttCredential.username, MqttCredential.password_hash).order_by(
            MqttCredential.username
        )
    )
    return "".join(f"{username}:{hashed}\n" for username, hashed in rows)


def service_usernames(session: Session) -> list[str]:
    """Return the service users (ingest workers) that may read every vehicle."""
    return list(
        session.scalars(
            select(MqttCredential.username)
            .where(MqttCredential.role == "service")
            .order_by(MqttCredential.username)
        )
    )


def acl_file(service_users: list[str], root: str = "fieldline/v1") -> str:
    """Return Mosquitto's ACL file: services read all, each vehicle only its own topics."""
    lines = ["# Generated by `fieldline vehicles credentials`; do not edit by hand.", ""]
    for user in service_users:
        lines += [
            f"user {user}",
            f"topic read {root}/vehicles/+/+",
            f"topic write {root}/vehicles/+/orders",
            f"topic readwrite {root}/alerts/+",
            "topic read owntracks/+/+",
            "",
        ]
    lines.append("# every vehicle (username = its vid): its own topics only")
    lines += [f"pattern write {root}/vehicles/%u/{leaf}" for leaf in VEHICLE_PUBLISH]
    lines += [f"pattern read {root}/vehicles/%u/orders", "pattern write owntracks/%u/+", ""]
    return "\n".join(lines)


def write_files(
    session: Session, folder: Path, root: str = "fieldline/v1", owner: str | None = None
) -> tuple[Path, Path]:
    """Write `passwd` and `acl` into `folder` (mode 0600) and return their paths.

    Mosquitto 2 started as root reads both only after dropping to its own user, so `owner`
    (`user` or `user:group`, e.g. "mosquitto") should be that user; None keeps the caller's.
    """
    user, _, group = (owner or "").partition(":")
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o750)
        if user:
            shutil.chown(folder, user, group or None)
    passwd, acl = folder / "passwd", folder / "acl"
    for path, text in (
        (passwd, password_file(session)),
        (acl, acl_file(service_usernames(session), root)),
    ):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o600)
        if user:
            shutil.chown(tmp, user, group or None)
        tmp.replace(path)  # atomic: a broker reloading never reads half a file
    return passwd, acl


def default_owner() -> str | None:
    """Return "mosquitto" when run as root and that user exists (stock packages), else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return None
    return "mosquitto"


def topic_allowed(
    username: str | None, role: str, action: str, topic: str, root: str = "fieldline/v1"
) -> bool:
    """The ACL as a function: may `username` publish/subscribe/receive `topic`?

    `action` is "publish", "subscribe" or "receive"; role "service" or "vehicle".
    """
    if not username:
        return False
    levels = topic.split("/")
    root_levels = root.split("/")
    n = len(root_levels)
    under_root = levels[:n] == root_levels and len(levels) == n + 3 and levels[n] == "vehicles"
    # Escalation alerts go to {root}/alerts/{department_id}; only services publish them.
    alerts = levels[:n] == root_levels and len(levels) == n + 2 and levels[n] == "alerts"
    if role == "service":
        if alerts:
            return "#" not in topic and (action != "publish" or "+" not in topic)
        if action == "publish":
            return (
                under_root and levels[n + 2] == "orders" and "+" not in topic and "#" not in topic
            )
        return (under_root or (len(levels) == 3 and levels[0] == "owntracks")) and "#" not in topic
    if "+" in topic or "#" in topic:
        return False
    if action == "publish":
        if under_root:
            return levels[n + 1] == username and levels[n + 2] in VEHICLE_PUBLISH
        return len(levels) == 3 and levels[0] == "owntracks" and levels[1] == username
    return under_root and levels[n + 1] == username and levels[n + 2] == "orders"
