"""The database itself refuses to rewrite or delete history (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from backend.archive import service
from backend.archive.schemas import CustomerCreateSchema
from backend.auth.actor import actor_for_user
from tests.archive.helpers import customer_body


@pytest.fixture
def opened(session, demo):
    actor = actor_for_user(session, demo.users["archivist"])
    data = CustomerCreateSchema().load(customer_body(premises=[]))
    customer = service.open_customer(session=session, actor=actor, data=data)
    return customer


def _refused(session, sql, **params):
    with pytest.raises(DBAPIError):
        with session.begin_nested():
            session.execute(text(sql), params)


def test_versions_cannot_be_updated_or_deleted(session, opened):
    _refused(session, "UPDATE archive_versions SET reason = 'forged'")
    _refused(session, "DELETE FROM archive_versions")


def test_head_cannot_change_without_a_new_version(session, opened):
    cid = opened.id.hex if session.get_bind().dialect.name == "sqlite" else opened.id
    _refused(session, "UPDATE customers SET name = 'forged' WHERE id = :id", id=cid)
    # Moving the head to a version that was never appended is refused too.
    _refused(session, "UPDATE customers SET name = 'x', version_no = 7 WHERE id = :id", id=cid)
    _refused(session, "DELETE FROM customers WHERE id = :id", id=cid)


def test_sync_bookkeeping_may_move_without_a_version(session, opened):
    cid = opened.id.hex if session.get_bind().dialect.name == "sqlite" else opened.id
    with session.begin_nested():
        session.execute(
            text("UPDATE customers SET version = version + 1 WHERE id = :id"), {"id": cid}
        )
