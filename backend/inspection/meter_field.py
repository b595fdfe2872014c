"""Meters in the field: seal and fault events, and remote-vs-manual reading reconciliation.

Each event is kept (append-only) and moves the archive's meter to a new version: a seal
applied joins `seals`, a removed one leaves it; a fault found joins `faults` (a broken seal
also takes the seal off), a cleared one leaves it. Reconciliation compares each photographed
manual reading with the nearest remote reading of the same meter within
`INSPECTION_RECONCILE_WINDOW_HOURS`; a difference beyond `INSPECTION_RECONCILE_TOLERANCE_KWH`
(or `..._PCT` of the manual reading, whichever is larger) raises an anomaly and a special
inspection task.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive import versions
from backend.archive.records import Meter, Premise
from backend.archive.seals import IN_SERVICE, check_seals_free
from backend.archive.vocab import MeterFault, Source
from backend.auth.actor import Actor
from backend.auth.policy import Action, authorize, in_scope
from backend.auth.sync_access import refuse_foreign_blob
from backend.db import utcnow
from backend.errors import NotFound, field_error
from backend.inputs import refuse_ahead_of_server
from backend.inspection import plans
from backend.inspection.meter_models import MeterAnomaly, MeterEvent
from backend.inspection.models import MeterReading

EVENT_KINDS = ("seal_applied", "seal_removed", "fault_found", "fault_cleared")
FAULTS = tuple(f.value for f in MeterFault)


@dataclass(frozen=True)
class ReconcileRules:
    """Tolerance and window of the reconciliation (Config INSPECTION_RECONCILE_*)."""

    tolerance_kwh: float = 5.0
    tolerance_pct: float = 2.0
    window: timedelta = timedelta(hours=24)

    @classmethod
    def from_config(cls, config: Any) -> ReconcileRules:
        """Build the rules from a Flask config mapping."""
        return cls(
            tolerance_kwh=float(config.get("INSPECTION_RECONCILE_TOLERANCE_KWH", 5.0)),
            tolerance_pct=float(config.get("INSPECTION_RECONCILE_TOLERANCE_PCT", 2.0)),
            window=timedelta(hours=float(config.get("INSPECTION_RECONCILE_WINDOW_HOURS", 24))),
        )

    def tolerance(self, manual: float) -> float:
        """The allowed difference for a manual reading of this size."""
        return max(self.tolerance_kwh, abs(manual) * self.tolerance_pct / 100)


def meter_changes(
    session: Session, actor: Actor, meter: Meter, kind: str, seal: str | None, fault: str | None
) -> dict[str, Any]:
    """What an event changes on the meter; raises a problem when it does not fit.

    A seal applied to an in-service meter must not be on another one (409, `SealTaken`, which
    names that meter only if `actor` may read it).
    """
    seals, faults = list(meter.seals or []), list(meter.faults or [])
    if kind in ("seal_applied", "seal_removed") and not seal:
        raise field_error("seal_number", "A seal event names the seal.")
    if kind in ("fault_found", "fault_cleared") and fault not in FAULTS:
        raise field_error("fault", f"One of {', '.join(FAULTS)}.")
    if kind == "seal_applied":
        if seal in seals:
            raise field_error("seal_number", f"Seal {seal} is already on meter {meter.number}.")
        if meter.status == IN_SERVICE:
            check_seals_free(session, actor=actor, seals=[str(seal)], meter_id=meter.id)
        seals.append(str(seal))
    elif kind == "seal_removed":
        if seal not in seals:
            raise field_error("seal_number", f"Seal {seal} is not on meter {meter.number}.")
        seals.remove(str(seal))
    elif kind == "fault_found":
        if fault not in faults:
            faults.append(str(fault))
        if fault == "broken_seal" and seal:
            if seal not in seals:
                raise field_error("seal_number", f"Seal {seal} is not on meter {meter.number}.")
            seals.remove(seal)
    elif kind == "fault_cleared":
        if fault not in faults:
            raise field_error("fault", f"Meter {meter.number} has no {fault} fault.")
        faults.remove(str(fault))
    else:
        raise field_error("kind", f"One of {', '.join(EVENT_KINDS)}.")
    return {"seals": seals, "faults": faults}


def load_meter(session: Session, actor: Actor, meter_id: uuid.UUID) -> Meter:
    """A meter whose file is in the caller's scope (404 / 403 otherwise)."""
    meter = session.get(Meter, meter_id)
    if meter is None:
        raise NotFound(f"Meter {meter_id} does not exist.")
    if not in_scope(session, actor, meter):
        from backend.errors import OutOfScope

        raise OutOfScope.of("Meter")
    return meter


