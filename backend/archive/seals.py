"""Seal numbers: a seal is on one in-service meter at a time, whichever door writes it.

The rule is the service's, not the database's: seals live in the meter head's JSON list (and in
its immutable versions), where no unique constraint reaches on both backends without a second,
derived copy of every seal. Every writer of a meter's seals asks `seal_holder` or
`check_seals_free`: REST (a new meter, a change; the import's updates take the same
`change_meter`, and its rows carry no seals), seal events (REST and sync) and field
verification (when pushed, and again when applied).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, String, cast, or_, select, true
from sqlalchemy.orm import Session

from backend.archive.records import Meter
from backend.errors import Conflict

IN_SERVICE = "in_service"
# The longest run of characters that JSON text spells the same on both backends (no escapes):
# a LIKE on it narrows the meters to read; the exact comparison is made here.
_PLAIN = re.compile(r"[A-Za-z0-9-]+")


class SealTaken(Conflict):
    """A seal number is on another in-service meter (`seal_number`, `meter_id`, `meter_number`)."""

    slug, title = "seal-taken", "Seal on another meter"


def _mentions(seal: str) -> ColumnElement[bool]:
    plain = max(_PLAIN.findall(seal), key=len, default="")
    return cast(Meter.seals, String).like(f"%{plain}%") if plain else true()


def seal_holder(
    session: Session, *, seals: Iterable[str], meter_id: uuid.UUID | None = None
) -> tuple[str, Meter] | None:
    """The first of `seals` that an in-service meter other than `meter_id` carries, and it."""
    wanted = list(dict.fromkeys(seals))
    if not wanted:
        return None
    query = select(Meter).where(Meter.status == IN_SERVICE, or_(*map(_mentions, wanted)))
    if meter_id is not None:
        query = query.where(Meter.id != meter_id)
    holders = list(session.scalars(query.order_by(Meter.number)))
    for seal in wanted:
        for meter in holders:
            if seal in (meter.seals or []):
                return seal, meter
    return None


def check_seals_free(
    session: Session, *, seals: Iterable[str], meter_id: uuid.UUID | None = None
) -> None:
    """Raise `SealTaken` (409, naming the other meter) if another in-service meter has a seal."""
    found = seal_holder(session, seals=seals, meter_id=meter_id)
    if found is not None:
        seal, other = found
        raise SealTaken(
            f"Seal {seal} is on meter {other.number} already; remove it there first.",
            seal_number=seal, meter_id=str(other.id), meter_number=other.number,
        )  # fmt: skip
