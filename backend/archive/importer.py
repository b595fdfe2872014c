"""Import of customer files from CSV/XLSX: dry run, per-row errors, all-or-nothing commit.

Every row is checked before anything is written (types, vocabularies, regions, departments,
duplicates in the file, accounts and meters outside the caller's scope). With any error the
import writes nothing; otherwise each row opens a file or appends versions (source `import`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.archive import meters as meter_service
from backend.archive import service
from backend.archive.access import ArchiveAction, in_scope, require
from backend.archive.documents import ImportJob
from backend.archive.records import ArchiveVersion, Customer, Meter, MeterType, Premise
from backend.archive.schemas import ACCOUNT, CAPACITY, PHONE, MeterDay
from backend.archive.search import customer_search_text
from backend.archive.tabular import Table
from backend.archive.versions import snapshot
from backend.archive.vocab import VOLTAGE_LEVELS, AccountStatus, Source
from backend.auth.actor import Actor
from backend.db import point_element, utcnow
from backend.errors import Problem
from backend.inputs import Day
from backend.org.models import Department
from sync.fields import Float

TYPES = {"residential": "residential", "居民": "residential",
         "non_residential": "non_residential", "非居民": "non_residential"}  # fmt: skip
METHODS = {"remote": "remote", "远程": "remote", "manual": "manual", "人工": "manual"}
Progress = Callable[[int], None]


class RowSchema(Schema):
    """One row: a customer, optionally its premise and one meter."""

    account_number = fields.String(required=True, validate=ACCOUNT)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    customer_type = fields.String(required=True, validate=validate.OneOf(set(TYPES.values())))
    voltage_level = fields.String(required=True, validate=validate.OneOf(VOLTAGE_LEVELS))
    contract_capacity_kw = Float(required=True, validate=CAPACITY, allow_nan=False)
    region_code = fields.String(required=True, validate=validate.Length(1, 32))
    department_code = fields.String(load_default=None, validate=validate.Length(1, 32))
    contact_name = fields.String(load_default=None, validate=validate.Length(1, 100))
    contact_phone = fields.String(load_default=None, validate=PHONE)
    contract_number = fields.String(load_default=None, validate=validate.Length(1, 64))
    contract_expires_on = Day(load_default=None)
    supply_scheme = fields.String(load_default=None, validate=validate.Length(1, 4000))
    address = fields.String(load_default=None, validate=validate.Length(1, 400))
    lat = Float(load_default=None, validate=validate.Range(-90, 90), allow_nan=False)
    lon = Float(load_default=None, validate=validate.Range(-180, 180), allow_nan=False)
    line_name = fields.String(load_default=None, validate=validate.Length(1, 120))
    meter_number = fields.String(load_default=None, validate=ACCOUNT)
    meter_type = fields.String(load_default=None, validate=validate.Length(1, 32))
    multiplier = Float(load_default=None, validate=validate.Range(0.001, 100_000))
    reading_method = fields.String(load_default=None, validate=validate.OneOf(["remote", "manual"]))
    installed_on = MeterDay(load_default=None)
    calibrated_on = MeterDay(load_default=None)

    @pre_load
    def _blanks_and_aliases(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        row = {k: v for k, v in data.items() if v != ""}
        if "customer_type" in row:
            row["customer_type"] = TYPES.get(row["customer_type"], row["customer_type"])
        if "reading_method" in row:
            row["reading_method"] = METHODS.get(row["reading_method"], row["reading_method"])
        return row


_ROW = RowSchema()  # one instance: building a schema costs more than loading a row


class RowErrors:
    """Problems found so far: (sheet row, column as written in the file, reason)."""

    def __init__(self, headers: list[str], aliases: dict[str, str] | None = None) -> None:
        from backend.archive.tabular import ALIASES

        self.header_of = {(aliases or ALIASES)[h]: h for h in headers if h}
        self.items: list[dict[str, Any]] = []

    def add(self, row: int, column: str, reason: str) -> None:
        """Record one problem."""
        self.items.append({"row": row, "column": self.header_of.get(column, column),
                           "reason": reason})  # fmt: skip


def _check_row(
    number: int, row: dict[str, Any], errors: RowErrors, known: dict[str, Any]
) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = _ROW.load(row)
    except ValidationError as exc:
        for column, messages in exc.normalized_messages().items():
            for message in messages if isinstance(messages, list) else [str(messages)]:
                errors.add(number, str(column), str(message))
        return None
    before = len(errors.items)
    if data["region_code"] not in known["regions"]:
        errors.add(number, "region_code", f"Unknown region {data['region_code']!r}.")
    code = data.get("department_code")
    if code is not None and code not in known["departments"]:
        errors.add(number, "department_code", f"Unknown or out-of-scope department {code!r}.")
    if (data["lat"] is None) != (data["lon"] is None):
        errors.add(number, "lat" if data["lat"] is None else "lon", "Give both lat and lon.")
    if data.get("meter_number"):
        for needed in ("meter_type", "reading_method", "installed_on"):
            if not data.get(needed):
                errors.add(number, needed, "Required with a meter number.")
        if data.get("meter_type") and data["meter_type"] not in known["meter_types"]:
            errors.add(number, "meter_type", f"Unknown meter type {data['meter_type']!r}.")
    # The meter dates' rule every door shares (`MeterDay` read each date; new files are written
    # in bulk, past the service, so the order is asked here; known files' meters change
    # through `change_meter`, which asks against the meter's dates as they stand).
    problem = meter_service.calibration_day_problem(data["installed_on"], data["calibrated_on"])
    if problem:
        errors.add(number, "calibrated_on", f"Expected {problem}.")
    return data if len(errors.items) == before else None


def _check_file(
    session: Session, actor: Actor, table: Table, errors: RowErrors, progress: Progress
) -> list[tuple[int, dict[str, Any]]]:
    """Check every row; returns the rows' values (meaningful only when there are no errors)."""
    departments = {
        d.code: d.id
        for d in session.scalars(select(Department))
        if actor.kind == "system" or actor.sees_path(d.path)
    }
    known = {
        "regions": service.known_regions(session),
        "departments": departments,
        "meter_types": set(session.scalars(select(MeterType.code))),
    }
    checked: list[tuple[int, dict[str, Any]]] = []
    seen_accounts: dict[str, int] = {}
    seen_meters: dict[str, int] = {}
    for number, raw in table.rows:
        data = _check_row(number, raw, errors, known)
        progress(1)
        if data is None:
            continue
        for key, seen, what in (("account_number", seen_accounts, "account"),
                                ("meter_number", seen_meters, "meter")):  # fmt: skip
            value = data.get(key)
            if value and value in seen:
                errors.add(number, key, f"Duplicate {what} {value}: also on row {seen[value]}.")
            elif value:
                seen[value] = number
        if data.get("department_code"):
            data["department_id"] = departments[data.pop("department_code")]
        checked.append((number, data))
    _check_existing(session, actor, checked, errors)
    return checked


