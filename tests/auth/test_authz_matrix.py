"""The authorization matrix: every operation of the URL map x every caller x own/foreign record.

The expected table is `tests/auth/authz_matrix.yaml` (read it as the security model). An
operation missing from it fails the test, so a new route needs a reviewed row. Each cell
runs inside a savepoint that is rolled back, so the cells do not affect each other.

A cell is `ok` (the caller got past authorization: 2xx, or a 4xx about the request or the
record's state), `404`, `403` or `401`; a 5xx is always a failure. Regenerate the table after a
deliberate change with `FIELDLINE_WRITE_AUTHZ_MATRIX=1 pytest tests/auth/test_authz_matrix.py`
and review the diff.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from backend.db import Database
from backend.demo import DEMO_DEVICE_SECRET, DEMO_PASSWORD, DemoOrg
from backend.dispatch.models import WorkOrder
from backend.risk.credit_service import install_defaults
from backend.risk.default_models import DEFAULT_MODELS
from sync.blobs.storage import LocalBlobStorage
from tests.auth import matrix_fixtures as fx
from tests.sync.helpers import batch, mutation

MATRIX = Path(__file__).with_name("authz_matrix.yaml")
WRITE = os.environ.get("FIELDLINE_WRITE_AUTHZ_MATRIX") == "1"

# Columns, in the table's order: a demo user per role, a vehicle terminal, nobody.
CALLERS = {
    "admin": "admin",
    "auditor": "auditor",
    "call_center": "callcenter",
    "repair_center": "dispatcher",
    "supervisor": "supervisor",
    "crew": "crew1",
    "inspector": "inspector",
    "archivist": "archivist",
    "collections": "collector",
    "key_account_manager": "keyaccount",
    "device": "T-1001",
    "anonymous": None,
}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _in_a_month() -> str:
    return (datetime.now(UTC) + timedelta(days=30)).isoformat()


def _later() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).isoformat()


@dataclass
class Ctx:
    """What one cell's request may refer to."""

    side: fx.Side
    department: int
    user: int


Body = Callable[[Ctx], Any]


@dataclass(frozen=True)
class Case:
    """How to call one operation: a body, a query, binary data, which token."""

    body: Body | None = None
    query: dict[str, Any] = field(default_factory=dict)
    data: bytes | None = None
    refresh: bool = False
    # The body names records, so a foreign variant is tried too.
    foreign: bool = False


