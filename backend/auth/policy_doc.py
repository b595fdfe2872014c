"""The policy table as Markdown, for the README's "Security model" (a test keeps them equal)."""

from __future__ import annotations

from backend.auth.policy import RULES, SYNC_ACTIONS, SYNC_READ_ACTIONS, Role

START = "<!-- policy-table:start (generated: python -m backend.auth.policy_doc) -->"
END = "<!-- policy-table:end -->"


def _who(roles: frozenset[Role], devices: bool) -> str:
    names = [f"`{r.value}`" for r in Role if r in roles]
    if roles == frozenset(Role):
        names = ["every role"]
    if devices:
        names.append("devices")
    return ", ".join(names) or "nobody"


def markdown() -> str:
    """Return the action table (and the sync push and pull mappings) between the README markers."""
    lines = [START, "", "| action | may | who |", "|---|---|---|"]
    for action, rule in RULES.items():
        kind = "" if rule.writes else " (read)"
        lines.append(
            f"| `{action.value}` | {rule.summary}{kind} | {_who(rule.roles, rule.devices)} |"
        )
    lines += ["", "Sync pushes need, per entity and op:", ""]
    for (entity, op), action in SYNC_ACTIONS.items():
        lines.append(f"- `{entity}` {op} → `{action.value}`")
    lines += [
        "",
        "Sync pulls deliver an entity's records only under its read action (then its scope):",
        "",
    ]
    for entity, action in SYNC_READ_ACTIONS.items():
        lines.append(f"- `{entity}` → `{action.value}`")
    lines += ["", END]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a documentation helper
    print(markdown())
