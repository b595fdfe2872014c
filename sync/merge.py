"""The merge engine: how one device mutation meets the server's copy of its record.

Pure functions over plain data. The store loads the `ServerRecord`, calls
`merge`, stores `MergeResult.writes` (and tombstones on `delete`) under one
new change number, and answers with `MergeResult.verdict`.

Two tables decide everything, and read top to bottom:

- `RECORD_RULES`: (op, does the record exist?) -> what happens to the record;
- `RULES`: (field kind, did the server change the field since the client's
  base_version?, are both values equal?) -> what happens to the field.

A mutation is judged field by field. Fields that do not conflict are applied
even when another field of the same mutation conflicts: the crew's fault
record must not be lost because a dispatcher edited the remarks meanwhile.
The verdict is `conflict` if any field (or set key) conflicts, else `merged`
if any field kept the server's value (a state machine refused to go back),
else `applied`. Anything refused (unknown field, bad value, server-owned
field, missing/deleted record...) rejects the whole mutation and writes nothing.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from uuid import UUID

from sync.entities import EntitySpec, FieldKind, FieldSpec, RejectionError
from sync.protocol import FieldConflict, Mutation, Op, Problem, RejectReason, Verdict, VerdictKind


@dataclass(frozen=True)
class ServerRecord:
    """The server's copy of one record, as the merge engine sees it.

    Attributes:
        id: The record's UUID.
        version: Change number of the record's last change (0: never stored).
        fields: Current values; a SET field holds its whole map.
        field_versions: Change number of each field's last change (absent: never set).
        key_versions: For SET fields, the change number of each key's last change.
        deleted: A tombstone. The store keeps tombstone ids for good (purging the
            row but not the id), or a replayed create would resurrect the record.
    """

    id: UUID
    version: int
    fields: Mapping[str, object]
    field_versions: Mapping[str, int] = field(default_factory=dict)
    key_versions: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    deleted: bool = False


@dataclass(frozen=True)
class Writes:
    """Field values to store under one new change number.

    `values` holds whole new values (a SET field's whole merged map) for the
    fields that change; `changed_keys` names, per SET field, the keys whose
    key version moves too.
    """

    values: Mapping[str, object] = field(default_factory=dict)
    changed_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MergeResult:
    """What merging one mutation decided.

    Attributes:
        kind: The verdict (never `duplicate`: replays are the store's business).
        writes: What to store; empty when nothing changes.
        conflicts: Fields (or set keys) kept at the server's value, for the conflict queue.
        applied_fields: Client fields that now hold the client's value.
        delete: Tombstone the record.
        reason: Why a `rejected` mutation was refused.
        detail: Human explanation of the rejection.
    """

    kind: VerdictKind
    writes: Writes = field(default_factory=Writes)
    conflicts: tuple[FieldConflict, ...] = ()
    applied_fields: tuple[str, ...] = ()
    delete: bool = False
    reason: RejectReason | None = None
    detail: str = ""

    @classmethod
    def rejected(cls, reason: RejectReason, detail: str) -> "MergeResult":
        """Build the result of a refused mutation."""
        return cls(VerdictKind.REJECTED, reason=reason, detail=detail)

    @property
    def changes(self) -> bool:
        """Return whether the store has anything to write."""
        return bool(self.writes.values) or self.delete

    def verdict(self, mutation: Mutation, version: int | None) -> Verdict:
        """Return the wire verdict, given the record's version after the push."""
        problem = None
        if self.reason is not None:
            problem = Problem.for_reason(self.reason, self.detail)
        return Verdict(
            mutation_id=mutation.mutation_id,
            kind=self.kind,
            entity=mutation.entity,
            id=mutation.id,
            version=version,
            conflicts=self.conflicts,
            problem=problem,
            applied_fields=self.applied_fields,
        )


class Presence(StrEnum):
    """Whether the server holds the mutated record."""

    MISSING = "missing"
    LIVE = "live"
    TOMBSTONE = "tombstone"


class RecordAction(StrEnum):
    """What a mutation does to its record as a whole."""

    CREATE = "create"  # new record from the client's fields
    REPLAY = "replay"  # create of a live id: merge against base 0; append-only: must be identical
    MERGE = "merge"  # field by field, by RULES
    DELETE = "delete"  # tombstone, unless the server changed the record since base_version
    NOT_FOUND = "not_found"  # reject
    DELETED = "deleted"  # reject: tombstones are never resurrected


class Action(StrEnum):
    """What happens to one field."""

    KEEP = "keep"  # values equal: nothing to write, nothing to report
    TAKE_CLIENT = "take_client"  # write the client's value
    CONFLICT = "conflict"  # keep the server's value, report both to the conflict queue
    FORWARD = "forward"  # the state machine picks: forward moves win, terminal states stay
    MERGE_KEYS = "merge_keys"  # SET: the SCALAR rows, key by key, with key versions
    UNION = "union"  # APPEND: add the client's items the server lacks
    REJECT = "reject"  # READONLY: a device may not change a server-owned field


# fmt: off
RECORD_RULES: Mapping[tuple[Op, Presence], RecordAction] = MappingProxyType({
    (Op.CREATE, Presence.MISSING):   RecordAction.CREATE,
    (Op.CREATE, Presence.LIVE):      RecordAction.REPLAY,
    (Op.CREATE, Presence.TOMBSTONE): RecordAction.DELETED,
    (Op.APPEND, Presence.MISSING):   RecordAction.CREATE,
    (Op.APPEND, Presence.LIVE):      RecordAction.REPLAY,
    (Op.APPEND, Presence.TOMBSTONE): RecordAction.DELETED,
    (Op.UPDATE, Presence.MISSING):   RecordAction.NOT_FOUND,
    (Op.UPDATE, Presence.LIVE):      RecordAction.MERGE,
    (Op.UPDATE, Presence.TOMBSTONE): RecordAction.DELETED,
    (Op.DELETE, Presence.MISSING):   RecordAction.NOT_FOUND,
    (Op.DELETE, Presence.LIVE):      RecordAction.DELETE,
    (Op.DELETE, Presence.TOMBSTONE): RecordAction.DELETED,
})

RULES: Mapping[tuple[FieldKind, bool, bool], Action] = MappingProxyType({
    # kind               server changed  equal      action
    (FieldKind.SCALAR,   False,          False):    Action.TAKE_CLIENT,
    (FieldKind.SCALAR,   True,           False):    Action.CONFLICT,
    (FieldKind.SCALAR,   False,          True):     Action.KEEP,
    (FieldKind.SCALAR,   True,           True):     Action.KEEP,
    (FieldKind.STATE,    False,          False):    Action.FORWARD,
    (FieldKind.STATE,    True,           False):    Action.FORWARD,
    (FieldKind.STATE,    False,          True):     Action.KEEP,
    (FieldKind.STATE,    True,           True):     Action.KEEP,
    (FieldKind.SET,      False,          False):    Action.MERGE_KEYS,
    (FieldKind.SET,      True,           False):    Action.MERGE_KEYS,
    (FieldKind.SET,      False,          True):     Action.KEEP,
    (FieldKind.SET,      True,           True):     Action.KEEP,
    (FieldKind.APPEND,   False,          False):    Action.UNION,
    (FieldKind.APPEND,   True,           False):    Action.UNION,
    (FieldKind.APPEND,   False,          True):     Action.KEEP,
    (FieldKind.APPEND,   True,           True):     Action.KEEP,
    (FieldKind.READONLY, False,          False):    Action.REJECT,
    (FieldKind.READONLY, True,           False):    Action.REJECT,
    (FieldKind.READONLY, False,          True):     Action.KEEP,
    (FieldKind.READONLY, True,           True):     Action.KEEP,
})
# fmt: on


def merge(spec: EntitySpec, server: ServerRecord | None, mutation: Mutation) -> MergeResult:
    """Merge one mutation into the server's copy of its record.

    Args:
        spec: The policy of `mutation.entity` (see `unknown_entity` when there is none).
        server: The stored record, a tombstone, or None when the id was never stored.
        mutation: The device's change.

    Returns:
        The verdict kind, what to write, conflicts, and the reason of a rejection.
    """
    if mutation.entity != spec.name:
        raise ValueError(f"mutation for {mutation.entity!r} merged with the {spec.name!r} spec")
    try:
        return _merge(spec, server, mutation)
    except RejectionError as rejection:
        return MergeResult.rejected(rejection.reason, rejection.detail)


def unknown_entity(mutation: Mutation) -> MergeResult:
    """Return the rejection of a mutation for an entity no spec declares."""
    detail = f"no synced entity is named {mutation.entity!r}"
    return MergeResult.rejected(RejectReason.UNKNOWN_ENTITY, detail)


def _merge(spec: EntitySpec, server: ServerRecord | None, mutation: Mutation) -> MergeResult:
    if not spec.allows(mutation.op):
        allowed = ", ".join(op.value for op in Op if spec.allows(op)) or "nothing"
        detail = f"{spec.name} does not accept {mutation.op.value} (it accepts {allowed})"
        raise RejectionError(RejectReason.OP_NOT_ALLOWED, detail)
    values = spec.normalize(mutation.fields)
    if mutation.op in (Op.CREATE, Op.APPEND):
        _require(spec, values)
    action = RECORD_RULES[(mutation.op, _presence(server))]
    name = f"{spec.name} {mutation.id}"
    if action is RecordAction.NOT_FOUND:
        raise RejectionError(RejectReason.NOT_FOUND, f"{name} does not exist")
    if action is RecordAction.DELETED:
        raise RejectionError(RejectReason.DELETED, f"{name} was deleted")
    if server is None:  # RECORD_RULES leaves only CREATE for a missing record
        return _create(spec, mutation.id, values)
    # An update without base_version (only possible off the wire) is treated as
    # based on nothing: every server change counts as concurrent, so it cannot
    # silently overwrite one.
    base = mutation.base_version or 0
    if base > server.version:
        detail = f"base_version {base} is newer than {name}'s version {server.version}"
        raise RejectionError(RejectReason.FUTURE_BASE, detail)
    if action is RecordAction.DELETE:
        return _delete(spec, server, base)
    if action is RecordAction.REPLAY and spec.append_only:
        return _replay_append(spec, server, values)
    return _merge_fields(spec, server, values, base, creating=False)


def _presence(server: ServerRecord | None) -> Presence:
    if server is None:
        return Presence.MISSING
    return Presence.TOMBSTONE if server.deleted else Presence.LIVE


def _require(spec: EntitySpec, values: Mapping[str, object]) -> None:
    missing = [n for n, f in spec.fields.items() if f.required and values.get(n) is None]
    if missing:
        detail = f"{spec.name} needs {', '.join(missing)} when created"
        raise RejectionError(RejectReason.MISSING_FIELD, detail)


def _create(spec: EntitySpec, record_id: UUID, values: dict[str, object]) -> MergeResult:
    if spec.append_only:
        return MergeResult(VerdictKind.APPLIED, Writes(values), applied_fields=tuple(values))
    # A new mutable record is the client's fields merged into an empty record,
    # so the same rules (state machine, server-owned fields) hold on create.
    empty = ServerRecord(id=record_id, version=0, fields={})
    return _merge_fields(spec, empty, values, base=0, creating=True)


def _delete(spec: EntitySpec, server: ServerRecord, base: int) -> MergeResult:
    status = server.fields.get(spec.status_field or "")
    if status not in spec.deletable_in:
        allowed = ", ".join(sorted(spec.deletable_in))
        detail = f"{spec.name} can be deleted only while {allowed}, not {status}"
        raise RejectionError(RejectReason.OP_NOT_ALLOWED, detail)
    if server.version > base:
        # Deleting would silently drop a change the device has not seen.
        detail = f"{spec.name} changed on the server after version {base}; pull and retry"
        raise RejectionError(RejectReason.STALE, detail)
    return MergeResult(VerdictKind.APPLIED, delete=True)


def _replay_append(
    spec: EntitySpec, server: ServerRecord, values: dict[str, object]
) -> MergeResult:
    differing = [
        name for name in spec.fields if not same(server.fields.get(name), values.get(name))
    ]
    if differing:
        detail = f"{spec.name} {server.id} exists with a different {', '.join(differing)}"
        raise RejectionError(RejectReason.ID_REUSED, detail)
    return MergeResult(VerdictKind.APPLIED, applied_fields=tuple(values))


@dataclass(frozen=True)
class _Outcome:
    """What one field contributes to the result."""

    write: bool = False
    value: object = None
    keys: frozenset[str] = frozenset()
    conflicts: tuple[FieldConflict, ...] = ()
    as_sent: bool = True


def _merge_fields(
    spec: EntitySpec,
    server: ServerRecord,
    values: Mapping[str, object],
    base: int,
    *,
    creating: bool,
) -> MergeResult:
    writes: dict[str, object] = {}
    changed_keys: dict[str, frozenset[str]] = {}
    conflicts: list[FieldConflict] = []
    applied: list[str] = []
    for name, value in values.items():
        outcome = _merge_field(name, spec.fields[name], server, value, base, creating=creating)
        if outcome.write:
            writes[name] = outcome.value
        if outcome.keys:
            changed_keys[name] = outcome.keys
        conflicts.extend(outcome.conflicts)
        if outcome.as_sent:
            applied.append(name)
    if conflicts:
        kind = VerdictKind.CONFLICT
    elif len(applied) < len(values):
        kind = VerdictKind.MERGED
    else:
        kind = VerdictKind.APPLIED
    return MergeResult(kind, Writes(writes, changed_keys), tuple(conflicts), tuple(applied))


def _merge_field(
    name: str, spec: FieldSpec, server: ServerRecord, value: object, base: int, *, creating: bool
) -> _Outcome:
    # A READONLY field a device may set on create is an ordinary value until then.
    kind = FieldKind.SCALAR if creating and spec.on_create else spec.kind
    current = server.fields.get(name)
    changed = server.field_versions.get(name, 0) > base
    action = RULES[(kind, changed, _equal(kind, current, value))]
    if action is Action.KEEP:
        return _Outcome()
    if action is Action.TAKE_CLIENT:
        return _Outcome(write=True, value=value)
    if action is Action.CONFLICT:
        return _Outcome(conflicts=(FieldConflict(name, current, value),), as_sent=False)
    if action is Action.FORWARD:
        return _forward(name, spec, current, value)
    if action is Action.MERGE_KEYS:
        return _merge_keys(name, server, current, value, base)
    if action is Action.UNION:
        return _union(current, value)
    raise RejectionError(RejectReason.READONLY_FIELD, f"{name} is set by the server only")


def _equal(kind: FieldKind, current: object, value: object) -> bool:
    """Whether the client's value is already what the server holds (SET: a patch)."""
    if kind is FieldKind.SET and isinstance(value, Mapping):
        held = current if isinstance(current, Mapping) else {}
        return all(same(held.get(key), item) for key, item in value.items())
    if kind is FieldKind.APPEND and isinstance(value, list):
        held_items = current if isinstance(current, list) else []
        return all(any(same(item, held) for held in held_items) for item in value)
    return same(current, value)


def _forward(name: str, spec: FieldSpec, current: object, value: object) -> _Outcome:
    machine = spec.machine
    if machine is None:
        raise ValueError(f"STATE field {name} has no state machine")
    if value not in machine.device_states:
        detail = f"{name} {value!r} is set by the server only"
        raise RejectionError(RejectReason.SERVER_STATE, detail)
    if current is None or machine.forward(str(current), str(value)) == value:
        return _Outcome(write=True, value=value)
    return _Outcome(as_sent=False)


def _merge_keys(
    name: str, server: ServerRecord, current: object, patch: object, base: int
) -> _Outcome:
    held: Mapping[str, object] = current if isinstance(current, Mapping) else {}
    sent: Mapping[str, object] = patch if isinstance(patch, Mapping) else {}
    key_versions = server.key_versions.get(name, {})
    # A key the store holds without a key version counts as changed with the
    # field: a spurious conflict is better than a lost update.
    fallback = server.field_versions.get(name, 0)
    taken: dict[str, object] = {}
    conflicts: list[FieldConflict] = []
    for key, item in sent.items():
        key_version = key_versions.get(key, fallback if key in held else 0)
        action = RULES[(FieldKind.SCALAR, key_version > base, same(held.get(key), item))]
        if action is Action.TAKE_CLIENT:
            taken[key] = item
        elif action is Action.CONFLICT:
            conflicts.append(FieldConflict(name, held.get(key), item, key=key))
    return _Outcome(
        write=bool(taken),
        value={**held, **taken},
        keys=frozenset(taken),
        conflicts=tuple(conflicts),
        as_sent=not conflicts,
    )


def _union(current: object, value: object) -> _Outcome:
    if not isinstance(value, list):
        # A single APPEND value is written once and then stays.
        if current is None:
            return _Outcome(write=True, value=value)
        return _Outcome(as_sent=False)
    merged = list(current) if isinstance(current, list) else []
    for item in value:
        if not any(same(item, held) for held in merged):
            merged.append(item)
    return _Outcome(write=True, value=merged)


def same(left: object, right: object) -> bool:
    """Compare two JSON values; unlike `==`, true is not 1 and false is not 0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(same, left, right))
    return left == right


def apply_writes(record: ServerRecord, writes: Writes, version: int) -> ServerRecord:
    """Return `record` after storing `writes` under change number `version`."""
    if not writes.values:
        return record
    key_versions = {name: dict(keys) for name, keys in record.key_versions.items()}
    for name, keys in writes.changed_keys.items():
        key_versions.setdefault(name, {}).update(dict.fromkeys(keys, version))
    return replace(
        record,
        version=version,
        fields={**record.fields, **writes.values},
        field_versions={**record.field_versions, **dict.fromkeys(writes.values, version)},
        key_versions=key_versions,
    )


def apply_result(
    server: ServerRecord | None, mutation: Mutation, result: MergeResult, version: int
) -> ServerRecord | None:
    """Return the record after storing `result` under change number `version`, as the store does."""
    if server is not None and result.delete:
        return replace(server, version=version, deleted=True)
    if not result.writes.values:
        return server
    return apply_writes(server or ServerRecord(mutation.id, 0, {}), result.writes, version)


class Resolution(StrEnum):
    """A dispatcher's decision on a queued conflict."""

    TAKE_SERVER = "take_server"
    TAKE_CLIENT = "take_client"
    EDIT = "edit"


class ResolveError(Exception):
    """A conflict that cannot be resolved as asked."""

    type = "sync-conflict-unresolvable"
    title = "Conflict cannot be resolved"


class StaleConflictError(ResolveError):
    """The server value moved on since the conflict was queued; show it again."""

    type = "sync-conflict-stale"
    title = "Conflict is out of date"


def resolve_conflict(
    spec: EntitySpec,
    server: ServerRecord,
    conflict: FieldConflict,
    resolution: Resolution,
    edited: object = None,
) -> Writes:
    """Return what to store to settle a queued conflict.

    Args:
        spec: The policy of the conflicted record's entity.
        server: The record as stored now.
        conflict: The queued conflict (field, optional set key, both values).
        resolution: Keep the server's value, take the client's, or store `edited`.
        edited: The dispatcher's value, for `Resolution.EDIT`.

    Returns:
        The writes (empty when the stored value already is the chosen one).

    Raises:
        ResolveError: The field cannot be in conflict, the record is deleted, or
            `edited` is not a valid value.
        StaleConflictError: The stored value is no longer the conflict's server value.
    """
    field_spec = spec.fields.get(conflict.field)
    is_set = field_spec is not None and field_spec.kind is FieldKind.SET
    if field_spec is None or field_spec.kind not in (FieldKind.SCALAR, FieldKind.SET):
        raise ResolveError(f"{spec.name}.{conflict.field} never conflicts")
    if is_set != (conflict.key is not None):
        raise ResolveError(f"{spec.name}.{conflict.field}: a set key is needed exactly for sets")
    if server.deleted:
        raise ResolveError(f"{spec.name} {server.id} was deleted")
    current = server.fields.get(conflict.field)
    held: Mapping[str, object] = current if isinstance(current, Mapping) else {}
    stored = held.get(conflict.key) if conflict.key is not None else current
    if not same(stored, conflict.server):
        raise StaleConflictError(f"{spec.name}.{conflict.field} changed since the conflict")
    if resolution is Resolution.TAKE_SERVER:
        return Writes()
    chosen = conflict.client if resolution is Resolution.TAKE_CLIENT else edited
    sent = {conflict.key: chosen} if conflict.key is not None else chosen
    try:
        value = spec.normalize({conflict.field: sent})[conflict.field]
    except RejectionError as exc:
        raise ResolveError(exc.detail) from exc
    if conflict.key is None:
        return Writes() if same(value, stored) else Writes({conflict.field: value})
    item = value[conflict.key] if isinstance(value, Mapping) else None
    if same(item, stored):
        return Writes()
    return Writes(
        {conflict.field: {**held, conflict.key: item}}, {conflict.field: frozenset({conflict.key})}
    )
