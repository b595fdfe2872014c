"""The request is the commit point: one session per request, committed once after the view."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from backend.db import Database
from backend.errors import Conflict, ServiceUnavailable, problem_response

log = logging.getLogger(__name__)


def database() -> Database:
    """Return the app's database."""
    db: Database = current_app.extensions["fieldline.db"]
    return db


def request_session() -> Session:
    """Return this request's session, opening it on first use."""
    if "db_session" not in g:
        g.db_session = database().session_factory()
        g.db_session.info["actor"] = "anonymous"
    session: Session = g.db_session
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
            return problem_response(
                Conflict(
                    "The change conflicts with existing data (a unique or reference "
                    "constraint refused it); nothing was written."
                ).to_dict()
            )
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
        session: Session | None = g.pop("db_session", None)
        if session is not None:  # the view raised before after_request could run
            session.rollback()
            session.close()
