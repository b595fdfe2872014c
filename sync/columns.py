"""Column conventions every table shares, the backend's and sync's alike.

One UTC time type and one constraint naming convention, here because `sync` never imports
`backend`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, TypeDecorator

# Constraint and index names Alembic and both metadatas generate alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLAlchemy's default text form of a SQLite DATETIME (what `isoformat(" ", "microseconds")`
# writes for a naive datetime).
_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


NAIVE_REFUSED = "naive datetime refused: Fieldline stores UTC-aware times only"


def _as_copy_text(value: datetime | None) -> str | None:
    """A time as PostgreSQL's COPY reads a timestamptz: ISO 8601 with its offset (any DateStyle)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(NAIVE_REFUSED)
    return value.isoformat()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both backends (SQLite has no zone type).

    A naive datetime is refused rather than guessed at: local time and UTC look alike.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store UTC; on SQLite without an offset (it compares timestamps as text)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(NAIVE_REFUSED)
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def bulk_processor(self, dialect: Any) -> Callable[[datetime | None], object] | None:
        """One step for what `process_bind_param` and the driver make of a value, as text.

        For `sync.changes.bulk_insert`, which binds thousands of times per push: SQLite's
        DATETIME text, or on PostgreSQL the ISO 8601 text its COPY reads (psycopg's own
        datetime dumper costs more than the rest of a row). None where the steps are not that
        plain (another SQLite storage format).
        """
        if dialect.name == "postgresql":
            return _as_copy_text
        impl = self.impl_instance.dialect_impl(dialect)
        if dialect.name != "sqlite" or getattr(impl, "_storage_format", None) != _SQLITE_DATETIME:
            return None

        def as_sqlite_text(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is UTC:  # most are: the text less its "+00:00"
                return value.isoformat(" ", "microseconds")[:-6]
            if value.tzinfo is None:
                raise ValueError(NAIVE_REFUSED)
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return as_sqlite_text

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Read back an aware UTC datetime on either backend."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
