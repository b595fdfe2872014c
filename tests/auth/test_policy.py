"""The authorization policy: its table, and the role and scope bugs it closed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backend.auth.models import Department, User
from backend.auth.passwords import hash_secret
from backend.auth.policy import RULES, SYNC_ACTIONS, Action, Role, Rule
from backend.demo import DEMO_DEVICE_SECRET
from tests.conftest import assert_problem
from tests.dispatch.test_bad_input import dispatched
from tests.sync.helpers import batch, mutation


def test_every_action_has_exactly_one_rule():
    assert set(RULES) == set(Action)


def test_the_auditor_is_read_only_by_construction():
    writes = [action for action, rule in RULES.items() if rule.writes]
    assert writes, "the table has write actions"
    for action in writes:
        assert Role.AUDITOR not in RULES[action].roles, action
    with pytest.raises(ValueError, match="read-only"):
        Rule("delete everything", frozenset({Role.AUDITOR}))


def test_sync_pushes_need_write_actions():
    for (entity, op), action in SYNC_ACTIONS.items():
        assert RULES[action].writes, (entity, op, action)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _device(api, identifier):
    client = api()
    body = {"identifier": identifier, "secret": DEMO_DEVICE_SECRET}
    response = client.post("/api/v1/auth/device-login", json=body)
    client.headers = {"Authorization": f"Bearer {response.get_json()['access_token']}"}
    return client


def _foreign_center_user(session, role: str) -> str:
    """A user of a second repair center (outside RC-N's subtree)."""
    root = session.query(Department).filter_by(code="ROOT").one()
    south = Department(code="RC-S", name="South RC", kind="repair_center", parent_id=root.id)
    session.add(south)
    session.flush()
    south.path = f"{root.path}{south.id}/"
    username = f"south-{role}"
    session.add(
        User(
            username=username,
            full_name="South",
            password_hash=hash_secret("long-enough-password"),
            role=role,
            department_id=south.id,
        )
    )
    session.flush()
    return username


def _event(point: str = "E", source: str = "terminal", **details) -> dict:
    return {"point": point, "occurred_at": _now(), "source": source, "details": details}


def test_another_repair_centers_user_cannot_post_events(api, demo, session):
    oid = dispatched(api, demo)
    name = _foreign_center_user(session, "supervisor")
    foreign = api()
    foreign.login(name, "long-enough-password")
    url = f"/api/v1/work-orders/{oid}/events"
    assert_problem(foreign.get(url), 403, "out-of-scope")
    # Scope before anything: even a correction with every field right is out of scope.
    body = _event(source="manual", reason="crew phoned")
    assert_problem(foreign.post(url, json=body), 403, "out-of-scope")
    for leaf, body in (("dispatch", {}), ("fault-record", {}), ("recall", {})):
        method = foreign.put if leaf == "fault-record" else foreign.post
        # The scope is checked before the (here invalid) body.
        assert_problem(method(f"/api/v1/work-orders/{oid}/{leaf}", json=body), 403)


def test_dispatchers_do_not_post_crew_points_supervisors_correct_them_by_hand(api, demo):
    oid = dispatched(api, demo)
    url = f"/api/v1/work-orders/{oid}/events"
    assert_problem(api("dispatcher").post(url, json=_event()), 403, "forbidden")
    supervisor = api("supervisor")
    assert_problem(supervisor.post(url, json=_event()), 422)  # terminal is the crew's source
    assert_problem(supervisor.post(url, json=_event(source="manual")), 422)  # no reason
    body = _event(source="manual", reason="crew radioed, terminal broken")
    response = supervisor.post(url, json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["actor"].endswith(":supervisor")
    for role in ("callcenter", "auditor", "archivist", "inspector"):
        assert_problem(api(role).post(url, json=_event(source="manual", reason="x")), 403)


def test_devices_see_only_their_own_crews_orders(api, demo):
    own = dispatched(api, demo, crew="Urban Crew 1")
    other = dispatched(api, demo, crew="Suburban Crew 1")
    terminal = _device(api, "T-1001")  # Urban Crew 1's vehicle; the same station as crew 2
    listed = {o["id"] for o in terminal.get("/api/v1/work-orders?page_size=100").get_json()}
    assert own in listed and other not in listed
    for leaf in ("", "/events", "/timeline"):
        assert terminal.get(f"/api/v1/work-orders/{own}{leaf}").status_code == 200
        assert_problem(terminal.get(f"/api/v1/work-orders/{other}{leaf}"), 403, "out-of-scope")


def test_crew_members_see_only_their_crews_orders(api, demo):
    own = dispatched(api, demo, crew="Urban Crew 1")
    crew6 = api("crew6")  # Urban Crew 2: the same station, another crew
    listed = {o["id"] for o in crew6.get("/api/v1/work-orders?page_size=100").get_json()}
    assert own not in listed
    assert_problem(crew6.get(f"/api/v1/work-orders/{own}"), 403, "out-of-scope")


@pytest.mark.parametrize("user", ["auditor", "inspector", "callcenter", "archivist", "dispatcher"])
def test_only_the_crew_moves_an_order_over_sync(api, demo, user):
    oid = dispatched(api, demo)
    moves = [
        mutation("work_order", "update", {"status": "accepted"}, record_id=oid, base=1),
        mutation(
            "timing_event",
            "append",
            {"order_id": oid, "point": "E", "occurred_at": _now(), "source": "sync"},
        ),
        mutation("fault_record", "create", {"order_id": oid, "cause": "tree"}),
    ]
    response = api(user).post("/api/v1/sync/push", json=batch(*moves))
    assert response.status_code == 200, response.get_json()
    verdicts = response.get_json()["verdicts"]
    assert [v["verdict"] for v in verdicts] == ["rejected"] * 3, verdicts
    for verdict in verdicts:
        assert verdict["problem"]["type"] in ("sync-forbidden", "sync-out-of-scope"), verdict
        assert verdict["problem"]["detail"]
    order = api("dispatcher").get(f"/api/v1/work-orders/{oid}").get_json()
    assert order["status"] == "dispatched"


def test_the_crew_itself_moves_its_order_over_sync(api, demo):
    oid = dispatched(api, demo)
    move = mutation(
        "timing_event",
        "append",
        {"order_id": oid, "point": "E", "occurred_at": _now(), "source": "sync"},
    )
    verdicts = api("crew1").post("/api/v1/sync/push", json=batch(move)).get_json()["verdicts"]
    assert verdicts[0]["verdict"] == "applied", verdicts


def test_the_auditor_cannot_upload_blobs(api, demo):
    sha = "a" * 64
    response = api("auditor").put(f"/api/v1/blobs/{sha}", data=b"x")
    assert_problem(response, 403)


def test_the_readme_shows_the_policy_table():
    from pathlib import Path

    from backend.auth.policy_doc import END, START, markdown

    readme = Path(__file__).parents[2].joinpath("README.md").read_text()
    assert START in readme and END in readme
    shown = readme[readme.index(START) : readme.index(END) + len(END)]
    assert shown == markdown(), "run `python -m backend.auth.policy_doc` and update README.md"
