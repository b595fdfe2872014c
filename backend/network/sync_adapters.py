"""The network's synced entities: lines, transformer areas and active outages, pulled only.

Pushes go through the policy like every entity's (`permit`): `SYNC_ACTIONS` names no action
for them, so an update is refused for everyone (deny by default) and a create is refused by
the entity's spec. The records change through the network's REST API.
"""

from __future__ import annotations

from backend.auth.sync_access import permit
from backend.network import handheld
from backend.network.models import FeederLine, TransformerArea
from backend.network.outage_models import Outage
from sync.entities import FEEDER_LINE, OUTAGE, TRANSFORMER_AREA, EntitySpec
from sync.registry import EntityAdapter, Reader


def _pulled(spec: EntitySpec, model: type, read: Reader) -> EntityAdapter:
    return EntityAdapter(
        spec, model, permit=permit(spec), read=read, visible=handheld.visible, time_field=None
    )


ADAPTERS = (
    _pulled(FEEDER_LINE, FeederLine, handheld.line_fields),
    _pulled(TRANSFORMER_AREA, TransformerArea, handheld.area_fields),
    _pulled(OUTAGE, Outage, handheld.outage_fields),
)
