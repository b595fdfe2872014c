"""Seal numbers: a seal is on one in-service meter at a time, whichever door writes it.

Seals live in the meter head's JSON list (and in its immutable versions), where no unique
constraint reaches; `InServiceSeal` is their derived copy for meters in service, one row a
seal, keyed by the seal number. A flush hook keeps it in step with the meters in the same
transaction, so the key is the rule: two transactions that put one seal on two meters cannot
both commit (PostgreSQL makes the second wait for the first, then refuses it; SQLite has one
writer at a time). Writers still ask `check_seals_free` (or `seal_holder`) first, for a 409
that names the other meter before anything is written: REST (a new meter, a change; the
import's updates take the same `change_meter`, and its rows carry no seals), seal events (REST
and sync) and field verification (when pushed, and again when applied).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, ForeignKey, String, delete, event, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.archive.records import Meter
from backend.db import Base
from backend.errors import Conflict

IN_SERVICE = "in_service"


class InServiceSeal(Base):
    """A seal number on an in-service meter (derived from `meters.seals`; unique by its key)."""

    __tablename__ = "in_service_seals"

    seal_number: Mapped[str] = mapped_column(String(), primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), index=True)


class SealTaken(Conflict):
    """A seal number is on another in-service meter (`seal_number`, `meter_id`, `meter_number`)."""

    slug, title = "seal-taken", "Seal on another meter"


def _holders(
    db: Session | Connection, seals: list[str], meter_id: uuid.UUID | None
) -> tuple[str, uuid.UUID, str] | None:
    """The first of `seals` on an in-service meter other than `meter_id`: (seal, id, number).

    Asked of a session, the query autoflushes as any other read (the copy then holds this
    transaction's pending meters too); asked of the connection, from within a flush.
    """
    query = (
        select(InServiceSeal.seal_number, Meter.id, Meter.number)
        .join(Meter, Meter.id == InServiceSeal.meter_id)
        .where(InServiceSeal.seal_number.in_(seals))
    )
    if meter_id is not None:
        query = query.where(InServiceSeal.meter_id != meter_id)
    found = {seal: (seal, other, number) for seal, other, number in db.execute(query)}
    return next((found[seal] for seal in seals if seal in found), None)


def seal_holder(
    session: Session, *, seals: Iterable[str], meter_id: uuid.UUID | None = None
) -> tuple[str, Meter] | None:
    """The first of `seals` that an in-service meter other than `meter_id` carries, and it."""
    wanted = list(dict.fromkeys(seals))
    if not wanted:
        return None
    found = _holders(session, wanted, meter_id)
    if found is None:
        return None
    meter = session.get(Meter, found[1])
    assert meter is not None  # noqa: S101 - a foreign key
    return found[0], meter


def _taken(seal: str, meter_id: uuid.UUID, number: str) -> SealTaken:
    return SealTaken(
        f"Seal {seal} is on meter {number} already; remove it there first.",
        seal_number=seal, meter_id=str(meter_id), meter_number=number,
    )  # fmt: skip


def check_seals_free(
    session: Session, *, seals: Iterable[str], meter_id: uuid.UUID | None = None
) -> None:
    """Raise `SealTaken` (409, naming the other meter) if another in-service meter has a seal."""
    found = seal_holder(session, seals=seals, meter_id=meter_id)
    if found is not None:
        seal, other = found
        raise _taken(seal, other.id, other.number)


def _seals_moved(session: Session) -> list[Meter]:
    """The meters this flush adds, or whose seals or status it changes."""
    return [
        m
        for m in (*session.new, *session.dirty)
        if isinstance(m, Meter)
        and (
            m in session.new
            or any(inspect(m).attrs[name].history.has_changes() for name in ("seals", "status"))
        )
    ]


def copy_seals(session: Session, flush_context: Any) -> None:
    """Bring `in_service_seals` in step with the meters this flush wrote (an after_flush hook).

    All the flush's old rows go first, so a seal moved between two meters in one flush is
    free again before it is claimed. A claim refused by the key (a concurrent transaction
    committed the seal first) undoes only itself and raises `SealTaken` naming that meter.
    """
    meters = _seals_moved(session)
    if not meters:
        return
    connection = session.connection()
    table = InServiceSeal.__table__
    connection.execute(delete(table).where(table.c.meter_id.in_(sorted(m.id for m in meters))))
    for meter in meters:
        seals = list(dict.fromkeys(meter.seals or [])) if meter.status == IN_SERVICE else []
        if not seals:
            continue
        savepoint = connection.begin_nested()
        try:
            connection.execute(
                insert(table), [{"seal_number": s, "meter_id": meter.id} for s in seals]
            )
        except IntegrityError:
            savepoint.rollback()
            found = _holders(connection, seals, meter.id)
            if found is None:  # pragma: no cover - the key refused a seal nobody holds
                raise
            raise _taken(*found) from None
        savepoint.commit()


def install_listeners() -> None:
    """Register the seal copy's flush hook on every Session (called by `backend.wiring`)."""
    if not event.contains(Session, "after_flush", copy_seals):
        event.listen(Session, "after_flush", copy_seals)
