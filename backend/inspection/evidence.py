"""The evidence gate: may a case's enforcement (cut supply, seal, remove meter) go ahead?

One function, `check`, answers for every door — REST, sync pushes and [Customer risk]'s
collection ladder — so the rule cannot drift between them. Evidence counts when:
- a photo's blob is stored and hash-verified, and its position is within `radius_m` of the
  premise: the EXIF GPS of the image, or, where the image has none, the GPS fix the capturing
  device synced closest to the capture time (within `fix_gap`);
- its capture time (EXIF, else the photo record's) lies in the inspection window around
  the case's `inspected_at`;
- and enough meter readings at the premise were taken in the same window.
A supervisor's override (with a reason) lets enforcement go ahead anyway; it stays on the case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.archive.models import Meter, Photo, Premise
from backend.inspection.cases import InspectionCase
from backend.inspection.models import GpsFix, MeterReading
from gis.geometry import haversine_m
from sync.store import BlobRecord


@dataclass(frozen=True)
class EvidenceRules:
    """The gate's thresholds (Config: INSPECTION_EVIDENCE_*)."""

    radius_m: float = 100.0
    window: timedelta = timedelta(hours=12)
    fix_gap: timedelta = timedelta(minutes=5)
    min_photos: int = 1
    min_readings: int = 1

    @classmethod
    def from_config(cls, config: Any) -> EvidenceRules:
        """Build the rules from a Flask config mapping (or anything with `.get`)."""
        return cls(
            radius_m=float(config.get("INSPECTION_EVIDENCE_RADIUS_M", cls.radius_m)),
            window=timedelta(hours=float(config.get("INSPECTION_WINDOW_HOURS", 12))),
            fix_gap=timedelta(seconds=float(config.get("INSPECTION_FIX_GAP_SECONDS", 300))),
            min_photos=int(config.get("INSPECTION_EVIDENCE_MIN_PHOTOS", cls.min_photos)),
            min_readings=int(config.get("INSPECTION_EVIDENCE_MIN_READINGS", cls.min_readings)),
        )


@dataclass
class Verdict:
    """What the gate found: `ok`, what is missing, and each photo's judgement."""

    ok: bool
    missing: list[str] = field(default_factory=list)
    photos: list[dict[str, Any]] = field(default_factory=list)
    readings: int = 0
    overridden: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the verdict as the API shows it."""
        return {
            "ok": self.ok,
            "missing": self.missing,
            "photos": self.photos,
            "readings": self.readings,
            "overridden": self.overridden,
        }


def _device_fix(session: Session, photo: Photo, at: datetime, gap: timedelta) -> GpsFix | None:
    """The capturing principal's synced fix nearest to `at`, no further than `gap` away."""
    fixes = session.scalars(
        select(GpsFix).where(
            GpsFix.created_by == photo.created_by, GpsFix.ts.between(at - gap, at + gap)
        )
    ).all()
    return min(fixes, key=lambda f: abs(f.ts - at), default=None)


def judge_photo(
    session: Session,
    photo: Photo,
    premise_lon_lat: tuple[float, float],
    window: tuple[datetime, datetime],
    rules: EvidenceRules,
) -> dict[str, Any]:
    """Judge one photo: `{sha256, ok, problem, position_source, distance_m, taken_at}`."""
    result: dict[str, Any] = {"photo_id": str(photo.id), "sha256": photo.sha256, "ok": False}
    blob = session.get(BlobRecord, photo.sha256)
    if blob is None or not blob.complete:
        return {**result, "problem": "the photo's blob has not been uploaded and verified"}
    taken = blob.taken_at or photo.taken_at or photo.occurred_at
    result["taken_at"] = taken.isoformat()
    if blob.lat is not None and blob.lon is not None:
        lon, lat, source = blob.lon, blob.lat, "exif"
    else:
        fix = _device_fix(session, photo, taken, rules.fix_gap)
        if fix is None:
            problem = "no EXIF GPS and no synced GPS fix of the capturing device near its time"
            return {**result, "problem": problem}
        lon, lat, source = fix.lon, fix.lat, "device_fix"
    distance = haversine_m(lon, lat, *premise_lon_lat)
    result.update(position_source=source, distance_m=round(distance, 1))
    if distance > rules.radius_m:
        problem = f"taken {distance:.0f} m from the premise (allowed {rules.radius_m:.0f} m)"
        return {**result, "problem": problem}
    if not window[0] <= taken <= window[1]:
        return {**result, "problem": "taken outside the inspection window"}
    return {**result, "ok": True, "problem": None}


def check(session: Session, case: InspectionCase, rules: EvidenceRules) -> Verdict:
    """Tell whether the case's evidence allows enforcement, and what is missing if not."""
    verdict = Verdict(ok=False, overridden=case.override_at is not None)
    premise = session.get(Premise, case.premise_id)
    window = (case.inspected_at - rules.window, case.inspected_at + rules.window)
    if premise is None or premise.location is None:
        verdict.missing.append("the premise has no location in the archive to check photos")
    else:
        point = to_shape(premise.location)
        where = [Photo.premise_id == case.premise_id]
        if case.inspection_id is not None:
            where.append(Photo.inspection_id == case.inspection_id)
        photos = session.scalars(select(Photo).where(or_(*where)).order_by(Photo.id)).all()
        verdict.photos = [
            judge_photo(session, p, (point.x, point.y), window, rules) for p in photos
        ]
        good = sum(1 for p in verdict.photos if p["ok"])
        if good < rules.min_photos:
            verdict.missing.append(
                f"photos: {rules.min_photos} verified photo(s) taken within "
                f"{rules.radius_m:.0f} m of the premise in the inspection window needed, "
                f"{good} found"
            )
    meters = select(Meter.id).where(Meter.premise_id == case.premise_id)
    verdict.readings = len(
        session.scalars(
            select(MeterReading.id).where(
                or_(MeterReading.premise_id == case.premise_id, MeterReading.meter_id.in_(meters)),
                MeterReading.read_at.between(*window),
            )
        ).all()
    )
    if verdict.readings < rules.min_readings:
        verdict.missing.append(
            f"readings: {rules.min_readings} meter reading(s) at the premise in the inspection "
            f"window needed, {verdict.readings} found"
        )
    verdict.ok = not verdict.missing or verdict.overridden
    return verdict
