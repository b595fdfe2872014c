"""What each role may do, as named actions the console asks for (`GET /auth/me`).

The endpoints enforce these same role lists (`requires(...)` in each domain's routes); this
table only tells a client which buttons to offer. When the one authorization policy
(`backend/auth/policy.py`) lands, `allowed_actions` reads it instead.
"""

from __future__ import annotations

from backend.auth.actor import Actor
from backend.auth.models import Role

R = Role
CALL = frozenset({R.CALL_CENTER})
CENTER = frozenset({R.REPAIR_CENTER, R.SUPERVISOR})
WATCHERS = frozenset({R.CALL_CENTER, R.REPAIR_CENTER, R.SUPERVISOR})
TRACKING_VIEWERS = frozenset({R.REPAIR_CENTER, R.SUPERVISOR, R.CALL_CENTER, R.AUDITOR})
REPORT_READERS = frozenset({R.SUPERVISOR, R.REPAIR_CENTER, R.CALL_CENTER, R.AUDITOR})

# action -> roles, mirroring the `requires(...)` of the endpoint that performs it.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "order.read": frozenset(R),
    "order.create": CALL,
    "order.issue": CALL,
    "order.accept": CENTER,
    "order.candidates": CENTER,
    "order.dispatch": CENTER,
    "order.recall": CALL | CENTER,
    "order.reassign": CENTER,
    "order.follow_up": CALL,
    "order.close": CALL | CENTER,
    "queue.reorder": CENTER,
    "crew.availability": CENTER | {R.CREW},
    "alert.read": WATCHERS,
    "alert.acknowledge": WATCHERS,
    "tracking.read": TRACKING_VIEWERS,
    "report.read": REPORT_READERS,
    "sla_policy.write": frozenset({R.SUPERVISOR}),
}


def allowed_actions(actor: Actor) -> list[str]:
    """Return the actions the actor's role allows, sorted; admins may do what any role may."""
    if actor.kind != "user":
        return []
    if actor.role == R.ADMIN:
        return sorted(ROLE_ACTIONS)
    return sorted(name for name, roles in ROLE_ACTIONS.items() if actor.role in roles)
