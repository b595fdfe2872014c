"""amqtt plugins enforcing the Mosquitto password file and ACL rules in the embedded broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from backend.tracking.credentials import topic_allowed, verify_mosquitto_hash


class _PasswordFile:
    """Reads `user:$7$...` lines, re-reading when the file changes (credentials rotated)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._mtime = -1.0
        self._users: dict[str, str] = {}

    def users(self) -> dict[str, str]:
        mtime = self.path.stat().st_mtime if self.path.exists() else 0.0
        if mtime != self._mtime:
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            self._users = dict(line.split(":", 1) for line in lines if ":" in line)
            self._mtime = mtime
        return self._users


class FieldlineAuthPlugin(BaseAuthPlugin):
    """Admits only users of the Fieldline password file with the right password."""

    @dataclass
    class Config:
        """Where the generated password file is."""

        password_file: str = "var/mosquitto/passwd"  # noqa: S105 - a path, not a secret

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._file = _PasswordFile(self.config.password_file)

    async def authenticate(self, *, session: Session) -> bool:
        """Check the username and password against the password file."""
        stored = self._file.users().get(session.username or "")
        password = session.password or ""
        if isinstance(password, bytes):
            password = password.decode(errors="replace")
        return stored is not None and verify_mosquitto_hash(password, stored)


class FieldlineTopicPlugin(BaseTopicPlugin):
    """Each vehicle publishes only under its own vid; service users read all vehicles."""

    @dataclass
    class Config:
        """The topic root and which usernames are service users."""

        topic_root: str = "fieldline/v1"
        service_users: list[str] = field(default_factory=lambda: ["ingest"])

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        """Apply the same rules as the generated Mosquitto ACL file."""
        if session is None or topic is None or action is None:
            return False
        username = session.username
        role = "service" if username in self.config.service_users else "vehicle"
        return topic_allowed(username, role, action.value, topic, self.config.topic_root)


def plugins(password_file: str, topic_root: str, service_users: list[str]) -> dict[str, Any]:
    """The `plugins` mapping for `EmbeddedBroker` that enforces Fieldline credentials."""
    return {
        f"{__name__}.FieldlineAuthPlugin": {"password_file": password_file},
        f"{__name__}.FieldlineTopicPlugin": {
            "topic_root": topic_root,
            "service_users": service_users,
        },
    }
