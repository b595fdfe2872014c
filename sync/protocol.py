"""Wire types of the offline-sync contract (v1) and validation of push bodies.

The shapes here are what handhelds and vehicle terminals are built against
(DESIGN.md, "Offline sync"): change them only by adding optional parts.

A malformed body (wrong types, bad UUIDs or times, missing or unknown keys,
more than `MAX_BATCH` mutations) is a `ProtocolError`: the whole batch is
refused with field errors. A well-formed mutation that the server cannot
accept (unknown entity, unknown field, bad value, stale or deleted record)
is not a protocol error: it gets its own `rejected` verdict so that one bad
record never blocks a device's outbox. So is a mutation holding text no
database can store (NUL, a lone surrogate) or a time outside years 1-9999 once
in UTC: `parse_push` notes it as the mutation's `defect`, the same on both
backends, and the store rejects just that mutation.
"""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Self

MAX_BATCH = 500
MAX_FIELDS = 200
MAX_NAME_LENGTH = 128

_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# RFC 3339 section 5.6: seconds and an offset are mandatory.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
)


class Op(StrEnum):
    """What a mutation does to its record."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    APPEND = "append"


class VerdictKind(StrEnum):
    """The server's answer to one mutation."""

    APPLIED = "applied"
    MERGED = "merged"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class RejectReason(StrEnum):
    """Why a mutation was rejected; the value is the stable problem `type` slug."""

    UNKNOWN_ENTITY = "sync-unknown-entity"
    UNKNOWN_FIELD = "sync-unknown-field"
    INVALID_VALUE = "sync-invalid-value"
    MISSING_FIELD = "sync-missing-field"
    READONLY_FIELD = "sync-readonly-field"
    SERVER_STATE = "sync-server-state"
    OP_NOT_ALLOWED = "sync-op-not-allowed"
    NOT_FOUND = "sync-not-found"
    DELETED = "sync-deleted"
    FUTURE_BASE = "sync-future-base-version"
    STALE = "sync-stale"
    ID_REUSED = "sync-id-reused"
    OUT_OF_SCOPE = "sync-out-of-scope"
    FORBIDDEN = "sync-forbidden"


REJECT_TITLES: Mapping[RejectReason, str] = {
    RejectReason.UNKNOWN_ENTITY: "Unknown entity",
    RejectReason.UNKNOWN_FIELD: "Unknown field",
    RejectReason.INVALID_VALUE: "Invalid value",
    RejectReason.MISSING_FIELD: "Missing required field",
    RejectReason.READONLY_FIELD: "Field is server-owned",
    RejectReason.SERVER_STATE: "State is set by the server only",
    RejectReason.OP_NOT_ALLOWED: "Operation not allowed on this entity",
    RejectReason.NOT_FOUND: "Record not found",
    RejectReason.DELETED: "Record was deleted",
    RejectReason.FUTURE_BASE: "base_version from the future",
    RejectReason.STALE: "Record changed on the server since base_version",
    RejectReason.ID_REUSED: "Record id already used with different content",
    RejectReason.OUT_OF_SCOPE: "Record is outside the device's scope",
    RejectReason.FORBIDDEN: "Your role may not make this change",
}


@dataclass(frozen=True)
class Problem:
    """RFC 9457 problem detail carried by a `rejected` verdict."""

    type: str
    title: str
    detail: str

    @classmethod
    def for_reason(cls, reason: RejectReason, detail: str) -> Self:
        """Build the problem for a rejection reason."""
        return cls(type=reason.value, title=REJECT_TITLES[reason], detail=detail)

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form."""
        return {"type": self.type, "title": self.title, "detail": self.detail}


@dataclass(frozen=True)
class Mutation:
    """One client change to one record, as sent in a push.

    `defect` (never sent; set by `parse_push`) says why the mutation cannot be stored at all,
    e.g. a NUL character in a field: it is rejected with that reason, alone.
    `mutation_text` and `id_text` are the ids as `str()` spells them (lower case): `parse_push`
    keeps the wire's, so a push of 500 does not format a thousand UUIDs back; else derived.
    """

    mutation_id: uuid.UUID
    entity: str
    id: uuid.UUID
    op: Op
    base_version: int | None
    fields: Mapping[str, object]
    occurred_at: datetime | None
    defect: str | None = field(default=None, compare=False)
    mutation_text: str = field(default="", compare=False, repr=False)
    id_text: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.mutation_text:
            object.__setattr__(self, "mutation_text", str(self.mutation_id))
        if not self.id_text:
            object.__setattr__(self, "id_text", str(self.id))

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form (what `parse_push` accepts)."""
        return {
            "mutation_id": self.mutation_text,
            "entity": self.entity,
            "id": self.id_text,
            "op": self.op.value,
            "base_version": self.base_version,
            "fields": dict(self.fields),
            "occurred_at": None if self.occurred_at is None else format_time(self.occurred_at),
        }


