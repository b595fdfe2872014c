"""SLA policies per region and order type, stored as JSON; the seed policy is the fallback."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize
from backend.dispatch.models import SlaPolicyRecord
from backend.dispatch.timing.sla import InvalidPolicy, SlaPolicy
from backend.errors import field_error

ANY = "*"


def policy_for(session: Session, *, region_code: str, order_type: str) -> SlaPolicy:
    """Return the most specific policy: region+type, region+any, any+type, any+any, seed."""
    rows = {
        (r.region_code, r.order_type): r.policy
        for r in session.scalars(
            select(SlaPolicyRecord).where(
                SlaPolicyRecord.region_code.in_([region_code, ANY]),
                SlaPolicyRecord.order_type.in_([order_type, ANY]),
            )
        )
    }
    for key in ((region_code, order_type), (region_code, ANY), (ANY, order_type), (ANY, ANY)):
        if key in rows:
            return _parsed(json.dumps(rows[key], sort_keys=True))
    return _parsed(None)


@lru_cache(maxsize=256)
def _parsed(text: str | None) -> SlaPolicy:
    """Parse a stored policy once: every timing event recomputes its order's timeline."""
    return SlaPolicy.default() if text is None else SlaPolicy.from_dict(json.loads(text))


class PolicyCache:
    """Policies looked up once per (region, type) within one unit of work (reports, worker)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._cache: dict[tuple[str, str], SlaPolicy] = {}

    def get(self, region_code: str, order_type: str) -> SlaPolicy:
        """Return the policy for a region and order type."""
        key = (region_code, order_type)
        if key not in self._cache:
            self._cache[key] = policy_for(
                self.session, region_code=region_code, order_type=order_type
            )
        return self._cache[key]


def list_policies(*, session: Session) -> list[dict[str, Any]]:
    """Return the stored policies plus the built-in seed default."""
    stored = [
        {"region_code": r.region_code, "order_type": r.order_type, **r.policy}
        for r in session.scalars(
            select(SlaPolicyRecord).order_by(
                SlaPolicyRecord.region_code, SlaPolicyRecord.order_type
            )
        )
    ]
    default = {"region_code": "default", "order_type": ANY, **SlaPolicy.default().to_dict()}
    return [*stored, default]


def put_policy(
    *, session: Session, actor: Actor, region_code: str, order_type: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Create or replace the policy of a region and order type (`*` matches any)."""
    authorize(actor, Action.SLA_POLICY_WRITE)
    try:
        policy = SlaPolicy.from_dict(data).to_dict()
    except InvalidPolicy as exc:
        raise field_error("policy", str(exc)) from None
    record = session.scalar(
        select(SlaPolicyRecord).where(
            SlaPolicyRecord.region_code == region_code, SlaPolicyRecord.order_type == order_type
        )
    )
    if record is None:
        record = SlaPolicyRecord(region_code=region_code, order_type=order_type, policy=policy)
        session.add(record)
    else:
        record.policy = policy
    session.flush()
    return {"region_code": region_code, "order_type": order_type, **policy}
