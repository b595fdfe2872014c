"""Argon2 password and device-secret hashing."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Config.FAST_HASH (FIELDLINE_FAST_HASH=1; the test profile) trades hash strength for speed:
# never in production. A stored hash names its own parameters, so either setting verifies all.
_STRONG = PasswordHasher()
_FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_hasher = _STRONG
# Verifying against this when a user is unknown keeps response times alike for both cases.
_dummy_hashes: dict[int, str] = {}


def configure(*, fast: bool) -> None:
    """Choose the hashing parameters for this process (`create_app` passes Config.FAST_HASH)."""
    global _hasher  # noqa: PLW0603 - one setting per process, like the logging level
    _hasher = _FAST if fast else _STRONG


def _dummy_hash() -> str:
    key = id(_hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = _hasher.hash("no-such-user-" + secrets.token_hex(8))
    return _dummy_hashes[key]


def hash_secret(secret: str) -> str:
    """Hash a password or device secret with argon2id."""
    return _hasher.hash(secret)


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    """Check a secret against a stored hash; an absent hash still costs one verification."""
    try:
        return _hasher.verify(secret_hash or _dummy_hash(), secret) and secret_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_device_secret() -> str:
    """Generate a device secret, shown once when the device is registered."""
    return secrets.token_urlsafe(24)