# Valid requests where a body matters; other operations are called bare.
CASES: dict[str, Case] = {
    "POST /api/v1/auth/login": Case(lambda c: {"username": "crew2", "password": DEMO_PASSWORD}),
    "POST /api/v1/auth/device-login": Case(
        lambda c: {"identifier": "T-1001", "secret": DEMO_DEVICE_SECRET}
    ),
    "POST /api/v1/auth/refresh": Case(refresh=True),
    "POST /api/v1/auth/logout": Case(lambda c: {}),
    "PUT /api/v1/blobs/{sha256}": Case(data=b"x"),
    "POST /api/v1/crews": Case(
        lambda c: {"name": "M", "department_id": c.side.station, "work_types": ["water"]},
        foreign=True,
    ),
    "PATCH /api/v1/crews/{crew_id}": Case(lambda c: {}),
    "PUT /api/v1/crews/{crew_id}/availability": Case(lambda c: {"available": True}),
    "POST /api/v1/departments": Case(
        lambda c: {"code": "MX", "name": "M", "kind": "station", "parent_id": c.side.station},
        foreign=True,
    ),
    "PATCH /api/v1/departments/{department_id}": Case(lambda c: {}),
    "POST /api/v1/devices": Case(
        lambda c: {"identifier": "H-MX", "kind": "handheld", "department_id": c.side.station},
        foreign=True,
    ),
    "PATCH /api/v1/devices/{device_id}": Case(lambda c: {"active": True}),
    "PUT /api/v1/sla-policies/{region_code}/{order_type}": Case(lambda c: {}),
    "POST /api/v1/sync/conflicts/{conflict_id}/resolve": Case(
        lambda c: {"resolution": "take_server"}
    ),
    "POST /api/v1/sync/push": Case(lambda c: batch()),
    "POST /api/v1/users": Case(
        lambda c: {
            "username": "mx",
            "full_name": "M",
            "password": "long-enough-password",
            "role": "crew",
            "department_id": c.side.station,
        },
        foreign=True,
    ),
    "PATCH /api/v1/users/{user_id}": Case(lambda c: {}),
    "POST /api/v1/vehicles": Case(
        lambda c: {"plate": "MX-1", "department_id": c.side.station, "specialty": "water"},
        foreign=True,
    ),
    "PATCH /api/v1/vehicles/{vehicle_id}": Case(lambda c: {}),
    "PUT /api/v1/vehicles/{vehicle_id}/queue": Case(lambda c: {"order_ids": [c.side.order]}),
    "POST /api/v1/work-orders": Case(
        lambda c: {
            "order_type": "electric",
            "fault_type": "no power",
            "specialty": "low_voltage",
            "address": "1 Matrix Rd",
            "hung_up_at": _now(),
            "call_center_id": c.side.call_center,
        },
        foreign=True,
    ),
    "POST /api/v1/work-orders/{order_id}/dispatch": Case(lambda c: {"crew_id": c.side.crew}),
    "POST /api/v1/work-orders/{order_id}/events": Case(
        lambda c: {
            "point": "E",
            "occurred_at": _now(),
            "source": "manual",
            "details": {"reason": "authorization matrix"},
        }
    ),
    "PUT /api/v1/work-orders/{order_id}/fault-record": Case(lambda c: {"cause": "tree"}),
    "POST /api/v1/work-orders/{order_id}/follow-up": Case(
        lambda c: {"result": "fine", "satisfied": True}
    ),
    "POST /api/v1/work-orders/{order_id}/issue": Case(
        lambda c: {"repair_center_id": c.side.repair_center}
    ),
    "POST /api/v1/work-orders/{order_id}/reassign": Case(
        lambda c: {"crew_id": c.side.crew, "reason": "matrix"}
    ),
    "POST /api/v1/work-orders/{order_id}/recall": Case(lambda c: {"reason": "matrix"}),
    "POST /api/v1/network/substations": Case(
        lambda c: {"code": "S-MX", "name": "M", "department_id": c.side.station}, foreign=True
    ),
    "POST /api/v1/network/lines": Case(
        lambda c: {
            "code": "L-MX",
            "name": "M",
            "voltage": "10kV",
            "route": "LINESTRING(120 30, 120.1 30.1)",
            "department_id": c.side.station,
        },
        foreign=True,
    ),
    "PATCH /api/v1/network/lines/{line_id}": Case(lambda c: {"name": "M"}),
    "POST /api/v1/network/areas": Case(
        lambda c: {
            "code": "TA-MX",
            "name": "M",
            "line_id": c.side.line,
            "capacity_kva": 100,
            "ownership": "public",
            "location": "POINT(120 30)",
            "department_id": c.side.station,
        },
        foreign=True,
    ),
    "PATCH /api/v1/network/areas/{area_id}": Case(lambda c: {"name": "M"}),
    "PUT /api/v1/customers/{customer_id}/flags": Case(lambda c: {"important": True}),
    "POST /api/v1/outages": Case(
        lambda c: {
            "kind": "unplanned",
            "scope": "area",
            "area_id": c.side.area,
            "reason": "matrix",
            "starts_at": "2030-01-01T00:00:00+00:00",
            "planned_end_at": "2030-01-01T02:00:00+00:00",
        },
        foreign=True,
    ),
    "POST /api/v1/outages/{outage_id}/transition": Case(lambda c: {"to": "restored"}),
    "GET /api/v1/quick-query": Case(query={"q": "HZ-T"}),
    "POST /api/v1/outage-suggestions/{suggestion_id}/confirm": Case(
        lambda c: {
            "reason": "matrix",
            "starts_at": "2030-01-01T00:00:00+00:00",
            "planned_end_at": "2030-01-01T02:00:00+00:00",
        }
    ),
    "POST /api/v1/outage-suggestions/{suggestion_id}/dismiss": Case(lambda c: {}),
    "POST /api/v1/water/nodes": Case(
        lambda c: {
            "code": f"WN-M{uuid.uuid4().hex[:8]}",
            "kind": "hydrant",
            "location": "POINT(120.1 30.2)",
            "department_id": c.side.station,
        },
        foreign=True,
    ),  # fmt: skip
    "POST /api/v1/water/pipes": Case(
        lambda c: {
            "code": f"WP-M{uuid.uuid4().hex[:8]}",
            "from_node_id": c.side.node,
            "to_node_id": c.side.junction,
            "route": "LINESTRING(120.1 30.2, 120.2 30.2)",
            "diameter_mm": 100,
            "material": "PE",
            "department_id": c.side.station,
        },
        foreign=True,
    ),  # fmt: skip
    "POST /api/v1/region-codes": Case(
        lambda c: {"code": "MY", "name": "M", "service_contact": "M", "service_phone": "1"}
    ),
    "PATCH /api/v1/region-codes/{code}": Case(lambda c: {"name": "M"}),
    "POST /api/v1/outages/{outage_id}/extend": Case(
        lambda c: {"planned_end_at": "2030-01-01T02:00:00+00:00"}
    ),
    "POST /api/v1/cases": Case(
        lambda c: {
            "kind": "theft",
            "customer_id": str(uuid.uuid4()),
            "premise_id": str(uuid.uuid4()),
            "summary": "matrix",
        }
    ),
    "POST /api/v1/cases/{case_id}/steps": Case(lambda c: {"step": "discovery", "checklist": {}}),
    "POST /api/v1/cases/{case_id}/evidence-override": Case(lambda c: {"reason": "matrix"}),
    "POST /api/v1/inspection-plans": Case(
        lambda c: {
            "name": "matrix",
            "kind": "periodic",
            "department_id": c.side.station,
            "interval_days": 30,
            "equipment_type": "low_voltage_meter",
            "inspector_ids": [1],
        },
        foreign=True,
    ),  # fmt: skip
    "POST /api/v1/inspection-checklists/{equipment_type}": Case(
        lambda c: {"title": "matrix", "items": [{"key": "ok", "label": "ok", "kind": "yes_no"}]}
    ),
    "POST /api/v1/inspection-tasks/{task_id}/result": Case(lambda c: {"checklist": {}}),
    "POST /api/v1/inspection-tasks/{task_id}/cancel": Case(lambda c: {"reason": "matrix"}),
    "POST /api/v1/hazards": Case(
        lambda c: {
            "premise_id": str(uuid.uuid4()),
            "severity": "low",
            "category": "other",
            "description": "matrix",
        }
    ),  # fmt: skip
    "POST /api/v1/hazards/{hazard_id}/notice": Case(
        lambda c: {"rectify_by": "2030-01-01T00:00:00+00:00"}
    ),
    "POST /api/v1/hazards/{hazard_id}/resolve": Case(lambda c: {"resolution": "rectified"}),
    "POST /api/v1/meters/{meter_id}/events": Case(
        lambda c: {"kind": "fault_found", "fault": "stuck"}
    ),
    "POST /api/v1/meter-readings/remote": Case(
        lambda c: {"readings": [{"meter_id": str(uuid.uuid4()), "value": 1, "read_at": _now()}]}
    ),
    "POST /api/v1/verification-batches": Case(
        lambda c: {"name": "matrix", "department_id": c.side.station, "assignee_ids": [1]},
        foreign=True,
    ),
    "POST /api/v1/verification-items/{item_id}/check": Case(lambda c: {"corrections": {}}),
    "POST /api/v1/verification-items/{item_id}/review": Case(lambda c: {"approve": False}),
    "GET /api/v1/reports/inspections": Case(
        query={"from": "2030-01-01T00:00:00+00:00", "to": "2030-01-02T00:00:00+00:00"}
    ),
    "GET /api/v1/alerts/stream": Case(query={"max_seconds": 0, "poll_seconds": 0.1}),
    "PUT /api/v1/archive/deadline-rules/{deadline_kind}": Case(
        lambda c: {"limit_hours": 48, "warning_hours": 24, "repeat_hours": 24}
    ),
    "POST /api/v1/customers/{customer_id}/steps": Case(lambda c: {"stage": "application"}),
    "POST /api/v1/archive/access-requests": Case(
        lambda c: {"customer_id": str(uuid.uuid4()), "purpose": "m", "valid_until": _later()}
    ),
    "POST /api/v1/archive/access-requests/{request_id}/approve-department": Case(lambda c: {}),
    "POST /api/v1/archive/access-requests/{request_id}/approve-archive": Case(lambda c: {}),
    "POST /api/v1/archive/access-requests/{request_id}/refuse": Case(lambda c: {"reason": "m"}),
    "POST /api/v1/archive/loans": Case(
        lambda c: {"customer_id": str(uuid.uuid4()), "purpose": "m", "due_on": "2099-01-01"}
    ),
    "POST /api/v1/archive/loans/{loan_id}/approve": Case(lambda c: {}),
    "POST /api/v1/archive/loans/{loan_id}/refuse": Case(lambda c: {}),
    "POST /api/v1/archive/loans/{loan_id}/hand-out": Case(lambda c: {}),
    "POST /api/v1/archive/loans/{loan_id}/return": Case(lambda c: {}),
    "PUT /api/v1/archive/retention-rules/{voltage_class}": Case(lambda c: {"years": 5}),
    "POST /api/v1/archive/destruction-lists": Case(
        lambda c: {"customer_ids": [str(uuid.uuid4())], "storage_location": "m"}
    ),
    "POST /api/v1/archive/destruction-lists/{list_id}/approve": Case(lambda c: {}),
    "POST /api/v1/archive/destruction-lists/{list_id}/refuse": Case(lambda c: {}),
    "POST /api/v1/customers/{customer_id}/legal-holds": Case(lambda c: {"reason": "m"}),
    "POST /api/v1/archive/legal-holds/{hold_id}/release": Case(lambda c: {}),
    "GET /api/v1/tracking/feed": Case(query={"max_seconds": 0}),
    "PUT /api/v1/risk/credit-models/{size}": Case(
        lambda c: {"indicators": DEFAULT_MODELS["small"], "reason": "matrix"}
    ),
    "POST /api/v1/customers/{customer_id}/credit/assessments": Case(lambda c: {"indicators": {}}),
    "PUT /api/v1/customers/{customer_id}/credit-limit": Case(
        lambda c: {"amount": "100.00", "reason": "matrix"}
    ),
    "POST /api/v1/customers/{customer_id}/credit-check": Case(lambda c: {"amount": "1.00"}),
    "POST /api/v1/customers/{customer_id}/classification": Case(
        lambda c: {"classification": "special", "reason": "matrix"}
    ),
    "POST /api/v1/customers/{customer_id}/list-entries": Case(
        lambda c: {"kind": "red", "reason": "matrix", "valid_until": _in_a_month()}
    ),
    "POST /api/v1/risk/list-entries/{entry_id}/end": Case(lambda c: {"reason": "matrix"}),
    "POST /api/v1/risk/collection-cases/{collection_id}/steps": Case(
        lambda c: {"step": "deferral", "outcome": "refused"}
    ),
    "POST /api/v1/risk/collection-cases/{collection_id}/visit": Case(lambda c: {"crew_id": 1}),
}

