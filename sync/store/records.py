"""Stored records as the merge engine and the wire see them, and back."""

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, Integer, SmallInteger, String, TypeDecorator, select
from sqlalchemy.orm import Session

from sync.merge import ServerRecord, Writes
from sync.protocol import format_time, parse_time
from sync.registry import EntityAdapter, SyncActor


def to_wire(value: object) -> object:
    """Return a column value as JSON data (UUIDs and times as strings)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    return value


_PYTHON_TYPES: dict[tuple[type[Any], str], type[Any] | None] = {}


def python_type(adapter: EntityAdapter, name: str) -> type[Any] | None:
    """Return the Python type of a field's column (None when the type does not say)."""
    key = (adapter.model, name)
    if key not in _PYTHON_TYPES:
        _PYTHON_TYPES[key] = _column_python_type(adapter.model, name)
    return _PYTHON_TYPES[key]


def _column_python_type(model: type[Any], name: str) -> type[Any] | None:
    column_type = model.__table__.columns[name].type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    try:
        kind: type[Any] = column_type.python_type
    except NotImplementedError:
        return None
    return kind


def from_wire(adapter: EntityAdapter, name: str, value: object) -> object:
    """Return a normalised wire value as the column's Python value."""
    if value is None:
        return None
    kind = python_type(adapter, name)
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if kind is datetime:
        return parse_time(value)
    return value


# Signed ranges of the integer column types on PostgreSQL (SQLite would keep anything).
_INTEGER_BITS: tuple[tuple[type[Any], int], ...] = (
    (SmallInteger, 16),
    (BigInteger, 64),
    (Integer, 32),
)


def column_problem(adapter: EntityAdapter, values: Mapping[str, object]) -> str | None:
    """Return why a value does not fit the column it is written to, or None.

    The entity specs bound most values already; this is the backstop that makes an over-long
    string or an integer overflow a per-mutation rejection on both backends, where PostgreSQL
    would otherwise refuse the whole batch at flush and SQLite would store it.
    """
    checks = column_checks(adapter.model)
    for name, value in values.items():
        check = checks.get(name)
        if check is None or value is None or isinstance(value, bool):
            continue
        problem = check(name, value)
        if problem is not None:
            return problem
    return None


ColumnCheck = Callable[[str, object], str | None]
_COLUMN_CHECKS: dict[type[Any], dict[str, ColumnCheck]] = {}


def column_checks(model: type[Any]) -> dict[str, ColumnCheck]:
    """Each bounded column's check (length, integer range, float range), decided once per model.

    A check takes the field name and a non-null, non-bool value.
    """
    checks = _COLUMN_CHECKS.get(model)
    if checks is None:
        checks = {}
        for column in model.__table__.columns:
            check = _column_check(column.type)
            if check is not None:
                checks[column.key] = check
        _COLUMN_CHECKS[model] = checks
    return checks


def _column_check(column_type: Any) -> ColumnCheck | None:
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, String) and column_type.length is not None:
        length = column_type.length

        def fits_length(name: str, value: object) -> str | None:
            if isinstance(value, str) and len(value) > length:
                return f"{name}: longer than {length} characters"
            return None

        return fits_length
    if isinstance(column_type, Integer):
        bits = next(b for kind, b in _INTEGER_BITS if isinstance(column_type, kind))
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)

        def fits_range(name: str, value: object) -> str | None:
            if isinstance(value, int) and not low <= value < high:
                return f"{name}: {value} is out of range for a {bits}-bit integer"
            return None

        return fits_range
    if isinstance(column_type, Float):
        return _fits_float
    return None


def _fits_float(name: str, value: object) -> str | None:
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return f"{name}: {value} is too large for a number"
    return None


def record_fields(adapter: EntityAdapter, record: Any) -> dict[str, object]:
    """Return the spec fields of a record as wire values."""
    if adapter.read is not None:
        return adapter.read(record)
    return {
        name: value if value is None or convert is None else convert(value)
        for name, convert in wire_fields(adapter)
        for value in (getattr(record, name),)
    }


_WIRE_FIELDS: dict[type[Any], list[tuple[str, Callable[[Any], object] | None]]] = {}


