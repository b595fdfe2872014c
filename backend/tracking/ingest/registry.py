"""The ingest's view of the vehicle registry, reloaded only when the registry stamp moved."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.org.models import Vehicle
from backend.tracking.ingest.store import VehicleRef
from backend.tracking.models import RegistryStamp
from gis.datum import Datum

STAMP = "vehicles"  # bumped by triggers on `vehicles` (revision 0621)


@dataclass(frozen=True)
class Refresh:
    """What one check of the stamp found."""

    reloaded: bool = False
    first: bool = False  # the first load of this worker (nothing was known before)
    # Vids whose datum (or vehicle) changed: their earlier fixes were converted differently,
    # so the GPS filter must forget them or the first correctly converted fix looks like a jump.
    reconfigured: frozenset[str] = field(default_factory=frozenset)


class VehicleDirectory:
    """Resolves topic vids and device keys to vehicles, as of the last registry stamp seen."""

    def __init__(self) -> None:
        self._by_key: dict[str, VehicleRef] = {}
        self._stamp: int | None = None
        self._loaded = False

    @property
    def loaded(self) -> bool:
        """Whether the registry was read at least once."""
        return self._loaded

    def refresh(self, session: Session, *, stamp: int | None = None) -> Refresh:
        """Check the stamp (one tiny query per batch); reload when it moved.

        `stamp`: the value the caller already read in this transaction (no query then).
        """
        if stamp is None:
            stamp = session.scalar(select(RegistryStamp.value).where(RegistryStamp.name == STAMP))
        if self._loaded and stamp is not None and stamp == self._stamp:
            return Refresh()
        before, first = self._by_key, not self._loaded
        rows = session.execute(
            select(
                Vehicle.id,
                Vehicle.terminal_id,
                Vehicle.datum,
                Vehicle.department_id,
                Vehicle.report_interval_s,
            )
        )
        self._by_key = {ref.vid: ref for ref in (_ref(*row) for row in rows)}
        self._stamp, self._loaded = stamp, True
        changed = frozenset(
            vid
            for vid, ref in self._by_key.items()
            if vid in before and (before[vid].datum, before[vid].id) != (ref.datum, ref.id)
        )
        return Refresh(reloaded=True, first=first, reconfigured=changed)

    def resolve(self, key: str) -> VehicleRef | None:
        """Return the vehicle for a vid or an OwnTracks `user/device` (the user is the vid)."""
        # OwnTracks `user/device`: the user is the vid, which is also its MQTT login, so the
        # broker's ACL vouches for it; the device level is the publisher's own choice.
        return self._by_key.get(key.split("/", 1)[0])


def _ref(
    vehicle_id: int,
    terminal_id: str | None,
    datum_name: str,
    department_id: int,
    report_interval_s: int,
) -> VehicleRef:
    try:
        datum = Datum(datum_name)
    except ValueError:
        datum = Datum.WGS84
    return VehicleRef(
        id=vehicle_id,
        vid=terminal_id or str(vehicle_id),
        datum=datum,
        department_id=department_id,
        report_interval_s=report_interval_s,
    )
