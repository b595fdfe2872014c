"""Differential property: new appended records judged by the compiled plan, or by the merge engine.

`sync.store.push` judges a new record of a bulk-append entity (readings, GPS fixes) by the
entity's compiled plan (`sync.store.plans`) and everything else through the merge engine; with
`compiled=False` all of it goes through the merge engine. The same batch, pushed once each way
by the same device over HTTP, must get the same verdicts, store the same rows and keep the
same verdicts for replays, on both backends: valid and invalid values, ids reused within the
batch, meters inside and outside the crew's work, device clocks off, readings and fixes
beyond their bounds (values, accuracies, times ahead of the server).
"""

from __future__ import annotations

import functools
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from backend.inspection.models import GpsFix, MeterReading
from sync import store
from sync.entities import FUTURE_ALLOWANCE, GPS_ACCURACY_MAXIMUM_M, REGISTER_MAXIMUM
from sync.protocol import format_time
from sync.store import apply as store_apply
from tests.archive.test_handheld_sync import _file_and_order
from tests.sync.helpers import batch

PAST = format_time(datetime(2026, 3, 1, 8, 30, tzinfo=UTC))
# Times of observation ahead of the server: within the allowance (it only grows older as the
# test runs), beyond it, at the end of time.
_NOW = datetime.now(UTC)
SOON = format_time(_NOW + timedelta(minutes=1))
LATE = format_time(_NOW + FUTURE_ALLOWANCE + timedelta(hours=1))
END_OF_TIME = "9999-12-31T23:59:59+14:00"
# Per field: values the spec accepts, values it refuses. Symbols (`@meter`) are replaced per
# run by that run's own ids, so both runs start alike.
READING_FIELDS: dict[str, tuple[list[object], list[object]]] = {
    "meter_id": (["@meter", "@foreign_meter", "@unknown"], ["not-a-uuid", None]),
    "premise_id": (["@premise", "@unknown", None], [7]),
    "value": (
        [1520.5, 0, 12, REGISTER_MAXIMUM],
        [-1, "12", 10**400, None, 1e308, REGISTER_MAXIMUM + 1, 10**10 + 1],
    ),
    "reading_kind": (["kwh"], ["", "k" * 40, None]),
    "read_at": (
        [PAST, "2026-03-01T10:30:00.25+02:00", SOON],
        ["2026-02-30T00:00:00Z", None, LATE, END_OF_TIME],
    ),
    "photo_sha256": (["A" * 64, None], ["xyz"]),
    "bogus": ([], [1]),
}
FIX_FIELDS: dict[str, tuple[list[object], list[object]]] = {
    "lat": ([30.25, -90], [91, True, None]),
    "lon": ([120.17], ["east"]),
    "acc": ([5, None, GPS_ACCURACY_MAXIMUM_M], [-1, 1e308, GPS_ACCURACY_MAXIMUM_M + 0.5]),
    "ts": ([PAST, SOON], ["yesterday", LATE, END_OF_TIME]),
}
REQUIRED = {"meter_id", "value", "reading_kind", "read_at", "lat", "lon", "ts"}
FUTURE = format_time(datetime(2099, 1, 1, tzinfo=UTC))  # ahead of the server: clamped
OCCURRED = [PAST, FUTURE, None]


@st.composite
def _mutation(draw: st.DrawFn) -> dict[str, Any]:
    entity = draw(st.sampled_from(["meter_reading", "gps_fix"]))
    fields = {}
    for name, (good, bad) in (READING_FIELDS if entity == "meter_reading" else FIX_FIELDS).items():
        if draw(st.integers(0, 9)) < (9 if name in REQUIRED else 4):  # mostly complete
            valid = good and draw(st.integers(0, 9)) < 8  # mostly valid
            fields[name] = draw(st.sampled_from(good if valid else bad))
    return {
        "entity": entity,
        "record": draw(st.integers(0, 6)),  # a few records: ids come back within a batch
        "fields": fields,
        "occurred_at": draw(st.sampled_from(OCCURRED)),
    }


def _body(plan: list[dict[str, Any]], skew: timedelta, names: dict[str, str]) -> dict[str, Any]:
    """The batch of `plan` for one run; `names` maps this run's ids back to their symbols."""
    ids = {i: str(uuid.uuid4()) for i in range(7)}
    names.update({v: f"@record{k}" for k, v in ids.items()})
    symbols = {k: v for v, k in names.items()}

    def value(raw: object) -> object:
        return symbols[raw] if isinstance(raw, str) and raw in symbols else raw

    mutations = []
    for item in plan:
        mutation_id = str(uuid.uuid4())
        names[mutation_id] = f"@mutation{len(mutations)}"
        mutations.append({
            "mutation_id": mutation_id, "entity": item["entity"], "id": ids[item["record"]],
            "op": "append", "base_version": None,
            "fields": {k: value(v) for k, v in item["fields"].items()},
            "occurred_at": item["occurred_at"],
        })  # fmt: skip
    return batch(*mutations, skew=skew)