def _check_existing(
    session: Session, actor: Actor, rows: list[tuple[int, dict[str, Any]]], errors: RowErrors
) -> None:
    """Existing accounts must be open and in scope; existing meters must be the same account's."""
    accounts = [d["account_number"] for _, d in rows]
    existing: dict[str, Customer] = {}
    for start in range(0, len(accounts), 500):
        chunk = accounts[start : start + 500]
        existing.update(
            (c.account_number, c)
            for c in session.scalars(select(Customer).where(Customer.account_number.in_(chunk)))
        )
    numbers = [d["meter_number"] for _, d in rows if d.get("meter_number")]
    meters: dict[str, Meter] = {}
    for start in range(0, len(numbers), 500):
        chunk = numbers[start : start + 500]
        meters.update(
            (m.number, m) for m in session.scalars(select(Meter).where(Meter.number.in_(chunk)))
        )
    for number, data in rows:
        customer = existing.get(data["account_number"])
        if customer is not None:
            if not in_scope(session, actor, customer.id):
                errors.add(number, "account_number", "The account is outside your data scope.")
            elif customer.status == AccountStatus.CLOSED:
                errors.add(
                    number, "account_number", "The account is closed; its file is read-only."
                )
        meter = meters.get(data.get("meter_number") or "")
        if meter is not None and (customer is None or meter.customer_id != customer.id):
            in_use = meter_service.number_in_use(session, actor, meter.number, meter)
            errors.add(number, "meter_number", f"{in_use}; not this account's meter.")


_CUSTOMER_KEYS = ("name", "customer_type", "voltage_level", "contract_capacity_kw",
                  "region_code", "department_id", "contract_number", "contract_expires_on",
                  "supply_scheme")  # fmt: skip
_METER_KEYS = ("meter_type", "multiplier", "reading_method", "installed_on", "calibrated_on")