def apply_event(session: Session, actor: Actor, event: MeterEvent, *, source: str) -> None:
    """Move the meter to its next version with the event's change."""
    meter = session.get(Meter, event.meter_id)
    assert meter is not None  # noqa: S101 - checked before the event was kept
    changes = meter_changes(session, actor, meter, event.kind, event.seal_number, event.fault)
    detail = event.seal_number or event.fault
    versions.append(
        session, meter, changes, actor=event.created_by, reason=f"{event.kind} {detail}",
        source=source,
    )  # fmt: skip
    event.meter_version_no = meter.version_no


def record_event(
    *, session: Session, actor: Actor, meter_id: uuid.UUID, data: dict[str, Any]
) -> MeterEvent:
    """Record a seal or fault event over REST (sync pushes take the same checks)."""
    authorize(actor, Action.METER_EVENT_RECORD)
    meter = load_meter(session, actor, meter_id)
    refuse_ahead_of_server("occurred_at", data.get("occurred_at"))
    refuse_foreign_blob(session, actor, data.get("photo_sha256"), "photo_sha256")
    meter_changes(session, actor, meter, data["kind"], data.get("seal_number"), data.get("fault"))
    now = utcnow()
    event = MeterEvent(
        meter_id=meter.id, department_id=meter.department_id, crew_id=actor.crew_id,
        created_by=actor.audit_name, occurred_at=data.get("occurred_at") or now, recorded_at=now,
        kind=data["kind"], seal_number=data.get("seal_number"), fault=data.get("fault"),
        photo_sha256=data.get("photo_sha256"), inspection_id=data.get("inspection_id"),
        note=data.get("note"),
    )  # fmt: skip
    session.add(event)
    session.flush()
    apply_event(session, actor, event, source=Source.UI)
    session.flush()
    return event


def import_remote(
    *, session: Session, actor: Actor, readings: list[dict[str, Any]], rules: ReconcileRules
) -> dict[str, Any]:
    """Store remote readings (all or none) and reconcile each meter; return counts."""
    authorize(actor, Action.REMOTE_READING_IMPORT)
    meters: dict[uuid.UUID, Meter] = {}
    for index, row in enumerate(readings):
        meter = session.get(Meter, row["meter_id"])
        if meter is None or not in_scope(session, actor, meter):
            raise field_error("readings", f"Row {index}: no meter {row['meter_id']} in scope.")
        meters[meter.id] = meter
    now = utcnow()
    for row in readings:
        meter = meters[row["meter_id"]]
        session.add(
            MeterReading(
                department_id=meter.department_id,
                crew_id=None,
                created_by=actor.audit_name,
                occurred_at=row["read_at"],
                recorded_at=now,
                meter_id=meter.id,
                premise_id=meter.premise_id,
                value=row["value"],
                reading_kind="kwh",
                read_at=row["read_at"],
                source="remote",
            )  # fmt: skip
        )
    session.flush()
    anomalies = [a for m in meters.values() for a in reconcile(session, m, rules)]
    return {
        "stored": len(readings),
        "meters": len(meters),
        "anomalies": len(anomalies),
        "progress": 1.0,
        "anomaly_ids": [a.id for a in anomalies],
    }


