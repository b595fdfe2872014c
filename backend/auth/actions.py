"""What each role may do, as named actions the console asks for (`GET /auth/me`).

The names are the console's; each maps to actions of the one policy (`backend.auth.policy`),
so the buttons offered and the checks the endpoints make never disagree.
"""

from __future__ import annotations

from backend.auth.actor import Actor
from backend.auth.policy import Action, can

# console action -> policy actions; offered when any of them is allowed.
CONSOLE_ACTIONS: dict[str, tuple[Action, ...]] = {
    "order.read": (Action.ORDER_READ,),
    "order.create": (Action.ORDER_CREATE,),
    "order.issue": (Action.ORDER_ISSUE,),
    "order.accept": (Action.ORDER_ACCEPT,),
    "order.candidates": (Action.ORDER_DISPATCH,),
    "order.dispatch": (Action.ORDER_DISPATCH,),
    "order.recall": (Action.ORDER_RECALL,),
    "order.reassign": (Action.ORDER_DISPATCH,),
    "order.follow_up": (Action.ORDER_FOLLOW_UP,),
    "order.close": (Action.ORDER_CLOSE,),
    "queue.reorder": (Action.QUEUE_REORDER,),
    "crew.availability": (Action.AVAILABILITY_SET,),
    "alert.read": (Action.ALERT_READ,),
    "alert.acknowledge": (Action.ALERT_ACKNOWLEDGE,),
    "tracking.read": (Action.TRACKING_READ,),
    "report.read": (Action.REPORT_READ,),
    "sla_policy.write": (Action.SLA_POLICY_WRITE,),
    "conflict.resolve": (Action.CONFLICT_RESOLVE,),
    "network.read": (Action.NETWORK_READ,),
    "network.quick_query": (Action.QUICK_QUERY,),
    "outage.read": (Action.OUTAGE_READ,),
    "risk.read": (Action.RISK_READ,),
    "risk.assess": (Action.RISK_ASSESS,),
    "inspection.read": (Action.PLAN_READ,),
    "case.read": (Action.CASE_READ,),
    "inspection.report.read": (Action.INSPECTION_REPORT_READ,),
    "verification.read": (Action.VERIFICATION_READ,),
    "archive.read": (Action.ARCHIVE_READ,),
}


def allowed_actions(actor: Actor) -> list[str]:
    """Return the console actions the policy allows the actor, sorted (none for devices)."""
    if actor.kind != "user":
        return []
    return sorted(
        name for name, actions in CONSOLE_ACTIONS.items() if any(can(actor, a) for a in actions)
    )
