"""Engine, declarative base, column types and the unit-of-work session shared by every domain."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from geoalchemy2 import WKTElement
from geoalchemy2.admin.dialects.sqlite import init_spatialite, load_spatialite_driver
from sqlalchemy import JSON, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

# One UTC type and naming convention for every table (landed migrations name them from here).
from sync.columns import NAMING_CONVENTION, UTCDateTime

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations name constraints alike."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, list[str]: JSONType}


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UUIDPrimaryKey:
    """Mixin for records that clients may create offline: the id is a UUID chosen by anyone."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def is_sqlite(url: str) -> bool:
    """Tell whether a database URL names the embedded SQLite/SpatiaLite backend."""
    return url.startswith("sqlite")


def _on_sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    load_spatialite_driver(dbapi_conn)
    # pysqlite's own transaction handling fights SAVEPOINTs; SQLAlchemy emits BEGIN itself.
    dbapi_conn.isolation_level = None
    dbapi_conn.execute("PRAGMA foreign_keys = ON")
    dbapi_conn.execute("PRAGMA busy_timeout = 30000")
    if dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        dbapi_conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a commit is on disk before it is acknowledged (an `applied` verdict, a 201). WAL
    # with NORMAL keeps it through a process crash but may lose the last commits to a power
    # cut or an OS crash, after the client dropped them from its outbox.
    dbapi_conn.execute("PRAGMA synchronous = FULL")
    init_spatialite(dbapi_conn, transaction=True, init_mode="WGS84")


# Execution option marking a connection whose transactions only read (safe HTTP methods, streams).
READ_ONLY = "fieldline_read_only"


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: SQLite then has one writer at a time, which also
    # keeps change numbers in commit order (the sync cursor relies on it) and avoids
    # lock-upgrade deadlocks between the API and worker processes. A read-only unit of work
    # takes a plain (deferred) BEGIN: in WAL mode it reads a snapshot and never waits for, nor
    # blocks, a writer.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for PostgreSQL/PostGIS (psycopg 3) or SQLite/SpatiaLite (pysqlite3)."""
    if is_sqlite(url):
        import pysqlite3.dbapi2 as sqlite3  # the stdlib module cannot load extensions here

        engine = create_engine(
            url,
            module=sqlite3,
            connect_args={"timeout": 30, "check_same_thread": False},
            **kwargs,
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


class Database:
    """One engine and session factory per app; tests rebind the factory to a connection."""

    def __init__(self, url: str, read_url: str | None = None, **engine_options: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_options)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        # A read replica (Config READ_DATABASE_URL) for reads that may lag the primary by the
        # replication delay: reports and the live feed's rounds. Writes, authentication and
        # every read-your-writes path stay on `engine`.
        self.read_url = read_url or None
        self.replica_engine: Engine | None = None
        self.replica_sessions: sessionmaker[Session] | None = None
        if self.read_url:
            self.replica_engine = make_engine(self.read_url, **engine_options)
            self.replica_sessions = sessionmaker(
                bind=self.replica_engine.execution_options(**{READ_ONLY: True}),
                expire_on_commit=False,
            )

    @property
    def read_engine(self) -> Engine:
        """The engine replica reads go to: the replica's when one is set, else the primary's."""
        return self.replica_engine or self.engine

    def dispose(self) -> None:
        """Close every pooled connection (primary and replica)."""
        self.engine.dispose()
        if self.replica_engine is not None:
            self.replica_engine.dispose()

    @property
    def dialect(self) -> str:
        """Return 'postgresql' or 'sqlite'."""
        return self.engine.dialect.name

    def read_session(self) -> Session:
        """Open a session that only reads: on SQLite it never takes the write lock."""
        session = self.session_factory()
        session.info["read_only"] = True
        if isinstance(session.get_bind(), Engine):  # tests bind to one shared connection
            session.connection(execution_options={READ_ONLY: True})
        return session

    @contextmanager
    def unit_of_work(self, actor: str = "system") -> Iterator[Session]:
        """Run one unit of work outside a request: commit on success, roll back on error."""
        session = self.session_factory()
        session.info["actor"] = actor
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def point_element(lon: float, lat: float) -> WKTElement:
    """Build a WGS-84 point for a geometry column."""
    return WKTElement(f"POINT({lon!r} {lat!r})", srid=4326)