def reconcile(
    session: Session, meter: Meter, rules: ReconcileRules, arriving: tuple[Any, ...] = ()
) -> list[MeterAnomaly]:
    """Compare the meter's photographed manual readings with remote ones; raise anomalies.

    `arriving`: readings of this push not inserted yet (sync appends them in one statement).
    """
    rows = session.scalars(
        select(MeterReading)
        .where(MeterReading.meter_id == meter.id, MeterReading.deleted.is_(False))
        .order_by(MeterReading.read_at)
    ).all()
    remote = [r for r in rows if r.source == "remote"]
    stored = {r.id for r in rows}
    manual = [r for r in rows if r.source == "manual" and r.photo_sha256]
    manual += [r for r in arriving if r.id not in stored and r.photo_sha256]
    if not remote or not manual:
        return []
    known = set(
        session.scalars(
            select(MeterAnomaly.manual_reading_id).where(
                MeterAnomaly.manual_reading_id.in_([m.id for m in manual])
            )
        )
    )
    raised = []
    for reading in manual:
        if reading.id in known:
            continue
        near = min(remote, key=lambda r: abs(r.read_at - reading.read_at))
        if abs(near.read_at - reading.read_at) > rules.window:
            continue
        difference = float(near.value) - float(reading.value)
        tolerance = rules.tolerance(float(reading.value))
        if abs(difference) <= tolerance:
            continue
        raised.append(_raise(session, meter, reading, near, difference, tolerance))
    session.flush()
    return raised


def _raise(
    session: Session, meter: Meter, manual: MeterReading, remote: MeterReading,
    difference: float, tolerance: float,
) -> MeterAnomaly:  # fmt: skip
    anomaly = MeterAnomaly(
        id=uuid.uuid4(), meter_id=meter.id, department_id=meter.department_id,
        manual_reading_id=manual.id, remote_reading_id=remote.id,
        manual_value=float(manual.value), remote_value=float(remote.value),
        difference=round(difference, 3), tolerance=round(tolerance, 3), detected_at=utcnow(),
    )  # fmt: skip
    session.add(anomaly)
    inspector = plans.inspector_for(session, meter.department_id, preferred=manual.created_by)
    premise = session.get(Premise, meter.premise_id)
    if inspector is not None and premise is not None:
        task = plans.new_task(
            session, premise=premise, inspector_id=inspector, due_at=utcnow() + timedelta(days=3),
            equipment_type=plans.EQUIPMENT_OF_METER.get(meter.meter_type, plans.DEFAULT_EQUIPMENT),
            kind="special", reason="meter_anomaly", anomaly_id=anomaly.id,
            note=(f"Meter {meter.number}: remote {remote.value} vs photographed {manual.value} "
                  f"(difference {difference:.1f}, tolerance {tolerance:.1f})"),
        )  # fmt: skip
        anomaly.task_id = task.id
    return anomaly


def reconciles_on_arrival(reading: Any) -> bool:
    """Whether a synced reading is reconciled at once: a manual one with a photo."""
    return getattr(reading, "source", None) in (None, "manual") and bool(reading.photo_sha256)


def reading_arrived(session: Session, reading: Any, rules: ReconcileRules) -> None:
    """A manual reading with a photo was synced: reconcile its meter at once."""
    if not reconciles_on_arrival(reading):
        return
    meter = session.get(Meter, reading.meter_id)
    if meter is not None:
        reconcile(session, meter, rules, arriving=(reading,))


def find_anomalies(*, session: Session, actor: Actor) -> Any:
    """Select the anomalies of the actor's departments, newest first."""
    from backend.auth.policy import department_filter

    authorize(actor, Action.PLAN_READ)
    return (
        select(MeterAnomaly)
        .where(MeterAnomaly.department_id.in_(department_filter(actor)))
        .order_by(MeterAnomaly.detected_at.desc(), MeterAnomaly.id)
    )
