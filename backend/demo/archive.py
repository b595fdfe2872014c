"""Demo customer files around the demo depots: customers, premises, meters, documents, history."""

from __future__ import annotations

import hashlib
import io
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.archive import documents_service, gates, meters, service
from backend.archive.records import Customer
from backend.archive.vocab import Source, Stage
from backend.auth.actor import Actor
from backend.db import point_element
from backend.org.models import Department
from sync.blobs.service import Chunk, put_chunk
from sync.blobs.storage import BlobStorage
from sync.store import BlobRecord

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超"]
COMPANIES = ["茶叶有限公司", "纺织厂", "食品有限公司", "机械制造厂", "物业管理公司", "小学", "医院"]
ROADS = ["延安路", "解放路", "文三路", "天目山路", "莫干山路", "凤起路", "体育场路", "湖墅南路"]
STATIONS = ("ST-URB", "ST-SUB", "ST-EMR")
STAGES = (Stage.APPLICATION, Stage.SURVEY, Stage.INSTALLATION, Stage.ACCEPTANCE, Stage.CONTRACT)
PREFIX = "DEMO-"


def _picture(stage: str) -> bytes:
    """A small deterministic JPEG standing in for a scanned page of `stage`."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 640), (245, 245, 235))
    ImageDraw.Draw(image).text((40, 40), f"Fieldline demo scan: {stage}", fill=(20, 20, 20))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=60)
    return out.getvalue()


def _store_scans(session: Session, actor: Actor, storage: BlobStorage) -> dict[str, str]:
    """Upload one scan per stage through the blob store (deduplicated); returns the hashes."""
    from backend.auth.sync_access import sync_actor
    from sync.registry import registry

    uploader = sync_actor(session, actor)
    hashes = {}
    for stage in (*STAGES, Stage.CLOSURE):  # closure: closing an account needs its form
        data = _picture(stage.value)
        sha = hashlib.sha256(data).hexdigest()
        blob = session.get(BlobRecord, sha)
        if blob is None or not blob.complete:
            chunk = Chunk(0, len(data), data)
            put_chunk(session, storage, registry, actor=uploader, sha256=sha,
                      media_type="image/jpeg", chunk=chunk, readable=True,
                      now=datetime.now(UTC))  # fmt: skip
        hashes[stage.value] = sha
    return hashes


def _mobile(rng: random.Random) -> str:
    return f"1{rng.randint(3, 9)}{rng.randint(0, 10**9 - 1):09d}"


def _customer(rng: random.Random, number: int, station: Department) -> dict[str, Any]:
    assert station.site is not None  # noqa: S101 - demo stations have sites
    from geoalchemy2.shape import to_shape

    site = to_shape(station.site)
    business = rng.random() < 0.3
    name = (rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(COMPANIES)) if business else (
        rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.choice((1, 2)))))  # fmt: skip
    voltage = rng.choice(("10kV", "380V")) if business else "220V"
    lon = site.x + rng.uniform(-0.03, 0.03)
    lat = site.y + rng.uniform(-0.025, 0.025)
    line = f"{station.code.split('-')[1]}-{rng.randint(1, 6)}线"
    return {
        "account_number": f"{PREFIX}{number:06d}",
        "name": name,
        "customer_type": "non_residential" if business else "residential",
        "voltage_level": voltage,
        "contract_capacity_kw": float(rng.choice((315, 630, 1250) if business else (4, 8, 12))),
        "region_code": station.region_code or "HZ",
        "department_id": station.id,
        "contacts": [{"name": name[:3], "role": "owner", "phone": _mobile(rng)}],
        "contract_number": f"HT{number:07d}" if business else None,
        "contract_signed_on": date(2020, 1, 1) + timedelta(days=rng.randint(0, 1500)),
        "contract_expires_on": date(2026, 1, 1) + timedelta(days=rng.randint(0, 1500)),
        "supply_scheme": f"{voltage} single supply from line {line}" if business else None,
        "premises": [{"address": f"杭州市{rng.choice(ROADS)}{rng.randint(1, 400)}号",
                      "location": point_element(round(lon, 6), round(lat, 6)), "line_name": line}],
    }  # fmt: skip


def seed_archive(
    session: Session, actor: Actor, storage: BlobStorage, *, count: int = 300, seed: int = 12
) -> int:
    """Create `count` demo customer files (once: skipped when demo accounts exist)."""
    existing = session.scalar(
        select(func.count()).where(Customer.account_number.startswith(PREFIX))
    )
    if existing:
        return 0
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    stations = [session.scalars(select(Department).where(Department.code == c)).one()
                for c in STATIONS]  # fmt: skip
    scans = _store_scans(session, actor, storage)
    for number in range(1, count + 1):
        data = _customer(rng, number, stations[number % len(stations)])
        customer = service.open_customer(session=session, actor=actor, data=data)
        premise = service.premises_of(session, customer.id)[0]
        business = customer.customer_type == "non_residential"
        meter = meters.add_meter(session=session, actor=actor, premise_id=premise.id, data={
            "number": f"DM{number:08d}",
            "meter_type": "ct_operated" if business else "single_phase",
            "multiplier": 40.0 if business else 1.0,
            "reading_method": "remote" if rng.random() < 0.8 else "manual",
            "installed_on": date(2016, 1, 1) + timedelta(days=rng.randint(0, 3000)),
            "seals": [f"S{number:06d}"]})  # fmt: skip
        for stage in STAGES[: rng.randint(1, len(STAGES))]:
            documents_service.attach(session=session, actor=actor, customer_id=customer.id, data={
                "sha256": scans[stage.value], "stage": stage.value, "kind": "scan",
                "title": f"{stage.value} form", "media_type": "image/jpeg",
                "paper_shelf": f"A-{number // 50:02d}", "paper_box": str(number % 50)})  # fmt: skip
        if rng.random() < 0.3:  # a later change: capacity or contact
            service.change_customer(
                session=session, actor=actor, customer_id=customer.id,
                changes={"contract_capacity_kw": customer.contract_capacity_kw * 2},
                reason="capacity increase approved",
            )  # fmt: skip
        if rng.random() < 0.1:  # a field verification found a fault
            meters.change_meter(session=session, actor=actor, meter=meter,
                                changes={"faults": ["broken_seal"]}, reason="inspection",
                                source=Source.FIELD_VERIFICATION)  # fmt: skip
        if number % 25 == 0:  # a step done days ago whose scans are late: the worklist chases it
            done_at = datetime.now(UTC) - timedelta(days=number % 4)
            gates.record_step(session=session, actor=actor, customer_id=customer.id,
                              stage="change", completed_at=done_at)  # fmt: skip
        if rng.random() < 0.03:
            if "closure" not in {
                d.stage
                for d in documents_service.documents_of(
                    session=session, actor=actor, customer_id=customer.id
                )
            }:  # the gate
                documents_service.attach(session=session, actor=actor, customer_id=customer.id,
                                         data={"sha256": scans["closure"], "stage": "closure",
                                               "kind": "scan", "title": "closure application",
                                               "media_type": "image/jpeg"})  # fmt: skip
            service.close_customer(session=session, actor=actor, customer_id=customer.id,
                                   reason="customer moved away")  # fmt: skip
    return count
