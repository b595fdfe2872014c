"""User administration, data scope and the append-only audit log."""

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from backend.auth.audit import AuditLog
from backend.auth.models import User
from tests.conftest import assert_problem

NEW_USER = {
    "username": "newcrew",
    "full_name": "New Crew Member",
    "password": "long-enough-password",
    "role": "crew",
}


def _count_users(session):
    return session.scalar(select(func.count()).select_from(User))


def test_admin_creates_user_and_audit_records_it_without_password(api, demo, session):
    admin = api("admin")
    body = {**NEW_USER, "department_id": demo.departments["ST-URB"].id}
    response = admin.post("/api/v1/users", json=body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert "password" not in created and "password_hash" not in created
    entry = session.scalars(
        select(AuditLog).where(AuditLog.entity == "users", AuditLog.entity_id == str(created["id"]))
    ).one()
    assert entry.action == "create" and entry.actor.startswith("user:")
    assert entry.after["username"] == "newcrew" and "password_hash" not in entry.after


def test_update_is_audited_with_before_and_after(api, demo, session):
    admin = api("admin")
    user_id = demo.users["crew2"].id
    response = admin.patch(f"/api/v1/users/{user_id}", json={"phone": "+86 139 0000 0000"})
    assert response.status_code == 200
    entry = session.scalars(
        select(AuditLog).where(
            AuditLog.entity == "users",
            AuditLog.entity_id == str(user_id),
            AuditLog.action == "update",
        )
    ).one()
    assert entry.before == {"phone": None} and entry.after == {"phone": "+86 139 0000 0000"}


def test_password_change_is_audited_as_changed_only(api, demo, session):
    admin = api("admin")
    user_id = demo.users["crew2"].id
    admin.patch(f"/api/v1/users/{user_id}", json={"password": "another-long-password"})
    entry = session.scalars(
        select(AuditLog).where(
            AuditLog.entity == "users",
            AuditLog.entity_id == str(user_id),
            AuditLog.action == "update",
        )
    ).one()
    # The secret's value never appears; the token generation shows its tokens were revoked.
    assert entry.after == {"password_hash": "*** changed ***", "token_generation": 1}


def test_duplicate_username_is_409_and_writes_nothing(api, demo, session):
    before = _count_users(session)
    body = {**NEW_USER, "username": "crew1", "department_id": demo.departments["ST-URB"].id}
    assert_problem(api("admin").post("/api/v1/users", json=body), 409, "conflict")
    assert _count_users(session) == before


def test_unknown_department_is_404(api, session):
    before = _count_users(session)
    body = {**NEW_USER, "department_id": 999999}
    assert_problem(api("admin").post("/api/v1/users", json=body), 404, "not-found")
    assert _count_users(session) == before


@pytest.mark.parametrize(
    "field,value",
    [
        ("username", "x'; DROP TABLE users; --"),
        ("role", "superuser"),
        ("department_id", "1 OR 1=1"),
        ("password", "short"),
    ],
)
def test_bad_user_fields_are_422(api, demo, session, field, value):
    before = _count_users(session)
    body = {**NEW_USER, "department_id": demo.departments["ST-URB"].id, field: value}
    problem = assert_problem(api("admin").post("/api/v1/users", json=body), 422)
    assert problem["errors"][0]["field"] == field
    assert _count_users(session) == before


def test_sql_like_text_is_stored_literally(api, demo):
    name = "Robert'); DROP TABLE users;--"
    body = {**NEW_USER, "full_name": name, "department_id": demo.departments["ST-URB"].id}
    created = api("admin").post("/api/v1/users", json=body).get_json()
    assert api("admin").get(f"/api/v1/users/{created['id']}").get_json()["full_name"] == name


def test_non_admin_cannot_create_users(api, demo):
    body = {**NEW_USER, "department_id": demo.departments["ST-URB"].id}
    assert_problem(api("dispatcher").post("/api/v1/users", json=body), 403, "forbidden")


def test_scope_limits_what_a_supervisor_sees(api, demo):
    supervisor = api("supervisor")  # North Repair Center: sees its stations, not the call center
    names = {u["username"] for u in supervisor.get("/api/v1/users").get_json()}
    assert {"dispatcher", "crew1", "crew3"} <= names
    assert "callcenter" not in names and "admin" not in names
    outside = demo.users["callcenter"].id
    assert_problem(supervisor.get(f"/api/v1/users/{outside}"), 403, "out-of-scope")


def test_admin_of_a_subtree_cannot_act_outside_it(api, demo, session):
    # Move an admin into the repair center: it may no longer create users in the call center.
    admin = api("admin")
    sub_admin = {
        **NEW_USER,
        "username": "rcadmin",
        "role": "admin",
        "department_id": demo.departments["RC-N"].id,
    }
    assert admin.post("/api/v1/users", json=sub_admin).status_code == 201
    rc_admin = api()
    rc_admin.login("rcadmin", NEW_USER["password"])
    body = {**NEW_USER, "username": "intruder", "department_id": demo.departments["CALL"].id}
    before = _count_users(session)
    assert_problem(rc_admin.post("/api/v1/users", json=body), 403, "out-of-scope")
    assert _count_users(session) == before


def test_audit_log_is_readable_by_auditors_only(api):
    assert api("auditor").get("/api/v1/audit").status_code == 200
    assert_problem(api("dispatcher").get("/api/v1/audit"), 403)


def test_audit_log_rejects_update_and_delete(session, demo):
    session.execute(
        text(
            "INSERT INTO audit_log (at, actor, action, entity, entity_id) "
            "VALUES (CURRENT_TIMESTAMP, 'test', 'create', 'x', '1')"
        )
    )
    for statement in ("UPDATE audit_log SET actor = 'forged'", "DELETE FROM audit_log"):
        nested = session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        nested.rollback()
