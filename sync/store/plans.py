"""What a push needs of an entity, decided once per adapter: field checks, column conversions.

Most of what handhelds push are new records of bulk-append entities (readings, GPS fixes):
`appended` judges those with the entity's own validators and column bounds, without the merge
engine's per-mutation plumbing (`sync.merge` would answer `applied` with the same values).
Whatever it cannot accept as sent goes to the general path, which rejects it as it always did.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.entities import COLUMN_VALUE, FieldSpec, FieldValueError
from sync.protocol import parse_time
from sync.registry import EntityAdapter
from sync.store.records import ColumnCheck, column_checks, python_type

Convert = Callable[[Any], object]


def _to_uuid(value: object) -> object:
    return uuid.UUID(value if isinstance(value, str) else str(value))


@dataclass(frozen=True)
class EntityPlan:
    """One entity's push rules and columns, compiled.

    Attributes:
        fields: The spec's fields.
        required: Fields a new record must have (not null).
        convert: Wire value to column value, for the fields that are not stored as sent.
        checks: Column bounds of the fields (`records.column_problem`, per field).
        accept: Per field, whether it takes null and its wire value's column value in one
            call (validated, within the column's bounds, converted), else FieldValueError.
        blank: Every field as None (what `after_write` sees of the fields not sent).
        columns: The model's column names.
        department, crew: The scope columns stamped on a new record.
        time_field: The column of the skew-corrected `occurred_at`, if any.
        clock_corrected, device_time, created_by: Whether the model has these columns.
    """

    fields: Mapping[str, FieldSpec]
    required: tuple[str, ...]
    convert: Mapping[str, Convert]
    checks: Mapping[str, ColumnCheck]
    accept: Mapping[str, tuple[bool, Convert]]
    blank: dict[str, None]
    columns: frozenset[str]
    department: str
    crew: str | None
    time_field: str | None
    clock_corrected: bool
    device_time: bool
    created_by: bool

    def from_wire(self, values: Mapping[str, object]) -> dict[str, object]:
        """Return normalised wire values as column values (`records.from_wire`, per field)."""
        convert = self.convert
        return {
            name: value if value is None or name not in convert else convert[name](value)
            for name, value in values.items()
        }

    def appended(self, sent: Mapping[str, object]) -> dict[str, object] | None:
        """Return a new append-only record's column values, or None to judge it in full.

        Accepted exactly when the merge engine would apply it (known fields, valid values,
        required ones present, every value fits its column), with the column values that
        `from_wire` makes of its normalised ones, in the order sent; None for anything it
        would reject, to get that rejection from it.
        """
        accept = self.accept
        values: dict[str, object] = {}
        for name, value in sent.items():
            rule = accept.get(name)
            if rule is None:
                return None
            if value is None:
                if not rule[0]:
                    return None
                values[name] = None
                continue
            try:
                values[name] = rule[1](value)
            except FieldValueError:
                return None
        for name in self.required:
            if values.get(name) is None:
                return None
        return values


def _acceptor(
    name: str, field: FieldSpec, check: ColumnCheck | None, convert: Convert | None
) -> Convert:
    """A non-null wire value's column value: what `validate`, the column check, `from_wire` give."""
    validate = field.validate
    if check is None and convert in (parse_time, _to_uuid) and validate in COLUMN_VALUE:
        return COLUMN_VALUE[validate]  # a timestamp's datetime or a UUID, without text between
    if check is None and convert is None:
        return validate

    def accept(value: object) -> object:
        valid = validate(value)
        if check is not None and valid is not None and not isinstance(valid, bool):
            problem = check(name, valid)
            if problem is not None:
                raise FieldValueError(problem)
        return valid if convert is None or valid is None else convert(valid)

    return accept


# By adapter identity (adapters hold mappings: not hashable); the adapter is kept with its plan
# so that its id is never reused for another.
_PLANS: dict[int, tuple[EntityAdapter, EntityPlan]] = {}


def plan_of(adapter: EntityAdapter) -> EntityPlan:
    """Return the adapter's plan, compiled on first use."""
    known = _PLANS.get(id(adapter))
    if known is None or known[0] is not adapter:
        known = _PLANS[id(adapter)] = (adapter, _compile(adapter))
    return known[1]


def _compile(adapter: EntityAdapter) -> EntityPlan:
    spec, model = adapter.spec, adapter.model
    columns = frozenset(c.key for c in model.__table__.columns)
    convert: dict[str, Convert] = {}
    for name in spec.fields:
        kind = python_type(adapter, name)
        if kind is uuid.UUID:
            convert[name] = _to_uuid
        elif kind is datetime:
            convert[name] = parse_time
    checks = {name: check for name, check in column_checks(model).items() if name in spec.fields}
    department, crew = adapter.scope_columns
    return EntityPlan(
        fields=spec.fields,
        required=tuple(n for n, f in spec.fields.items() if f.required),
        convert=convert,
        checks=checks,
        accept={
            name: (field.nullable, _acceptor(name, field, checks.get(name), convert.get(name)))
            for name, field in spec.fields.items()
        },
        blank=dict.fromkeys(spec.fields),
        columns=columns,
        department=department,
        crew=crew,
        time_field=adapter.time_field,
        clock_corrected="clock_corrected" in columns,
        device_time="device_time" in columns,
        created_by="created_by" in columns,
    )
