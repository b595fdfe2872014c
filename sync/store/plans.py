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

from sync.entities import FieldSpec, FieldValueError
from sync.protocol import parse_time
from sync.registry import EntityAdapter
from sync.store.records import ColumnCheck, column_checks, python_type

Convert = Callable[[Any], object]


def _to_uuid(value: object) -> object:
    return uuid.UUID(str(value))


@dataclass(frozen=True)
class EntityPlan:
    """One entity's push rules and columns, compiled.

    Attributes:
        fields: The spec's fields.
        required: Fields a new record must have (not null).
        convert: Wire value to column value, for the fields that are not stored as sent.
        checks: Column bounds of the fields (`records.column_problem`, per field).
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
        """Return a new append-only record's normalised values, or None to judge it in full.

        Accepted exactly when the merge engine would apply it (known fields, valid values,
        required ones present, every value fits its column), with the same values in the
        order sent; None for anything it would reject, to get that rejection from it.
        """
        fields = self.fields
        values: dict[str, object] = {}
        for name, value in sent.items():
            spec = fields.get(name)
            if spec is None:
                return None
            if value is None:
                if not spec.nullable:
                    return None
                values[name] = None
                continue
            try:
                values[name] = spec.validate(value)
            except FieldValueError:
                return None
        for name in self.required:
            if values.get(name) is None:
                return None
        checks = self.checks
        for name, value in values.items():
            check = checks.get(name)
            if check is not None and value is not None and not isinstance(value, bool):
                if check(name, value) is not None:
                    return None
        return values


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
    checks = column_checks(model)
    department, crew = adapter.scope_columns
    return EntityPlan(
        fields=spec.fields,
        required=tuple(n for n, f in spec.fields.items() if f.required),
        convert=convert,
        checks={name: checks[name] for name in spec.fields if name in checks},
        blank=dict.fromkeys(spec.fields),
        columns=columns,
        department=department,
        crew=crew,
        time_field=adapter.time_field,
        clock_corrected="clock_corrected" in columns,
        device_time="device_time" in columns,
        created_by="created_by" in columns,
    )
