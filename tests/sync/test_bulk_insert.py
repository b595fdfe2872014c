"""`sync.changes.bulk_insert` stores exactly what `insert()` stores (COPY / driver executemany)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.inspection.models import MeterReading
from sync.changes import Change, bulk_insert
from sync.store.tables import StoredMutation

MOMENT = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def _reading(crew: tuple[int, int], **extra: Any) -> dict[str, Any]:
    department, crew_id = crew
    return {
        "id": uuid.uuid4(),
        "department_id": department,
        "crew_id": crew_id,
        "created_by": "device:1:H-1001",
        "occurred_at": MOMENT,
        "recorded_at": MOMENT + timedelta(seconds=1),
        "clock_corrected": False,
        "version": 7,
        "field_versions": {"value": 7, "@value": "device:1:H-1001#7"},
        "deleted": False,
        "meter_id": uuid.uuid4(),
        "value": 1042.5,
        "reading_kind": "kwh",
        "read_at": MOMENT.astimezone(UTC),
        **extra,
    }


def _verdict(index: int) -> dict[str, Any]:
    return {
        "mutation_id": str(uuid.uuid4()),
        "batch_id": str(uuid.uuid4()),
        "device": "device:1:H-1001",
        "entity": "meter_reading",
        "record_id": str(uuid.uuid4()),
        "verdict": {"verdict": "applied", "detail": "ünïcode 抄表", "n": index, "x": None},
        "occurred_at": MOMENT,
        "device_occurred_at": None if index % 2 else MOMENT - timedelta(hours=3),
        "clock_corrected": bool(index % 2),
        "received_at": MOMENT,
    }


def _raw(session: Session, table: Table, key: str, keys: list[Any]) -> list[tuple[Any, ...]]:
    """The stored values as the driver returns them (no SQLAlchemy type processing).

    Only the key differs between twin rows: it is left out, and the rest compared.
    """
    position = list(table.columns.keys()).index(key)
    wanted = {str(k) for k in keys} | {uuid.UUID(str(k)).hex for k in keys if _is_uuid(k)}
    names = ", ".join(f'"{c.name}"' for c in table.columns)
    query = f"SELECT {names} FROM {table.name}"  # noqa: S608 - the test's own table names
    rows = session.connection().exec_driver_sql(query).all()
    kept = [tuple(r) for r in rows if str(r[position]) in wanted]
    assert len(kept) == len(keys)
    return sorted((r[:position] + r[position + 1 :] for r in kept), key=repr)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _crew(session: Session) -> tuple[int, int]:
    row = session.execute(text("SELECT department_id, id FROM crews ORDER BY id LIMIT 1")).one()
    return int(row[0]), int(row[1])


def test_bulk_insert_stores_what_insert_stores(session: Session, demo: Any) -> None:
    crew = _crew(session)
    readings = cast(Table, MeterReading.__table__)
    verdicts = cast(Table, StoredMutation.__table__)
    feed = cast(Table, Change.__table__)

    # The same rows twice, under different keys: once through insert(), once in bulk.
    plain = [_reading(crew), _reading(crew, photo_sha256="a" * 64, premise_id=uuid.uuid4())]
    plain[1]["recorded_at"] = MOMENT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    plain[1]["clock_corrected"] = True
    # The ends of the years a column holds, one at an offset, and a time without microseconds
    # (its ISO text has none): bulk times are text on both backends.
    plain.append(
        _reading(
            crew,
            occurred_at=datetime(1, 1, 1, tzinfo=UTC),
            read_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            recorded_at=datetime(1, 1, 1, 10, tzinfo=timezone(timedelta(hours=5))),
        )
    )
    plain.append(_reading(crew, read_at=MOMENT.replace(microsecond=0)))
    twins = [{**r, "id": uuid.uuid4()} for r in plain]
    # A left-out column with a Python default (`source`) gets it in bulk too.
    by_keys: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in twins:
        by_keys.setdefault(frozenset(row), []).append(row)
    for row in plain:
        session.execute(insert(readings), [row])
    for rows in by_keys.values():
        bulk_insert(session, readings, rows)

    stamps = [_verdict(i) for i in range(3)]
    stamp_twins = [{**v, "mutation_id": str(uuid.uuid4())} for v in stamps]
    session.execute(insert(verdicts), stamps)
    bulk_insert(session, verdicts, stamp_twins)

    changes = [
        {"id": 10**12 + i, "txid": 3, "entity": "meter_reading", "record_id": str(uuid.uuid4()),
         "op": "upsert", "scope_department_id": crew[0], "scope_crew_id": None if i else crew[1],
         "changed_at": MOMENT}
        for i in range(2)
    ]  # fmt: skip
    change_twins = [{**c, "id": c["id"] + 100} for c in changes]
    session.execute(insert(feed), changes)
    bulk_insert(session, feed, change_twins)

    assert _raw(session, readings, "id", [r["id"] for r in plain]) == _raw(
        session, readings, "id", [r["id"] for r in twins]
    )
    assert _raw(session, verdicts, "mutation_id", [v["mutation_id"] for v in stamps]) == _raw(
        session, verdicts, "mutation_id", [v["mutation_id"] for v in stamp_twins]
    )
    assert _raw(session, feed, "id", [c["id"] for c in changes]) == _raw(
        session, feed, "id", [c["id"] for c in change_twins]
    )
    # And the ORM reads the bulk rows back as it reads its own.
    stored = session.get(MeterReading, twins[1]["id"])
    assert stored is not None
    assert stored.read_at == MOMENT and stored.source == "manual" and stored.clock_corrected
    assert stored.field_versions == {"value": 7, "@value": "device:1:H-1001#7"}


def test_bulk_insert_refuses_what_insert_refuses(session: Session, demo: Any) -> None:
    crew = _crew(session)
    readings = cast(Table, MeterReading.__table__)
    row = _reading(crew)
    bulk_insert(session, readings, [row])
    with pytest.raises(IntegrityError), session.begin_nested():  # the same id twice
        bulk_insert(session, readings, [{**row, "meter_id": uuid.uuid4()}])
    with pytest.raises(ValueError, match="naive datetime"):
        bulk_insert(session, readings, [_reading(crew, read_at=datetime(2026, 1, 1))])
    with pytest.raises(ValueError, match="different columns"):
        bulk_insert(session, readings, [_reading(crew), _reading(crew, photo_sha256="b" * 64)])
