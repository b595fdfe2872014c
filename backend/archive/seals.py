"""Seal numbers: a seal is on one in-service meter at a time, whichever door writes it.

Seals live in the meter head's JSON list (and in its immutable versions), where no unique
constraint reaches; `InServiceSeal` is their derived copy for meters in service, one row a
seal, keyed by the seal number. A flush hook keeps it in step with the meters in the same
transaction, so the key is the rule: two transactions that put one seal on two meters cannot
both commit (PostgreSQL makes the second wait for the first, then refuses it; SQLite has one
writer at a time). Writers still ask `check_seals_free` (or `seal_holder` and
`where_taken`) first, for a 409 before anything is written: REST (a new meter, a change; the
import's updates take the same `change_meter`, and its rows carry no seals), seal events (REST
and sync) and field verification (when pushed, and again when applied).

The refusal names the other meter only to a caller who may read it (the scope check of
`GET /meters/{id}`); anyone else learns that the seal is in use, not where: seal numbers are
sequential, so naming the meter would map seals to meters across departments. The key's own
refusal (a race the check missed) knows no caller, so it never names the meter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, ForeignKey, String, delete, event, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.archive.records import Meter
from backend.auth.actor import Actor
from backend.auth.policy import Action, can, in_scope
from backend.db import Base
from backend.errors import Conflict

IN_SERVICE = "in_service"


class InServiceSeal(Base):
    """A seal number on an in-service meter (derived from `meters.seals`; unique by its key)."""

    __tablename__ = "in_service_seals"

    seal_number: Mapped[str] = mapped_column(String(), primary_key=True)
    meter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("meters.id"), index=True)


class SealTaken(Conflict):
    """A seal number is on another in-service meter.

    Extensions: `seal_number`; `meter_id` and `meter_number` when the caller may read that meter.
    """

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


def may_read_meter(session: Session, actor: Actor, meter: Meter) -> bool:
    """Whether `GET /meters/{id}` would show the caller this meter (role and scope)."""
    return actor.kind == "system" or (
        can(actor, Action.ARCHIVE_READ) and in_scope(session, actor, meter)
    )


def where_taken(session: Session, actor: Actor, seal: str, other: Meter) -> str:
    """Say where the seal is: on which meter only to a caller who may read that meter."""
    if may_read_meter(session, actor, other):
        return f"Seal {seal} is on meter {other.number} already"
    return f"Seal {seal} is in use on another meter"


def seal_taken(session: Session, actor: Actor, seal: str, other: Meter) -> SealTaken:
    """The 409 for a seal on `other`, naming it only to a caller who may read it."""
    detail = f"{where_taken(session, actor, seal, other)}; remove it there first."
    if may_read_meter(session, actor, other):
        return SealTaken(
            detail, seal_number=seal, meter_id=str(other.id), meter_number=other.number
        )
    return SealTaken(detail, seal_number=seal)


def check_seals_free(
    session: Session, *, actor: Actor, seals: Iterable[str], meter_id: uuid.UUID | None = None
) -> None:
    """Raise `SealTaken` (409) if another in-service meter has one of the seals."""
    found = seal_holder(session, seals=seals, meter_id=meter_id)
    if found is not None:
        raise seal_taken(session, actor, *found)


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
    committed the seal first) undoes only itself and raises `SealTaken`; a flush knows no
    caller, so it names the seal but not the meter.
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
            seal = found[0]
            detail = f"Seal {seal} is in use on another meter; remove it there first."
            raise SealTaken(detail, seal_number=seal) from None
        savepoint.commit()


def install_listeners() -> None:
    """Register the seal copy's flush hook on every Session (called by `backend.wiring`)."""
    if not event.contains(Session, "after_flush", copy_seals):
        event.listen(Session, "after_flush", copy_seals)