# Path parameters naming scoped records; an operation with one gets a foreign variant.
SCOPED = {
    "order_id": lambda c: c.side.order,
    "vehicle_id": lambda c: c.side.vehicle,
    "crew_id": lambda c: c.side.crew,
    "department_id": lambda c: c.department,
    "user_id": lambda c: c.user,
    "alert_id": lambda c: c.side.alert,
    "conflict_id": lambda c: c.side.conflict,
    "sha256": lambda c: c.side.sha256,
    "line_id": lambda c: c.side.line,
    "area_id": lambda c: c.side.area,
    "outage_id": lambda c: c.side.outage,
    "suggestion_id": lambda c: c.side.suggestion,
    "node_id": lambda c: c.side.node,
    "pipe_id": lambda c: c.side.pipe,
    "device_id": lambda c: c.side.device,
}
# Parameters naming records of one crew: an "other_crew" variant tries the same station's
# other crew (Urban Crew 2), which devices and crew members of Urban Crew 1 may not see.
CREW_SCOPED = {"order_id", "vehicle_id", "crew_id", "conflict_id", "sha256"}
UNSCOPED: dict[str, Any] = {
    "region_code": "HZ",
    "order_type": "electric",
    "filename": "missing.txt",
    "kind": "customers",
    "number": 1,
    "z": 1,
    "y": 1,
    "x": 1,
    "name": "1.png",
    "layer": "lines",
    "code": "mx",
    "size": "small",
    "entry_id": 1,
    "warning_id": 1,
    "deadline_kind": "digitise",
    # Requests and loans nobody made: a caller allowed to decide gets 404, others 403.
    "request_id": "00000000-0000-4000-8000-000000000001",
    "loan_id": "00000000-0000-4000-8000-000000000002",
    "list_id": "00000000-0000-4000-8000-000000000003",
    "hold_id": "00000000-0000-4000-8000-000000000004",
    "voltage_class": "high",
    "collection_id": "00000000-0000-4000-8000-000000000005",
    "equipment_type": "low_voltage_meter",
    "version": 1,
}
# Archive files: one opened by the archivist in the demo org (own variant only, for now).
ARCHIVE = (
    "customer_id", "premise_id", "meter_id", "record_id", "document_id", "job_id", "case_id",
    "plan_id", "task_id", "hazard_id", "batch_id", "item_id",
)  # fmt: skip


