"""The request is the commit point: one session per request, committed once after the view."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from backend.db import Database
from backend.errors import ServiceUnavailable, constraint_conflict, problem_response

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def database() -> Database:
    """Return the app's database."""
    db: Database = current_app.extensions["fieldline.db"]
    return db


def writes_on_get(view: F) -> F:
    """Mark a view that stores data although called with GET (device protocols such as OsmAnd)."""
    view.writes_on_get = True  # type: ignore[attr-defined]
    return view


def _read_only_request() -> bool:
    if request.method not in SAFE_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "writes_on_get", False)


def request_session() -> Session:
    """Return this request's session, opening it on first use.

    Safe methods get a read-only unit of work: on SQLite it never takes the write lock, so a
    GET (a stream above all) can neither block a writer nor wait for one.
    """
    if "db_session" not in g:
        db = database()
        g.db_session = db.read_session() if _read_only_request() else db.session_factory()
        g.db_session.info["actor"] = "anonymous"
    session: Session = g.db_session
    return session


def replica_session() -> Session:
    """A read-only session on the read replica (READ_DATABASE_URL), opened on first use.

    For reads that may lag the primary by the replication delay (reports). Without a replica
    it is the request's own session. Closed, never committed, at the end of the request.
    """
    db = database()
    if db.replica_sessions is None:
        return request_session()
    if "db_replica_session" not in g:
        g.db_replica_session = db.replica_sessions()
        g.db_replica_session.info["read_only"] = True
    session: Session = g.db_replica_session
    return session


def init_app(app: Flask, db: Database) -> None:
    """Attach the database and commit each successful request's work exactly once."""
    app.extensions["fieldline.db"] = db

    @app.after_request
    def commit_or_roll_back(response: Response) -> Response:
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return response
        try:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
        except IntegrityError as exc:
            session.rollback()
            log.info("commit refused by a constraint: %s", exc.orig)
            return problem_response(constraint_conflict().to_dict())
        except OperationalError:
            session.rollback()
            log.exception("commit failed")
            return problem_response(
                ServiceUnavailable("The database did not accept the change; retry.").to_dict()
            )
        finally:
            session.close()
        return response

    @app.teardown_request
    def close_on_error(exc: BaseException | None) -> None:
        replica: Session | None = g.pop("db_replica_session", None)
        if replica is not None:
            replica.rollback()
            replica.close()
        session: Session | None = g.pop("db_session", None)
        if session is not None:  # the view raised before after_request could run
            session.rollback()
            session.close()