def _premise(data: dict[str, Any]) -> dict[str, Any]:
    premise: dict[str, Any] = {"address": data["address"], "line_name": data.get("line_name")}
    if data.get("lat") is not None:
        premise["location"] = point_element(data["lon"], data["lat"])
    return premise


def _apply_row(session: Session, actor: Actor, data: dict[str, Any], reason: str) -> bool:
    """Write one checked row; returns True when it opened a new file."""
    customer_values = {k: data[k] for k in _CUSTOMER_KEYS if data.get(k) is not None}
    if data.get("contact_phone"):
        contact = {"name": data.get("contact_name") or data["name"], "phone": data["contact_phone"]}
        customer_values["contacts"] = [{**contact, "role": None}]
    customer = session.scalar(
        select(Customer).where(Customer.account_number == data["account_number"])
    )
    created = customer is None
    if customer is None:
        customer = service.open_customer(
            session=session, actor=actor, source=Source.IMPORT,
            data={**customer_values, "account_number": data["account_number"], "reason": reason,
                  "premises": [_premise(data)] if data.get("address") else []},
        )  # fmt: skip
    else:
        service.change_customer(
            session=session, actor=actor, customer_id=customer.id, changes=customer_values,
            reason=reason, source=Source.IMPORT,
        )  # fmt: skip
        premises = service.premises_of(session, customer.id)
        if data.get("address") and premises:
            service.change_premise(
                session=session, actor=actor, premise=premises[0], changes=_premise(data),
                reason=reason, source=Source.IMPORT,
            )  # fmt: skip
        elif data.get("address"):
            service.add_premise(
                session=session, actor=actor, customer=customer, data=_premise(data),
                source=Source.IMPORT, reason=reason,
            )  # fmt: skip
    if data.get("meter_number"):
        _apply_meter(session, actor, customer, data, reason)
    return created


def _apply_meter(
    session: Session, actor: Actor, customer: Customer, data: dict[str, Any], reason: str
) -> None:
    values = {k: data[k] for k in _METER_KEYS if data.get(k) is not None}
    meter = session.scalar(select(Meter).where(Meter.number == data["meter_number"]))
    if meter is not None:
        meter_service.change_meter(session=session, actor=actor, meter=meter, changes=values,
                                   reason=reason, source=Source.IMPORT)  # fmt: skip
        return
    premises = service.premises_of(session, customer.id)
    if not premises:
        raise _RowFailure("meter_number", "A meter needs a premise: give the address.")
    meter_service.add_meter(session=session, actor=actor, premise_id=premises[0].id,
                            data={"number": data["meter_number"], **values},
                            source=Source.IMPORT, reason=reason)  # fmt: skip


