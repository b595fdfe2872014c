"""Audit rows for acknowledgements; the audit log refuses UPDATE, DELETE and TRUNCATE."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from backend.auth.audit import AuditLog
from backend.dispatch import escalation
from tests.dispatch.factories import T0, minutes, new_order


def test_alert_acknowledgement_is_audited(api, demo, session):
    order = new_order(session, demo)
    escalation.tick(session=session, now=T0 + minutes(20))
    session.commit()
    callcenter = api("callcenter")
    alert = next(
        a for a in callcenter.get("/api/v1/alerts?open=true").get_json()
        if a["order_id"] == str(order.id)
    )  # fmt: skip
    assert callcenter.post(f"/api/v1/alerts/{alert['id']}/acknowledge").status_code == 200
    entry = session.scalars(
        select(AuditLog).where(
            AuditLog.entity == "alerts",
            AuditLog.entity_id == str(alert["id"]),
            AuditLog.action == "update",
        )
    ).one()
    assert entry.actor.startswith("user:") and entry.actor.endswith(":callcenter")
    assert entry.after["acknowledged_by"] == entry.actor
    assert entry.before == {"acknowledged_at": None, "acknowledged_by": None}


def _refused(session, statement: str) -> None:
    with pytest.raises(DatabaseError) as caught, session.begin_nested():
        session.execute(text(statement))
    assert "append-only" in str(caught.value)


def test_audit_log_refuses_update_and_delete(session, demo):
    assert session.scalar(select(AuditLog.id).limit(1)) is not None  # seeding wrote rows
    _refused(session, "UPDATE audit_log SET actor = 'nobody'")
    _refused(session, "DELETE FROM audit_log")


@pytest.mark.postgis_only
def test_audit_log_refuses_truncate(session, demo):
    _refused(session, "TRUNCATE audit_log")
    assert session.scalar(select(AuditLog.id).limit(1)) is not None
