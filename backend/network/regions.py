"""Region codes -> service contacts; codes match case-insensitively, partial codes resolve."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor, ensure_department_in_scope
from backend.auth.policy import Action, authorize
from backend.errors import Conflict, NotFound, field_error
from backend.network.models import RegionCode


def normal(code: str) -> str:
    """The stored form of a code: trimmed, upper-case."""
    return code.strip().upper()


def resolve(session: Session, text: str | None) -> RegionCode | None:
    """Find the region a (partial, mixed-case) code means, or None when none or ambiguous.

    Exact (case-insensitive) first; then the one code the text starts with, longest first
    ("hz-xihu-3" -> "HZ-XIHU"); then the one code starting with the text ("xi" -> "XIHU").
    """
    if not text or not text.strip():
        return None
    wanted = normal(text)
    exact = session.get(RegionCode, wanted)
    if exact is not None:
        return exact
    codes = list(session.scalars(select(RegionCode.code)))
    prefixes = sorted((c for c in codes if wanted.startswith(c)), key=len, reverse=True)
    if prefixes:
        return session.get(RegionCode, prefixes[0])
    extending = [c for c in codes if c.startswith(wanted)]
    return session.get(RegionCode, extending[0]) if len(extending) == 1 else None


def listing(*, actor: Actor) -> Select[tuple[RegionCode]]:
    """Return a select of every region code."""
    authorize(actor, Action.REGION_READ)
    return select(RegionCode).order_by(RegionCode.code)


def get(*, session: Session, actor: Actor, code: str) -> RegionCode:
    """Resolve a code (partial or mixed-case) or raise 404."""
    authorize(actor, Action.REGION_READ)
    region = resolve(session, code)
    if region is None:
        raise NotFound(f"No region code matches {code!r}.")
    return region


def _department(session: Session, actor: Actor, data: dict[str, Any]) -> None:
    if data.get("department_id") is not None and actor.kind != "system":
        try:
            ensure_department_in_scope(session, actor, data["department_id"])
        except NotFound as exc:
            raise field_error("department_id", exc.detail) from exc


def create(*, session: Session, actor: Actor, data: dict[str, Any]) -> RegionCode:
    """Add a region code (stored upper-case; unique case-insensitively)."""
    authorize(actor, Action.REGION_MANAGE)
    code = normal(data["code"])
    if not code:
        raise field_error("code", "A region code is not blank.")
    if session.scalar(select(func.count()).where(RegionCode.code == code)):
        raise Conflict(f"Region code {code} exists.")
    _department(session, actor, data)
    region = RegionCode(**{**data, "code": code})
    session.add(region)
    session.flush()
    return region


def change(*, session: Session, actor: Actor, code: str, changes: dict[str, Any]) -> RegionCode:
    """Change a region's name or service contact (the exact code, any case)."""
    authorize(actor, Action.REGION_MANAGE)
    region = session.get(RegionCode, normal(code))
    if region is None:
        raise NotFound(f"Region code {code!r} does not exist.")
    _department(session, actor, changes)
    for key, value in changes.items():
        setattr(region, key, value)
    session.flush()
    return region


def delete(*, session: Session, actor: Actor, code: str) -> None:
    """Remove a region code (the exact code, any case)."""
    authorize(actor, Action.REGION_MANAGE)
    region = session.get(RegionCode, normal(code))
    if region is None:
        raise NotFound(f"Region code {code!r} does not exist.")
    session.delete(region)
    session.flush()
