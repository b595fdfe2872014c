"""merge: water (1630) and risk collections (1410) landed on the same parent

Revision ID: 1631_merge_water_risk
Revises: 1410_risk_collections, 1630_water
Create Date: 2026-11-29 12:16:00

Both revisions were landed on 1620_outage_suggestions at nearly the same time; landed
revisions are not edited, so this empty revision joins the two heads again.
"""

from collections.abc import Sequence

revision: str = "1631_merge_water_risk"
down_revision: str | Sequence[str] | None = ("1410_risk_collections", "1630_water")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