@dataclass(frozen=True)
class PushBatch:
    """A validated `POST /api/v1/sync/push` body; it applies atomically."""

    device_id: str
    batch_id: uuid.UUID
    sent_at: datetime
    mutations: tuple[Mutation, ...]

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form (what `parse_push` accepts)."""
        return {
            "device_id": self.device_id,
            "batch_id": str(self.batch_id),
            "sent_at": format_time(self.sent_at),
            "mutations": [m.to_wire() for m in self.mutations],
        }


@dataclass(frozen=True)
class FieldConflict:
    """A field (or, for a set field, one key) changed on both sides to different values."""

    field: str
    server: object
    client: object
    key: str | None = None

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form."""
        return {"field": self.field, "key": self.key, "server": self.server, "client": self.client}


@dataclass(frozen=True)
class Verdict:
    """The server's answer to one mutation, in the order the mutations were sent.

    `version` is the record's version after the push (None when nothing exists);
    `applied_fields` names the client fields that now hold the client's value;
    `original` is set on a `duplicate` to the kind first returned.
    """

    mutation_id: uuid.UUID
    kind: VerdictKind
    entity: str
    id: uuid.UUID
    version: int | None = None
    conflicts: tuple[FieldConflict, ...] = ()
    problem: Problem | None = None
    applied_fields: tuple[str, ...] = ()
    original: VerdictKind | None = None

    def as_duplicate(self) -> "Verdict":
        """Return this verdict as the answer to a replay of its mutation."""
        if self.kind is VerdictKind.DUPLICATE:
            return self
        return replace(self, kind=VerdictKind.DUPLICATE, original=self.kind)

    def to_wire(self) -> dict[str, object]:
        """Return the JSON-ready form."""
        return {
            "mutation_id": str(self.mutation_id),
            "verdict": self.kind.value,
            "entity": self.entity,
            "id": str(self.id),
            "version": self.version,
            "conflicts": [c.to_wire() for c in self.conflicts],
            "problem": None if self.problem is None else self.problem.to_wire(),
            "applied_fields": list(self.applied_fields),
            "original": None if self.original is None else self.original.value,
        }


class ProtocolError(Exception):
    """A push body that does not follow the wire contract; refuse the whole batch."""

    type = "sync-protocol-error"
    title = "Malformed sync push"

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__(f"malformed push: {sorted(field_errors)}")
        self.field_errors = field_errors


def format_time(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a `Z` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: object) -> datetime | None:
    """Parse an RFC 3339 date-time with offset into an aware UTC datetime, or None if invalid."""
    if not isinstance(value, str) or not _RFC3339_RE.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except ValueError:  # e.g. February 30th: matches the shape, not the calendar
        return None
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        return None


def time_out_of_range(value: object) -> bool:
    """Return whether an RFC 3339 string is a real local time outside years 1-9999 in UTC."""
    if not isinstance(value, str) or not _RFC3339_RE.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper()).astimezone(UTC)
    except OverflowError:
        return True
    except ValueError:
        return False
    return False