def wire_fields(adapter: EntityAdapter) -> list[tuple[str, Callable[[Any], object] | None]]:
    """Each spec field and how its column's values become wire values (None: as they are).

    Decided once per model from the column's type, so a pull page of a thousand records
    does not ask every value what it is; fields that are no plain column use `to_wire`.
    """
    fields = _WIRE_FIELDS.get(adapter.model)
    if fields is None:
        columns = adapter.model.__table__.columns
        fields = []
        for name in adapter.spec.fields:
            kind = python_type(adapter, name) if name in columns else object
            # A TypeDecorator's results may be of another type than its impl's: to_wire.
            if kind is uuid.UUID:
                fields.append((name, str))
            elif kind is datetime:
                fields.append((name, format_time))
            elif kind in (str, int, float, bool) and not decorated(columns[name]):
                fields.append((name, None))
            else:
                fields.append((name, to_wire))
        _WIRE_FIELDS[adapter.model] = fields
    return fields


def decorated(column: Any) -> bool:
    """Whether a column's type is a TypeDecorator (its values need not be its impl's type)."""
    return isinstance(column.type, TypeDecorator)


def record_scope(adapter: EntityAdapter, record: Any) -> tuple[int | None, int | None]:
    """Return the (department, crew) a record (or a row of its columns) is visible in."""
    department, crew = adapter.scope_columns
    return (
        getattr(record, department) if department else None,
        getattr(record, crew) if crew else None,
    )


def visible_ids(
    session: Session, adapter: EntityAdapter, actor: SyncActor, records: Sequence[Any]
) -> set[uuid.UUID]:
    """Return the ids of those records the caller may see (its scope, or the adapter's rule)."""
    if adapter.visible is not None:
        return adapter.visible(session, actor, records)
    if adapter.scope is not None:
        if not records:
            return set()
        model = adapter.model
        ids = sorted({r.id for r in records})
        return set(session.scalars(select(model.id).where(model.id.in_(ids), adapter.scope(actor))))
    return {r.id for r in records if actor.sees(*record_scope(adapter, r))}


def server_record(adapter: EntityAdapter, record: Any, writer: str | None) -> ServerRecord:
    """Build the merge engine's view of a stored record.

    `field_versions` holds, beside the plain field versions written by the change feed,
    `field.key` versions of set keys and `@field` / `@field.key` writers. A field last written
    by the same `writer` counts as unchanged: a device's own earlier write is not a concurrent
    change (that write was itself merged against everything before it).
    """
    stored: Mapping[str, Any] = record.field_versions or {}
    versions: dict[str, int] = {}
    keys: dict[str, dict[str, int]] = {}
    for name, value in stored.items():
        if name.startswith("@"):
            continue
        # The mark names the writer *and* the version it wrote: once anyone else changes the
        # field (sync or not), the version moves on and the mark no longer matches.
        own = writer is not None and stored.get("@" + name) == writer_mark(writer, int(value))
        version = 0 if own else int(value)
        if "." in name:
            field_name, key = name.split(".", 1)
            keys.setdefault(field_name, {})[key] = version
        else:
            versions[name] = version
    return ServerRecord(
        id=record.id,
        version=int(record.version),
        fields=record_fields(adapter, record),
        field_versions=versions,
        key_versions=keys,
        deleted=bool(record.deleted),
    )


def writer_mark(writer: str, version: int) -> str:
    """Return the `@field` mark: who wrote the field at which version."""
    return f"{writer}#{version}"


def note_writer(record: Any, writes: Writes, writer: str) -> None:
    """After the flush: note set-key versions and who wrote each field and key at which version."""
    versions: dict[str, Any] = dict(record.field_versions or {})
    for name in writes.values:
        versions["@" + name] = writer_mark(writer, int(versions.get(name, record.version)))
    for name, changed in writes.changed_keys.items():
        for key in changed:
            versions[f"{name}.{key}"] = record.version
            versions[f"@{name}.{key}"] = writer_mark(writer, int(record.version))
    record.field_versions = versions


def _load(session: Session, adapter: EntityAdapter, record_id: uuid.UUID) -> Any:
    lock = session.get_bind().dialect.name == "postgresql"
    return session.get(adapter.model, record_id, with_for_update=lock, populate_existing=True)
