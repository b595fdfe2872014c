"""Builders for the inspection tests: a customer file in the inspector's station, photos."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from tests.archive.helpers import customer_body, meter_body
from tests.sync.helpers import batch, mutation

# The premise of `customer_body()`.
PREMISE = (30.2329, 120.1234)
FAR = (30.2500, 120.1500)  # about 3 km away

FULL = {
    "discovery": {"two_inspectors_present": True, "identity_shown": True, "scene_recorded": True},
    "evidence": {
        "two_inspectors_present": True,
        "evidence_listed": True,
        "meter_reading_recorded": True,
        "customer_signature": "refused_witnessed",
    },
    "notice": {"notice_served": True, "customer_signature": "signed", "rights_explained": True},
    "hearing": {"statement": "recorded"},
    "decision": {"legal_basis_cited": True, "charges_calculated": True},
    "enforcement": {
        "two_inspectors_present": True,
        "identity_shown": True,
        "prior_notice_served": True,
    },
    "recovery": {"charges_invoiced": True, "payment": "paid"},
    "closure": {"file_complete": True},
}


def station_file(api: Any, demo: Any) -> dict[str, Any]:
    """Open a customer file (with a meter) in the inspector's station ST-URB."""
    archivist = api("archivist")
    station = demo.departments["ST-URB"].id
    response = archivist.post("/api/v1/customers", json=customer_body(department_id=station))
    assert response.status_code == 201, response.get_json()
    customer = response.get_json()
    premise = customer["premises"][0]["id"]
    meter = archivist.post(f"/api/v1/premises/{premise}/meters", json=meter_body())
    assert meter.status_code == 201, meter.get_json()
    return {
        "customer_id": customer["id"],
        "premise_id": premise,
        "meter_id": meter.get_json()["id"],
    }


def open_case(inspector: Any, file: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Open a theft case on the file as the inspector."""
    body = {
        "kind": "theft",
        "customer_id": file["customer_id"],
        "premise_id": file["premise_id"],
        "summary": "Bypass wire found before the meter",
        **extra,
    }
    response = inspector.post("/api/v1/cases", json=body)
    assert response.status_code == 201, response.get_json()
    case: dict[str, Any] = response.get_json()
    return case


def step(who: Any, case_id: str, name: str, **body: Any) -> Any:
    """Complete a step with its full checklist unless another is given."""
    payload = {"step": name, "checklist": FULL[name], **body}
    return who.post(f"/api/v1/cases/{case_id}/steps", json=payload)


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    return (float(degrees), float(minutes), round((minutes_full - minutes) * 60, 4))


def jpeg(position: tuple[float, float] | None, taken: datetime | None = None) -> bytes:
    """A JPEG, with EXIF GPS at `position` (lat, lon) and capture time, or without EXIF."""
    image = Image.new("RGB", (64, 48), (30, 90, 160))
    out = io.BytesIO()
    if position is None:
        image.save(out, "JPEG", quality=70)
    else:
        exif = Image.Exif()
        when = (taken or datetime.now(UTC)).astimezone(UTC)
        exif.get_ifd(0x8769)[36867] = when.strftime("%Y:%m:%d %H:%M:%S")
        exif.get_ifd(0x8769)[36881] = "+00:00"
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = "N", _dms(position[0])
        gps[3], gps[4] = "E", _dms(position[1])
        image.save(out, "JPEG", exif=exif, quality=70)
    return out.getvalue() + os.urandom(16)  # unique bytes per test


def push(who: Any, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    """Push mutations and return their verdicts."""
    response = who.post("/api/v1/sync/push", json=batch(*mutations))
    assert response.status_code == 200, response.get_json()
    verdicts: list[dict[str, Any]] = response.get_json()["verdicts"]
    return verdicts


def inspection_at(who: Any, premise_id: str) -> str:
    """Push an inspection of the premise from the handheld; return its id."""
    item = mutation("inspection", "create", {"status": "in_progress", "premise_id": premise_id})
    verdicts = push(who, item)
    assert verdicts[0]["verdict"] == "applied", verdicts
    return str(item["id"])


def photo_at(who: Any, inspection_id: str, data: bytes, **fields: Any) -> str:
    """Upload the bytes as a blob and push a photo record of the inspection naming it."""
    sha = hashlib.sha256(data).hexdigest()
    uploaded = who.put(f"/api/v1/blobs/{sha}", data=data, headers={"Content-Type": "image/jpeg"})
    assert uploaded.status_code == 200, uploaded.get_json()
    verdicts = push(
        who, mutation("photo", "append", {"sha256": sha, "inspection_id": inspection_id, **fields})
    )
    assert verdicts[0]["verdict"] == "applied", verdicts
    return sha


def reading_at(who: Any, file: dict[str, Any], value: float = 1520.5) -> None:
    """Push a meter reading of the file's meter."""
    fields = {
        "meter_id": file["meter_id"],
        "premise_id": file["premise_id"],
        "value": value,
        "reading_kind": "kwh",
        "read_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    verdicts = push(who, mutation("meter_reading", "append", fields))
    assert verdicts[0]["verdict"] == "applied", verdicts