def unstorable_text(value: object) -> str | None:
    """Return why some string in a JSON value (keys included) cannot be stored, or None.

    PostgreSQL refuses NUL in text and lone surrogates are not UTF-8; SQLite would keep them.
    Iterative, so a deeply nested value cannot exhaust the stack.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character"
            if _SURROGATE_RE.search(item):
                return "contains a lone UTF-16 surrogate (not valid Unicode)"
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return None


_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")


def _storable_flat(entity: str | None, fields: Mapping[str, object] | None) -> bool:
    """Whether a mutation of flat fields (no object or list values) holds only storable text.

    The common case, answered by one search over all its text; False: look closer.
    """
    texts = [entity or "", *(fields or ())]
    for value in (fields or {}).values():
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, Mapping | list | tuple):
            return False
    return _UNSTORABLE_RE.search("".join(texts)) is None


def storable(value: object) -> object:
    """Return a JSON value with NUL and lone surrogates replaced by U+FFFD (for echoing back)."""
    if isinstance(value, str):
        return _SURROGATE_RE.sub("\ufffd", value.replace("\x00", "\ufffd"))
    if isinstance(value, Mapping):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value


def parse_uuid(value: object) -> uuid.UUID | None:
    """Parse a canonical 8-4-4-4-12 UUID string, or return None if invalid."""
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        return None
    return uuid_of(value)


def uuid_of(text: str) -> uuid.UUID:
    """The UUID of a canonical 8-4-4-4-12 string already checked (`uuid_text`, `parse_uuid`).

    From its integer: `UUID(text)` first strips the URN and brace forms this text cannot have,
    which makes it twice as slow, and a push parses a few UUIDs per mutation.
    """
    return uuid.UUID(int=int(text.replace("-", ""), 16))


def uuid_text(value: object) -> str | None:
    """Return a canonical 8-4-4-4-12 UUID string as `str(UUID(value))` spells it, or None."""
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        return None
    return value.lower()


_BATCH_KEYS = frozenset({"device_id", "batch_id", "sent_at", "mutations"})
_MUTATION_KEYS = frozenset(
    {"mutation_id", "entity", "id", "op", "base_version", "fields", "occurred_at"}
)
_OP_VALUES = frozenset(op.value for op in Op)
_OPS = ", ".join(op.value for op in Op)

MISSING = "Missing data for required field."
UNKNOWN = "Unknown field."
NOT_NULL = "Field may not be null."


class _Errors:
    """Collects field errors under dotted paths such as `mutations.3.id`."""

    def __init__(self) -> None:
        self.by_path: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.by_path.setdefault(path, []).append(message)

    def keys(self, body: Mapping[str, object], allowed: frozenset[str], prefix: str) -> bool:
        """Report missing and unknown keys; return True when all allowed keys are present."""
        if body.keys() == allowed:  # the common case, in one comparison
            return True
        for key in sorted(allowed - body.keys()):
            self.add(prefix + key, MISSING)
        for key in sorted(str(k) for k in body.keys() - allowed):
            self.add(prefix + key, UNKNOWN)
        return allowed <= body.keys()

    def name(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.add(path, "Not a valid string.")
        elif not value.strip():
            self.add(path, "Must not be blank.")
        elif len(value) > MAX_NAME_LENGTH:
            self.add(path, f"Longer than maximum length {MAX_NAME_LENGTH}.")
        else:
            return value
        return None

    def uuid(self, value: object, path: str) -> uuid.UUID | None:
        parsed = parse_uuid(value)
        if parsed is None:
            self.add(path, "Not a valid UUID.")
        return parsed

    def uuid_text(self, value: object, path: str) -> str | None:
        text = uuid_text(value)
        if text is None:
            self.add(path, "Not a valid UUID.")
        return text

    def time(self, value: object, path: str) -> datetime | None:
        parsed = parse_time(value)
        if parsed is None:
            self.add(path, "Not a valid RFC 3339 date-time with offset.")
        return parsed


def parse_push(body: object) -> PushBatch:
    """Validate a decoded push body and return the batch.

    Args:
        body: The decoded JSON request body.

    Returns:
        The batch with parsed UUIDs, UTC datetimes and enum ops.

    Raises:
        ProtocolError: If the body breaks the wire contract; `field_errors`
            maps dotted paths (`mutations.3.base_version`) to messages.
    """
    errors = _Errors()
    if not isinstance(body, Mapping):
        raise ProtocolError({"_schema": ["Invalid input type."]})
    errors.keys(body, _BATCH_KEYS, "")
    device_id = errors.name(body.get("device_id"), "device_id") if "device_id" in body else None
    batch_id = errors.uuid(body.get("batch_id"), "batch_id") if "batch_id" in body else None
    sent_at = errors.time(body.get("sent_at"), "sent_at") if "sent_at" in body else None
    mutations: list[Mutation] = []
    raw = body.get("mutations")
    if "mutations" not in body:
        pass
    elif not isinstance(raw, list):
        errors.add("mutations", "Not a valid list.")
    elif len(raw) > MAX_BATCH:
        errors.add("mutations", f"Longer than maximum length {MAX_BATCH}.")
    else:
        seen: set[str] = set()
        for index, item in enumerate(raw):
            mutation = _parse_mutation(item, f"mutations.{index}.", errors)
            if mutation is None:
                continue
            if mutation.mutation_text in seen:
                errors.add(f"mutations.{index}.mutation_id", "Duplicate mutation_id in batch.")
            seen.add(mutation.mutation_text)
            mutations.append(mutation)
    if errors.by_path or device_id is None or batch_id is None or sent_at is None:
        raise ProtocolError(errors.by_path)
    return PushBatch(device_id, batch_id, sent_at, tuple(mutations))


def _parse_mutation(item: object, prefix: str, errors: _Errors) -> Mutation | None:
    if not isinstance(item, Mapping):
        errors.add(prefix.rstrip("."), "Invalid input type.")
        return None
    before = len(errors.by_path)
    if not errors.keys(item, _MUTATION_KEYS, prefix):
        return None
    mutation_id = errors.uuid_text(item["mutation_id"], prefix + "mutation_id")
    entity = errors.name(item["entity"], prefix + "entity")
    record_id = errors.uuid_text(item["id"], prefix + "id")
    op = _parse_op(item["op"], prefix + "op", errors)
    base_version = _parse_base_version(item["base_version"], op, prefix + "base_version", errors)
    fields = _parse_fields(item["fields"], op, prefix + "fields", errors)
    occurred_at = item["occurred_at"]
    occurred = None if occurred_at is None else parse_time(occurred_at)
    defect = _defect(entity, fields)
    if occurred is None and occurred_at is not None:  # only then tell the two failures apart
        if time_out_of_range(occurred_at):
            defect = defect or f"occurred_at {occurred_at} is outside years 1-9999 in UTC"
        else:
            errors.time(occurred_at, prefix + "occurred_at")
    if (
        len(errors.by_path) > before
        or mutation_id is None
        or entity is None
        or record_id is None
        or op is None
        or fields is None
    ):
        return None
    if defect is not None:
        entity = str(storable(entity))
    return Mutation(
        uuid_of(mutation_id), entity, uuid_of(record_id), op, base_version, fields, occurred,
        defect, mutation_id, record_id,
    )  # fmt: skip


def _defect(entity: str | None, fields: Mapping[str, object] | None) -> str | None:
    """Return why a well-formed mutation cannot be stored (it is rejected alone), or None."""
    if _storable_flat(entity, fields):
        return None
    problem = unstorable_text(entity)
    if problem is not None:
        return f"entity {problem}"
    for name, value in (fields or {}).items():
        problem = unstorable_text(name) or unstorable_text(value)
        if problem is not None:
            return f"fields.{storable(name)} {problem}"
    return None


def _parse_op(value: object, path: str, errors: _Errors) -> Op | None:
    if isinstance(value, str) and value in _OP_VALUES:
        return Op(value)
    errors.add(path, f"Must be one of: {_OPS}.")
    return None


def _parse_base_version(value: object, op: Op | None, path: str, errors: _Errors) -> int | None:
    if value is None:
        if op in (Op.UPDATE, Op.DELETE):
            errors.add(path, "Required for update and delete.")
        return None
    # bool is an int in Python but not in JSON; a float like 3.0 is a client bug.
    if not isinstance(value, int) or isinstance(value, bool):
        errors.add(path, "Not a valid integer.")
    elif value < 0:
        errors.add(path, "Must be greater than or equal to 0.")
    elif op in (Op.CREATE, Op.APPEND):
        errors.add(path, "Must be null for create and append.")
    else:
        return value
    return None


def _parse_fields(
    value: object, op: Op | None, path: str, errors: _Errors
) -> dict[str, object] | None:
    if value is None:
        errors.add(path, NOT_NULL)
    elif not isinstance(value, Mapping):
        errors.add(path, "Not a valid mapping type.")
    elif not all(isinstance(key, str) for key in value):
        errors.add(path, "Keys must be strings.")
    elif len(value) > MAX_FIELDS:
        errors.add(path, f"Longer than maximum length {MAX_FIELDS}.")
    elif op is Op.DELETE and value:
        errors.add(path, "Must be empty for delete.")
    else:
        return {str(key): item for key, item in value.items()}
    return None
