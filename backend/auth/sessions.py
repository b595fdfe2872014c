"""Login sessions as token families: open, rotate, revoke; single-use stream tickets.

Plain functions over an explicit session; the routes create and sign the tokens.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth.audit import record
from backend.auth.models import RevokedToken, TokenFamily


class Rotation(StrEnum):
    """What presenting a refresh token came to."""

    ROTATED = "rotated"
    REUSED = "reused"  # an old token of the family: it leaked, the family is now revoked
    REVOKED = "revoked"
    UNKNOWN = "unknown"


def open_family(*, session: Session, subject: str, now: datetime, expires_at: datetime) -> str:
    """Start a login session; returns its family id (the first refresh token's jti too)."""
    family_id = str(uuid.uuid4())
    # Families ended long ago are forgotten here, so the table stays as small as the sessions.
    session.execute(delete(TokenFamily).where(TokenFamily.expires_at < now))
    session.add(
        TokenFamily(
            id=family_id,
            subject=subject,
            current_jti=family_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return family_id


def rotate(
    *,
    session: Session,
    family_id: str,
    presented_jti: str,
    new_jti: str,
    now: datetime,
    expires_at: datetime,
    actor: str,
) -> Rotation:
    """Replace the family's refresh token, only if `presented_jti` is the newest one.

    One conditional UPDATE decides, so of two concurrent refreshes with the same token one
    rotates and the other counts as reuse.
    """
    moved = session.execute(
        update(TokenFamily)
        .where(
            TokenFamily.id == family_id,
            TokenFamily.current_jti == presented_jti,
            TokenFamily.revoked_at.is_(None),
        )
        .values(current_jti=new_jti, rotated_at=now, expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 1:
        return Rotation.ROTATED
    family = session.get(TokenFamily, family_id)
    if family is None:
        return Rotation.UNKNOWN
    if family.revoked_at is not None:
        return Rotation.REVOKED
    revoke_family(session=session, family_id=family_id, reason="refresh_reuse", now=now)
    record(
        session,
        actor=actor,
        action="revoke",
        entity="token_families",
        entity_id=family_id,
        after={"reason": "refresh_reuse", "subject": family.subject, "jti": presented_jti},
    )
    return Rotation.REUSED


def revoke_family(*, session: Session, family_id: str, reason: str, now: datetime) -> None:
    """Revoke every token of a login session (access, refresh, stream tickets)."""
    session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )


def family_revoked(*, session: Session, family_id: str) -> bool:
    """Tell whether a login session was revoked.

    An unknown family is not: rows are kept until the last token of the family has expired.
    """
    revoked_at = session.scalar(select(TokenFamily.revoked_at).where(TokenFamily.id == family_id))
    return revoked_at is not None


def redeem_ticket(
    *, session: Session, jti: str, subject: str, expires_at: datetime, now: datetime
) -> bool:
    """Use up a stream ticket; False when it was used before (the primary key decides)."""
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    try:
        with session.begin_nested():
            session.add(
                RevokedToken(jti=jti, token_type="stream", subject=subject, expires_at=expires_at),  # noqa: S106
            )
    except IntegrityError:
        return False
    return True