def _symbolic(value: object, names: dict[str, str]) -> object:
    """A reply or row with this run's ids named by their symbols (also inside details)."""
    if isinstance(value, uuid.UUID):
        value = str(value)
    if isinstance(value, str):
        for raw, symbol in names.items():
            value = value.replace(raw, symbol)
        return value
    if isinstance(value, dict):
        return {_symbolic(k, names): _symbolic(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_symbolic(v, names) for v in value]
    return value


def _ranked(verdicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Verdicts with versions as their rank in the reply (each run numbers from its own start)."""
    versions = sorted({v["version"] for v in verdicts if v["version"] is not None})
    rank = {version: index for index, version in enumerate(versions)}
    return [{**v, "version": rank.get(v["version"])} for v in verdicts]


# What the server's clock decides (times of receipt) or numbers (versions) differs by run.
_RUN_COLUMNS = {"id", "version", "field_versions", "occurred_at", "recorded_at"}


def _stored(session: Any, body: dict[str, Any], names: dict[str, str]) -> list[object]:
    rows = []
    for sent in body["mutations"]:
        model = MeterReading if sent["entity"] == "meter_reading" else GpsFix
        record = session.get(model, uuid.UUID(sent["id"]))
        if record is None:
            rows.append(None)
            continue
        columns = {
            c.key: getattr(record, c.key)
            for c in model.__table__.columns
            if c.key not in _RUN_COLUMNS
        }
        # Which fields have versions, and who wrote them (`writer#version`).
        marks = {
            k: v.split("#")[0] if isinstance(v, str) else "version"
            for k, v in record.field_versions.items()
        }
        rows.append(_symbolic({**columns, "field_versions": marks}, names))
    verdicts = session.scalars(
        select(store.StoredMutation).where(
            store.StoredMutation.mutation_id.in_([m["mutation_id"] for m in body["mutations"]])
        )
    )
    kept = sorted(
        (_symbolic(v.mutation_id, names), v.verdict["verdict"], v.clock_corrected,
         v.device_occurred_at, _symbolic(v.verdict["problem"], names))
        for v in verdicts
    )  # fmt: skip
    return [rows, kept]


def _run(
    http: Any, committed_db: Any, plan: list[dict[str, Any]], skew: timedelta, *, compiled: bool
) -> tuple[object, ...]:
    mine, foreign = _file_and_order(committed_db), _file_and_order(committed_db, "Urban Crew 2")
    names = {
        mine["meter"]: "@meter", mine["premise"]: "@premise",
        foreign["meter"]: "@foreign_meter", str(uuid.uuid4()): "@unknown",
    }  # fmt: skip
    body = _body(plan, skew, names)
    device = http("H-1001")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "push", functools.partial(store_apply.push, compiled=compiled))
        reply = device.request("POST", "/api/v1/sync/push", json_body=body)
        assert reply.status == 200, reply.body
        replay = device.request("POST", "/api/v1/sync/push", json_body=body)
    verdicts = _symbolic(_ranked(reply.body["verdicts"]), names)
    replayed = _symbolic(_ranked(replay.body["verdicts"]), names)
    with committed_db.unit_of_work() as session:
        stored = _stored(session, body, names)
    return verdicts, replayed, reply.body["clock"]["corrected"], stored


def test_the_compiled_path_judges_and_stores_as_the_merge_engine(http, committed_db):
    examples = int(os.environ.get("SYNC_PROPERTY_EXAMPLES", "50")) // 2

    # Each example is four pushes and four archive files: report what was found, unshrunk.
    @settings(max_examples=max(examples, 5), deadline=None, database=None,
              suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.reuse, Phase.generate])  # fmt: skip
    @given(
        st.lists(_mutation(), min_size=1, max_size=10),
        st.sampled_from([timedelta(0), timedelta(minutes=5)]),
    )
    def check(plan: list[dict[str, Any]], skew: timedelta) -> None:
        compiled = _run(http, committed_db, plan, skew, compiled=True)
        general = _run(http, committed_db, plan, skew, compiled=False)
        assert compiled == general

    check()


def test_the_compiled_path_is_taken(http, committed_db, monkeypatch):
    """The fast path is not dead code: a plain reading batch never reaches the merge engine."""
    merged: list[object] = []
    original = store_apply.merge
    monkeypatch.setattr(store_apply, "merge", lambda *a: merged.append(a) or original(*a))
    mine = _file_and_order(committed_db)
    plan = [{"entity": "meter_reading", "record": i, "occurred_at": PAST,
             "fields": {"meter_id": "@meter", "value": 1.5, "reading_kind": "kwh",
                        "read_at": PAST}} for i in range(3)]  # fmt: skip
    body = _body(plan, timedelta(0), {mine["meter"]: "@meter"})
    reply = http("H-1001").request("POST", "/api/v1/sync/push", json_body=body)
    assert [v["verdict"] for v in reply.body["verdicts"]] == ["applied"] * 3
    assert merged == []