class _RowFailure(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column, self.reason = column, reason


BULK = 500  # new files written per flush


def _existing_accounts(session: Session, accounts: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(accounts), BULK):
        chunk = accounts[start : start + BULK]
        found.update(
            session.scalars(
                select(Customer.account_number).where(Customer.account_number.in_(chunk))
            )
        )
    return found


def open_files(
    session: Session, actor: Actor, rows: list[dict[str, Any]], reason: str
) -> list[Customer]:
    """Open many new files at once: heads and their version 1, a few flushes per batch.

    The same records as `service.open_customer` / `add_meter` write one by one, built in bulk
    (rows were checked before).
    """
    now, who = utcnow(), actor.audit_name
    stamp = {"version_no": 1, "updated_at": now, "updated_by": who}
    customers, premises, meters_ = [], [], []
    for data in rows:
        values = {k: data[k] for k in _CUSTOMER_KEYS if data.get(k) is not None}
        values.setdefault("department_id", actor.department_id)
        if data.get("contact_phone"):
            contact = {
                "name": data.get("contact_name") or data["name"],
                "phone": data["contact_phone"],
            }
            values["contacts"] = [{**contact, "role": None}]
        customer = Customer(
            id=uuid.uuid4(), account_number=data["account_number"], status=AccountStatus.ACTIVE,
            contacts=values.pop("contacts", []), **values, **stamp,
        )  # fmt: skip
        customers.append(customer)
        premise = None
        if data.get("address"):
            premise = Premise(
                id=uuid.uuid4(), customer_id=customer.id, region_code=customer.region_code,
                department_id=customer.department_id, status="active", **_premise(data), **stamp,
            )  # fmt: skip
            premises.append(premise)
        customer.search_text = customer_search_text(customer, [premise] if premise else [])
        if data.get("meter_number") and premise is not None:
            meters_.append(Meter(
                id=uuid.uuid4(), number=data["meter_number"], premise_id=premise.id,
                customer_id=customer.id, department_id=customer.department_id,
                status="in_service", seals=[], faults=[], multiplier=data.get("multiplier") or 1.0,
                **{k: data[k] for k in _METER_KEYS if k != "multiplier" and data.get(k)}, **stamp,
            ))  # fmt: skip
    heads: list[Any] = []
    for group in (customers, premises, meters_):  # parents first: each flush one table
        session.add_all(group)
        session.flush()
        heads += group
    session.add_all(
        ArchiveVersion(
            entity=h.__archive_entity__,
            record_id=h.id,
            customer_id=getattr(h, "customer_id", h.id),
            version_no=1,
            data=snapshot(h),
            changed_by=who,
            changed_at=now,
            reason=reason,
            source=Source.IMPORT,
        )  # fmt: skip
        for h in heads
    )
    session.flush()
    return customers


def run_import(
    *,
    session: Session,
    actor: Actor,
    table: Table,
    job: ImportJob,
    progress: Progress | None = None,
    persist: bool = True,
) -> ImportJob:
    """Check every row, then (not a dry run, no errors) write them all or none.

    The job holds the outcome: `validated` (dry run passed), `committed`, or `failed` with
    its per-row errors; a failed import has written nothing but the job (`persist=False`:
    not even that — a background import stores it itself).
    """
    require(actor, ArchiveAction.IMPORT)
    tick = progress or (lambda n: None)
    job.total_rows = len(table.rows) * (1 if job.dry_run else 2)
    errors = RowErrors(table.headers)

    def count(n: int) -> None:
        job.processed_rows += n
        tick(n)

    rows = _check_file(session, actor, table, errors, count)
    if not errors.items and not job.dry_run:
        reason = f"import {job.filename} (job {job.id})"
        existing = _existing_accounts(session, [d["account_number"] for _, d in rows])
        current = rows[0][0] if rows else 0
        try:
            with session.begin_nested():  # all or nothing
                fresh = [d for _, d in rows if d["account_number"] not in existing]
                for start in range(0, len(fresh), BULK):
                    chunk = fresh[start : start + BULK]
                    open_files(session, actor, chunk, reason)
                    job.created_rows += len(chunk)
                    count(len(chunk))
                for number, data in rows:
                    if data["account_number"] in existing:
                        current = number
                        _apply_row(session, actor, data, reason)
                        job.updated_rows += 1
                        count(1)
        except (Problem, _RowFailure) as exc:
            column = getattr(exc, "column", "account_number")
            errors.add(current, column, getattr(exc, "reason", None) or str(exc))
            job.created_rows = job.updated_rows = 0
    job.errors = errors.items
    job.status = "failed" if errors.items else ("validated" if job.dry_run else "committed")
    job.processed_rows = job.total_rows if not errors.items else job.processed_rows
    job.finished_at = utcnow()
    if persist:
        session.add(job)
    session.flush()
    return job


def rows_for_export(customers: Iterable[Customer], session: Session) -> list[dict[str, Any]]:
    """Return customers as import-shaped rows (first premise and meter), unredacted."""
    from geoalchemy2.shape import to_shape

    codes = {d.id: d.code for d in session.scalars(select(Department))}
    result = []
    for customer in customers:
        premise = next(iter(service.premises_of(session, customer.id)), None)
        meter = next(iter(service.meters_of(session, customer.id)), None)
        contact = (customer.contacts or [{}])[0]
        point = to_shape(premise.location) if premise and premise.location is not None else None
        result.append({
            "account_number": customer.account_number, "name": customer.name,
            "customer_type": customer.customer_type, "voltage_level": customer.voltage_level,
            "contract_capacity_kw": customer.contract_capacity_kw,
            "region_code": customer.region_code,
            "department_code": codes.get(customer.department_id),
            "contact_name": contact.get("name"), "contact_phone": contact.get("phone"),
            "contract_number": customer.contract_number,
            "contract_expires_on": customer.contract_expires_on,
            "supply_scheme": customer.supply_scheme,
            "address": premise.address if premise else None,
            "lat": point.y if point else None, "lon": point.x if point else None,
            "line_name": premise.line_name if premise else None,
            "meter_number": meter.number if meter else None,
            "meter_type": meter.meter_type if meter else None,
            "multiplier": meter.multiplier if meter else None,
            "reading_method": meter.reading_method if meter else None,
            "installed_on": meter.installed_on if meter else None,
            "calibrated_on": meter.calibrated_on if meter else None,
        })  # fmt: skip
    return result
