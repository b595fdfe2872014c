"""Argon2 password and device-secret hashing."""

from __future__ import annotations

import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# FIELDLINE_FAST_HASH=1 (the test suite) trades hash strength for speed; never set it in production.
_hasher = (
    PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    if os.environ.get("FIELDLINE_FAST_HASH") == "1"
    else PasswordHasher()
)
# Verifying against this when a user is unknown keeps response times alike for both cases.
_DUMMY_HASH = _hasher.hash("no-such-user-" + secrets.token_hex(8))


def hash_secret(secret: str) -> str:
    """Hash a password or device secret with argon2id."""
    return _hasher.hash(secret)


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    """Check a secret against a stored hash; an absent hash still costs one verification."""
    try:
        return _hasher.verify(secret_hash or _DUMMY_HASH, secret) and secret_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_device_secret() -> str:
    """Generate a device secret, shown once when the device is registered."""
    return secrets.token_urlsafe(24)
