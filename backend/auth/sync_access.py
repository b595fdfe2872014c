"""Who may sync what: the caller's scope, the check of each push, the records it points at.

Every domain's sync adapters (`backend/<domain>/sync_adapters.py`) use these.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

from backend.auth import policy
from backend.auth.actor import Actor
from backend.auth.guard import current_actor, requires
from backend.dispatch.models import WorkOrder
from backend.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    Problem,
    field_error,
)
from backend.inspection.models import Inspection
from backend.unit_of_work import request_session
from sync.entities import EntitySpec, RejectionError
from sync.protocol import Op, RejectReason
from sync.registry import SyncActor


def sync_actor(session: Session, actor: Actor) -> SyncActor:
    """Reduce an authenticated actor to its sync scope and permissions (from the policy)."""
    crew_bound = policy.crew_bound(actor)
    if crew_bound:  # devices and crew members: their crew's records, their station's reference
        departments = frozenset({actor.department_id})
    else:
        departments = frozenset(session.scalars(policy.department_filter(actor)))
    return SyncActor(
        name=actor.audit_name,
        kind=actor.kind,
        department_id=actor.department_id,
        crew_id=actor.crew_id,
        crew_ids=actor.crew_ids,
        department_ids=departments,
        can_resolve=policy.can(actor, policy.Action.CONFLICT_RESOLVE),
        can_upload=policy.can(actor, policy.Action.UPLOAD_BLOB),
        crew_scoped=crew_bound and actor.kind == "user",
        unreadable=frozenset(
            entity
            for entity, action in policy.SYNC_READ_ACTIONS.items()
            if not policy.can(actor, action)
        ),
        origin=actor,
    )


def backend_actor(actor: SyncActor) -> Actor:
    """Return the backend actor behind a sync actor (services take it explicitly)."""
    assert isinstance(actor.origin, Actor)  # noqa: S101 - sync_actor always sets it
    return actor.origin


def request_actor() -> SyncActor:
    """The sync actor of the current request (the caller must hold `Action.SYNC`)."""
    actor: Actor = requires(policy.Action.SYNC)(current_actor)()
    return sync_actor(request_session(), actor)


def permit(spec: EntitySpec) -> Callable[[SyncActor, str], str | None]:
    """Return the role check of pushes of one entity (the policy's `SYNC_ACTIONS`).

    Deny by default: an op the entity accepts but no rule grants is refused for everyone.
    """

    def permit(actor: SyncActor, op: str) -> str | None:
        action = policy.sync_action(spec.name, op)
        if action is None:
            if spec.allows(Op(op)):
                return f"no rule lets anyone {op} {spec.name} records"
            return None  # the entity's merge policy refuses the op itself (op-not-allowed)
        caller = backend_actor(actor)
        if not policy.can(caller, action):
            who = "device credentials" if caller.kind == "device" else f"role '{caller.role}'"
            return f"{who} may not {policy.RULES[action].summary}"
        return None

    return permit


def read_scope(entity: str, clause: Callable[[Actor], Any]) -> Callable[[SyncActor], Any]:
    """Return what a caller may read of an entity: its REST read action, then its scope.

    The policy's `SYNC_READ_ACTIONS` names the action; `clause` is the entity's scope as a
    WHERE clause (the same function its REST door uses).
    """
    action = policy.SYNC_READ_ACTIONS[entity]

    def scope(actor: SyncActor) -> Any:
        caller = backend_actor(actor)
        return clause(caller) if policy.can(caller, action) else false()

    return scope


def field_records(entity: str, model: Any, **actions: policy.Action) -> Callable[[SyncActor], Any]:
    """The read scope of field records (`policy.field_record_filter`)."""
    return read_scope(entity, lambda caller: policy.field_record_filter(caller, model, **actions))


def of_orders(entity: str, model: Any) -> Callable[[SyncActor], Any]:
    """The read scope of an order's records (timing events, fault records): the order's."""
    return read_scope(entity, lambda caller: policy.order_child_filter(caller, model.order_id))


# Records a pushed record may point at; each must be inside the caller's scope.
REFERENCES: dict[str, Any] = {"inspection_id": Inspection, "order_id": WorkOrder}


def references_in_scope(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """Refuse a record that points at an inspection or order the caller may not see."""
    for field_name, model in REFERENCES.items():
        raw = values.get(field_name)
        if not isinstance(raw, str):
            continue
        try:
            target = session.get(model, uuid.UUID(raw))
        except ValueError:
            continue  # the entity spec has already refused a malformed id
        if target is None:
            continue
        # Visible as the policy says (REST and sync agree).
        if isinstance(target, WorkOrder):
            visible = policy.sees_order(session, backend_actor(actor), target)
        else:
            visible = session.scalar(
                select(func.count()).where(
                    model.id == target.id, policy.field_record_filter(backend_actor(actor), model)
                )
            )
        if not visible:
            return f"{field_name} {raw} is outside your scope"
    return None


def refuse_foreign_blob(session: Session, actor: Actor, sha256: str | None, field: str) -> None:
    """A record written over REST names a blob only as a pushed record may (`may_reference`).

    Naming a blob makes it readable with the record: only one the caller uploads, uploaded or
    may read already (or one nobody has sent yet) — never a hash copied from someone else's.
    """
    from sync.blobs.scope import may_reference
    from sync.registry import registry

    if sha256 and not may_reference(session, sync_actor(session, actor), registry, sha256.lower()):
        raise field_error(
            field, "A blob of someone else's that you may not read; upload the file yourself."
        )


def rejection(exc: Problem) -> RejectionError:
    """Turn a service's refusal into the sync protocol's rejection reason."""
    if isinstance(exc, Forbidden):
        return RejectionError(RejectReason.OUT_OF_SCOPE, exc.detail)
    if isinstance(exc, NotFound):
        return RejectionError(RejectReason.NOT_FOUND, exc.detail)
    if isinstance(exc, InvalidTransition):
        return RejectionError(RejectReason.SERVER_STATE, exc.detail)
    if isinstance(exc, Conflict):  # e.g. the order was recalled from the crew
        return RejectionError(RejectReason.OUT_OF_SCOPE, exc.detail)
    return RejectionError(RejectReason.INVALID_VALUE, exc.detail)