def operations(app: Flask) -> list[tuple[str, str]]:
    """Every (method, rule) the app serves; HEAD only where a view defines it."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        methods = set(rule.methods or ()) - {"OPTIONS", "HEAD"}
        if hasattr(getattr(view, "view_class", None), "head"):
            methods.add("HEAD")
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        found.extend((method, path) for method in methods)
    return sorted(found, key=lambda op: (op[1], op[0]))


def _outcome(status: int) -> str:
    if status >= 500:
        return f"{status}!"
    if status in (401, 403, 404):
        return str(status)
    return "ok"


class Matrix:
    """Runs cells against the app, one rolled-back savepoint each."""

    def __init__(self, app: Flask, db: Database, session: Session, demo: DemoOrg) -> None:
        self.client: FlaskClient = app.test_client()
        self.connection = db.session_factory.kw["bind"]
        self.session = session
        self.own = fx.own_side(session, demo)
        self.other_crew = fx.own_side(session, demo, "Urban Crew 2", "ZJ-A1002", "crew6")
        self.foreign = fx.foreign_side(session)
        # What names the foreign records (an order's number; "MX-" starts its account, its
        # collection case's number and its handheld's identifier): no refusal may show them.
        self.foreign_names = (session.get(WorkOrder, uuid.UUID(self.foreign.order)).number, "MX-")
        install_defaults(session)  # the credit models, so their cells reach the views
        session.flush()
        session.commit()  # releases the fixture's savepoint: visible to the requests
        # The photos' blobs have bytes, so downloads are real.
        storage = app.extensions.setdefault("fieldline.blobs", LocalBlobStorage(tempfile.mkdtemp()))
        for side in (self.own, self.other_crew, self.foreign):
            storage.write(side.sha256, fx.blob_bytes(side.station, side.crew))
        self.tokens = {name: self._login(who) for name, who in CALLERS.items()}
        self.archive = self._open_file()
        self._rate(self.archive["customer_id"])

    def _open_file(self) -> dict[str, str]:
        from tests.archive.helpers import customer_body, meter_body

        headers = {"Authorization": f"Bearer {self.tokens['archivist']['access_token']}"}
        response = self.client.post("/api/v1/customers", json=customer_body(), headers=headers)
        assert response.status_code == 201, response.get_json()
        customer = response.get_json()
        premise = customer["premises"][0]["id"]
        response = self.client.post(
            f"/api/v1/premises/{premise}/meters", json=meter_body(), headers=headers
        )
        assert response.status_code == 201, response.get_json()
        meter = response.get_json()["id"]
        scan = b"%PDF-1.4 matrix scan"
        sha = hashlib.sha256(scan).hexdigest()
        response = self.client.put(
            f"/api/v1/blobs/{sha}", data=scan,
            headers={**headers, "Content-Type": "application/pdf"},
        )  # fmt: skip
        assert response.status_code == 200, response.get_json()
        document = {"sha256": sha, "stage": "contract", "kind": "contract", "title": "contract"}
        response = self.client.post(
            f"/api/v1/customers/{customer['id']}/documents", json=document, headers=headers
        )
        assert response.status_code == 201, response.get_json()
        document_id = response.get_json()["id"]
        response = self.client.post(
            "/api/v1/customer-imports",
            data={"file": (io.BytesIO(b"account_number\n"), "empty.csv"), "dry_run": "true"},
            content_type="multipart/form-data", headers=headers,
        )  # fmt: skip
        assert response.status_code == 201, response.get_json()
        return {
            "customer_id": customer["id"],
            "premise_id": premise,
            "meter_id": meter,
            "record_id": customer["id"],
            "document_id": document_id,
            "job_id": response.get_json()["id"],
            "case_id": self._open_case(headers),
            **self._inspection(premise),
        }

    def _inspection(self, premise: str) -> dict[str, str]:
        """A plan with its task, a hazard and a verification batch in crew1's station."""
        admin = {"Authorization": f"Bearer {self.tokens['admin']['access_token']}"}
        case = self.client.get(f"/api/v1/cases/{self.archive_case}", headers=admin).get_json()
        inspector = fx.user_id_of(self.session, "inspector")
        plan = self.client.post("/api/v1/inspection-plans", headers=admin, json={
            "name": "matrix", "kind": "special", "reason": "campaign",
            "department_id": self.own.station, "customer_ids": [case["customer_id"]],
            "equipment_type": "low_voltage_meter", "inspector_ids": [inspector],
        })  # fmt: skip
        assert plan.status_code == 201, plan.get_json()
        plan_id = plan.get_json()["id"]
        generated = self.client.post(f"/api/v1/inspection-plans/{plan_id}/generate", headers=admin)
        (task,) = generated.get_json()["tasks"]
        hazard = self.client.post("/api/v1/hazards", headers=admin, json={
            "premise_id": case["premise_id"], "severity": "low", "category": "other",
            "description": "matrix",
        })  # fmt: skip
        assert hazard.status_code == 201, hazard.get_json()
        batch = self.client.post("/api/v1/verification-batches", headers=admin, json={
            "name": "matrix", "department_id": self.own.station, "assignee_ids": [inspector],
        })  # fmt: skip
        assert batch.status_code == 201, batch.get_json()
        batch_id = batch.get_json()["id"]
        items = self.client.get(f"/api/v1/verification-batches/{batch_id}/items", headers=admin)
        return {
            "plan_id": plan_id,
            "task_id": task["id"],
            "hazard_id": hazard.get_json()["id"],
            "batch_id": batch_id,
            "item_id": items.get_json()[0]["id"],
        }

    def _rate(self, customer_id: str) -> None:
        """A credit rating of the file, so reading it is not a 404."""
        admin = {"Authorization": f"Bearer {self.tokens['admin']['access_token']}"}
        url = f"/api/v1/customers/{customer_id}/credit/rate"
        response = self.client.post(url, headers=admin)
        assert response.status_code == 201, response.get_json()

    def _open_case(self, archivist: dict[str, str]) -> str:
        """A theft case on a file of crew1's station, opened by the admin."""
        from tests.archive.helpers import customer_body

        body = customer_body(department_id=self.own.station)
        response = self.client.post("/api/v1/customers", json=body, headers=archivist)
        assert response.status_code == 201, response.get_json()
        customer = response.get_json()
        admin = {"Authorization": f"Bearer {self.tokens['admin']['access_token']}"}
        case = {
            "kind": "theft",
            "customer_id": customer["id"],
            "premise_id": customer["premises"][0]["id"],
            "summary": "matrix",
        }
        response = self.client.post("/api/v1/cases", json=case, headers=admin)
        assert response.status_code == 201, response.get_json()
        self.archive_case = str(response.get_json()["id"])
        return self.archive_case

    def _login(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        if who.startswith("T-"):
            body = {"identifier": who, "secret": DEMO_DEVICE_SECRET}
            response = self.client.post("/api/v1/auth/device-login", json=body)
        else:
            body = {"username": who, "password": DEMO_PASSWORD}
            response = self.client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 200, response.get_json()
        tokens: dict[str, str] = response.get_json()
        return tokens

    def ctx(self, caller: str, side: fx.Side) -> Ctx:
        who = CALLERS[caller]
        if side is not self.own:
            return Ctx(side, side.station, side.user)
        account = None if who is None or who.startswith("T-") else who
        return Ctx(
            side,
            fx.department_of(self.session, account),
            fx.user_id_of(self.session, account),
        )

    def call(
        self, method: str, path: str, caller: str, side: fx.Side, *, invalid: bool = False
    ) -> int:
        ctx = self.ctx(caller, side)
        case = CASES.get(f"{method} {path}", Case())
        if invalid:  # a body no schema accepts, and a page number that is not one
            case = Case(body=lambda c: [INVALID], query={"page": "x"}, refresh=case.refresh)
        url = path
        for name in re.findall(r"{(\w+)}", path):
            if name in SCOPED:
                value = SCOPED[name](ctx)
            else:
                value = self.archive[name] if name in ARCHIVE else UNSCOPED[name]
            url = url.replace(f"{{{name}}}", str(value))
        tokens = self.tokens[caller]
        headers = {}
        if tokens:
            token = tokens["refresh_token"] if case.refresh else tokens["access_token"]
            headers["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {"headers": headers, "query_string": case.query}
        if case.body is not None:
            kwargs["json"] = case.body(ctx)
        elif case.data is not None:
            kwargs["data"] = case.data
            kwargs["content_type"] = "application/octet-stream"
        savepoint = self.connection.begin_nested()
        try:
            response = self.client.open(url, method=method, **kwargs)
            response.get_data()  # runs streams to their end inside the savepoint
            response.close()
        finally:
            savepoint.rollback()
        if side is self.foreign and response.status_code == 403:
            shown = response.get_data(as_text=True)
            assert not any(name in shown for name in self.foreign_names), (method, path, shown)
        return response.status_code

    def row(self, method: str, path: str, side: fx.Side) -> str:
        cells = [_outcome(self.call(method, path, c, side)) for c in CALLERS]
        return " ".join(f"{cell:<3}" for cell in cells).rstrip()

    def has_other_crew(self, path: str) -> bool:
        return bool(set(re.findall(r"{(\w+)}", path)) & CREW_SCOPED)

    def has_foreign(self, method: str, path: str) -> bool:
        names = re.findall(r"{(\w+)}", path)
        case = CASES.get(f"{method} {path}", Case())
        return case.foreign or any(n in SCOPED for n in names)


def _load() -> dict[str, Any]:
    if not MATRIX.exists():
        return {}
    loaded: dict[str, Any] = yaml.safe_load(MATRIX.read_text()) or {}
    return loaded


# --- sync pushes: entity x op x caller ---------------------------------------------------


def _sync_mutations(side: fx.Side) -> dict[str, dict[str, Any]]:
    order = side.order
    point = {"order_id": order, "point": "E", "occurred_at": _now(), "source": "sync"}
    return {
        "work_order update crew_note": mutation(
            "work_order", "update", {"crew_note": "x"}, record_id=order, base=None
        ),
        "work_order update status": mutation(
            "work_order", "update", {"status": "accepted"}, record_id=order, base=None
        ),
        "timing_event append": mutation("timing_event", "append", point),
        "fault_record create": mutation(
            "fault_record", "create", {"order_id": order, "cause": "tree"}
        ),
        "inspection create": mutation(
            "inspection",
            "create",
            {"status": "in_progress", "notes": "", "checklist": {}, "order_id": order},
        ),
        "inspection update": mutation(
            "inspection", "update", {"notes": "x"}, record_id=side.inspection, base=None
        ),
        "inspection delete": mutation(
            "inspection", "delete", {}, record_id=side.inspection, base=None
        ),
        "meter_reading append": mutation(
            "meter_reading",
            "append",
            {
                "meter_id": str(uuid.uuid4()),
                "value": 1.0,
                "reading_kind": "kwh",
                "read_at": _now(),
            },
        ),
        "gps_fix append": mutation("gps_fix", "append", {"lat": 30.0, "lon": 120.0, "ts": _now()}),
        "photo append": mutation("photo", "append", {"sha256": "b" * 64, "order_id": order}),
        "collection_visit update": mutation(
            "collection_visit",
            "update",
            {"status": "done", "outcome": "paid"},
            record_id=side.visit,
            base=None,
        ),  # fmt: skip
    }


def _verdict(matrix: Matrix, caller: str, body: dict[str, Any], base: int | None) -> str:
    tokens = matrix.tokens[caller]
    if not tokens:
        return "401"
    if base is not None:
        body = {**body, "base_version": base}
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    savepoint = matrix.connection.begin_nested()
    try:
        response = matrix.client.post("/api/v1/sync/push", json=batch(body), headers=headers)
    finally:
        savepoint.rollback()
    if response.status_code != 200:
        return _outcome(response.status_code)
    verdict = response.get_json()["verdicts"][0]
    if verdict["verdict"] != "rejected":
        return "ok"
    slug = verdict["problem"]["type"]
    return {"sync-forbidden": "403", "sync-out-of-scope": "scope"}.get(slug, "ok")


def _version(session: Session, entity: str, record_id: str) -> int | None:
    from backend.dispatch.models import WorkOrder
    from backend.inspection.models import Inspection
    from backend.risk.models import CollectionVisit

    model = {
        "work_order": WorkOrder, "inspection": Inspection, "collection_visit": CollectionVisit,
    }.get(entity)  # fmt: skip
    if model is None:
        return None
    record = session.get(model, uuid.UUID(record_id))
    return None if record is None else int(record.version)


def test_every_operation_matches_the_authorization_matrix(app, db, session, demo):
    matrix = Matrix(app, db, session, demo)
    expected = _load()
    seen: dict[str, dict[str, str]] = {}
    for method, path in operations(app):
        key = f"{method} {path}"
        row = {"own": matrix.row(method, path, matrix.own)}
        if matrix.has_other_crew(path):
            row["other_crew"] = matrix.row(method, path, matrix.other_crew)
        if matrix.has_foreign(method, path):
            row["foreign"] = matrix.row(method, path, matrix.foreign)
        seen[key] = row
    sync_seen: dict[str, dict[str, str]] = {}
    sides = (("own", matrix.own), ("other_crew", matrix.other_crew), ("foreign", matrix.foreign))
    for side_name, side in sides:
        for name, body in _sync_mutations(side).items():
            base = (
                _version(session, body["entity"], body["id"])
                if body["op"] in ("update", "delete")
                else None
            )
            cells = [_verdict(matrix, c, body, base) for c in CALLERS]
            sync_seen.setdefault(name, {})[side_name] = " ".join(
                f"{cell:<5}" for cell in cells
            ).rstrip()
    if WRITE:
        _write(seen, sync_seen)
        pytest.skip("wrote tests/auth/authz_matrix.yaml: review the diff")
    missing = sorted(set(seen) - set(expected.get("rest", {})))
    assert not missing, f"operations without a row in {MATRIX.name}: {missing}"
    stale = sorted(set(expected.get("rest", {})) - set(seen))
    assert not stale, f"rows for operations that no longer exist: {stale}"
    errors = [f"{k}: {v}" for k, v in seen.items() for cell in v.values() if "!" in cell]
    assert not errors, f"server errors: {errors}"
    diff = {k: (expected["rest"][k], v) for k, v in seen.items() if expected["rest"][k] != v}
    assert not diff, "authorization differs from the matrix (expected, got):\n" + "\n".join(
        f"{k}:\n  {e}\n  {g}" for k, (e, g) in diff.items()
    )
    sync_diff = {
        k: (expected.get("sync", {}).get(k), v)
        for k, v in sync_seen.items()
        if expected.get("sync", {}).get(k) != v
    }
    assert not sync_diff, "sync authorization differs (expected, got):\n" + "\n".join(
        f"{k}:\n  {e}\n  {g}" for k, (e, g) in sync_diff.items()
    )


# A body no operation accepts: a list where an object is expected, an item no list takes.
INVALID = {"\u0000": ["not", "a", "valid", "body"]}


def test_a_refusal_never_depends_on_the_body(app, db, session, demo):
    """Who may not call an operation gets the matrix's 401/403/404 even with a broken body.

    Authorization comes first: a caller without the right (or out of scope) must not learn
    from a 422 what the body should look like, nor from a 409 in which state the record is.
    """
    matrix = Matrix(app, db, session, demo)
    expected = _load()["rest"]
    sides = {"own": matrix.own, "other_crew": matrix.other_crew, "foreign": matrix.foreign}
    wrong: list[str] = []
    for method, path in operations(app):
        if method in ("GET", "HEAD"):
            continue
        named = set(re.findall(r"{(\w+)}", path)) & (SCOPED.keys() | set(ARCHIVE))
        for side_name, cells in expected[f"{method} {path}"].items():
            if side_name == "foreign" and not named:
                continue  # the foreign record is named by the body, which is missing here
            for caller, cell in zip(CALLERS, cells.split(), strict=True):
                if cell not in ("401", "403", "404") or (cell == "404" and not named):
                    continue  # a 404 about a record the body names, or that nobody made
                status = matrix.call(method, path, caller, sides[side_name], invalid=True)
                if str(status) != cell:
                    wrong.append(f"{method} {path} {side_name} {caller}: {cell} expected, {status}")
    assert not wrong, "refusals that depend on the body:\n" + "\n".join(wrong)


HEADER = """\
# The authorization matrix: what each caller gets from each operation (tests/auth/
# test_authz_matrix.py checks every cell on both database backends; a route without a row
# fails it). Regenerate after a deliberate change with FIELDLINE_WRITE_AUTHZ_MATRIX=1 and
# review the diff.
#
# Columns: {columns}
#   (demo users admin, auditor, callcenter, dispatcher, supervisor, crew1, inspector,
#   archivist, collector, keyaccount; the vehicle terminal T-1001 of crew1's crew; no token)
# Cells: ok = past authorization (2xx, or a 4xx about the body or the record's state);
#        403 = forbidden (role) or out-of-scope (record); 404 = not found (sync conflicts
#        and blobs outside your scope answer 404); 401 = no valid token.
# own: the caller's own department / account, crew1's crew "Urban Crew 1", its vehicle
#      ZJ-A1001 and an order dispatched to it (issued by the call center to RC-N).
# other_crew: the same station's other crew "Urban Crew 2" (crew6, ZJ-A1002) and its order:
#      visible to the station's users, not to crew1 or T-1001.
# foreign: the same kinds of records in a second company tree outside every demo user.
# /tracking/osmand takes the device secret (Basic auth or key), never a bearer token.
# sync: one mutation per row pushed by each caller; ok = applied (or rejected for a reason
#      other than authorization), 403 = sync-forbidden (role), scope = sync-out-of-scope.
"""


def _write(rest: dict[str, dict[str, str]], sync: dict[str, dict[str, str]]) -> None:
    columns = " ".join(CALLERS)
    lines = [HEADER.format(columns=columns), "rest:"]
    for key, row in rest.items():
        lines.append(f'  "{key}":')
        for side, cells in row.items():
            lines.append(f'    {side + ":":<12}"{cells}"')
    lines.append("sync:")
    for key, row in sync.items():
        lines.append(f'  "{key}":')
        for side, cells in row.items():
            lines.append(f'    {side + ":":<12}"{cells}"')
    MATRIX.write_text("\n".join(lines) + "\n")
