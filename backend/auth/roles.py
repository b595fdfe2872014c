"""The user roles (one enum; `backend.auth.policy` says what each may do)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user does; permissions are granted per role, visibility per department."""

    ADMIN = "admin"
    CALL_CENTER = "call_center"
    REPAIR_CENTER = "repair_center"
    CREW = "crew"
    INSPECTOR = "inspector"
    ARCHIVIST = "archivist"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    # Customer risk: chase arrears (collections) and look after key accounts.
    COLLECTIONS = "collections"
    KEY_ACCOUNT = "key_account_manager"
