"""Stateful property suite: devices and a dispatcher sync through the real API, on both backends.

Two handhelds of one crew and a dispatcher edit the same inspections offline, push with lost
replies (and so replays), pull, resolve conflicts and delete records. After every full sync:

- convergence: every client's copy equals the server's, and a fresh client pulling from the
  same start sees exactly the same (no gaps);
- no lost field update: the value of each field is the accepted write with the highest
  version, and no accepted write silently overwrote another writer's accepted write that its
  base had not seen;
- conflicts are flagged exactly when values differ (never for equal values);
- replays are idempotent (same verdicts as `duplicate`, no new change);
- read-your-writes: after a pull, a client holds at least the version its verdicts named;
- tombstones are never resurrected;
- an acknowledged batch was applied whole (every verdict of a replay is a duplicate).

And, per batch: a mutation no backend can store (NUL, lone surrogate, over-long value, out-of-
range time or number, unknown entity or field) is rejected alone; the others are applied.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from backend.inspection.models import Inspection, MeterReading
from sync import store
from sync.client import TransportError
from sync.entities import REGISTER_MAXIMUM
from sync.merge import same
from sync.registry import registry
from tests.sync.conftest import feed_end
from tests.sync.helpers import batch, mutation, reading

WHO = ("A", "B", "D")
LOGINS = {"A": "H-1001", "B": "H-1001-B", "D": "dispatcher"}
SCALARS = ("notes", "result")
WORDS = ("ok", "leaning", "rusted")


class SyncMachine(RuleBasedStateMachine):
    """One example: fresh clients on the shared test database, new records each time."""

    ctx: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        make = self.ctx["make_client"]
        self.start = feed_end(self.ctx["backend"])
        self.clients = {who: make(LOGINS[who]) for who in WHO}
        self.records: list[str] = []
        self.deleted: set[str] = set()
        # (record, field) -> accepted writes (version, value, writer, base)
        self.writes: dict[tuple[str, str], list[tuple[int, object, str, int]]] = defaultdict(list)
        self.acked: dict[str, list[tuple[str, int]]] = defaultdict(list)

    # ------------------------------------------------------------------ helpers
    def _push(self, who: str, drop: bool = False) -> None:
        client = self.clients[who]
        outbox = {
            row[0]: (row[1], row[2], row[3], row[4], row[5])
            for row in client.db.execute(
                "SELECT mutation_id, entity, id, op, fields, base_version FROM outbox"
            )
        }
        client.transport.drop_next_reply = drop  # type: ignore[attr-defined]
        try:
            verdicts = client.push(max_batch=5)
        except TransportError:
            return  # the batch stays in flight; the next push replays it
        finally:
            client.transport.drop_next_reply = False  # type: ignore[attr-defined]
        for verdict in verdicts:
            self._record(who, verdict, outbox.get(verdict["mutation_id"]))

    def _record(self, who: str, verdict: dict[str, Any], sent: Any) -> None:
        import json

        kind = verdict["original"] or verdict["verdict"]
        for conflict in verdict["conflicts"]:
            assert not same(conflict["server"], conflict["client"]), verdict
        if kind == "rejected" or sent is None or sent[0] != "inspection":
            return
        _entity, record_id, op, fields, base = sent
        fields = json.loads(fields)
        version = verdict["version"]
        self.acked[who].append((record_id, version))
        for name in verdict["applied_fields"]:
            if name in SCALARS or name == "status":
                self.writes[(record_id, name)].append((version, fields[name], who, base or 0))
            elif name == "checklist":
                for key, value in fields[name].items():
                    self.writes[(record_id, f"checklist.{key}")].append(
                        (version, value, who, base or 0)
                    )

    def _visible(self, who: str) -> list[str]:
        client = self.clients[who]
        return [r for r in self.records if client.get("inspection", r) is not None]

    # ------------------------------------------------------------------ setup
    @initialize()
    def create_records(self) -> None:
        for _ in range(2):
            record_id = self.clients["A"].create(
                "inspection", {"status": "in_progress", "notes": "", "checklist": {}}
            )
            self.records.append(record_id)
        self._push("A")
        for client in self.clients.values():
            client.pull()

    # ------------------------------------------------------------------ edits
    @rule(
        who=st.sampled_from(WHO),
        index=st.integers(0, 1),
        name=st.sampled_from(SCALARS),
        value=st.sampled_from(WORDS),
    )
    def edit(self, who: str, index: int, name: str, value: str) -> None:
        record_id = self.records[index]
        if self.clients[who].get("inspection", record_id) is not None:
            self.clients[who].update("inspection", record_id, {name: value})

    @rule(
        who=st.sampled_from(WHO),
        index=st.integers(0, 1),
        key=st.sampled_from(("earth", "seal")),
        value=st.booleans(),
    )
    def tick(self, who: str, index: int, key: str, value: bool) -> None:
        record_id = self.records[index]
        if self.clients[who].get("inspection", record_id) is not None:
            self.clients[who].update("inspection", record_id, {"checklist": {key: value}})

    @rule(
        who=st.sampled_from(("A", "B")),
        index=st.integers(0, 1),
        status=st.sampled_from(("in_progress", "submitted")),
    )
    def advance(self, who: str, index: int, status: str) -> None:
        record_id = self.records[index]
        if self.clients[who].get("inspection", record_id) is not None:
            self.clients[who].update("inspection", record_id, {"status": status})

    @rule(who=st.sampled_from(("A", "B")))
    def read_meter(self, who: str) -> None:
        self.clients[who].append(
            "meter_reading",
            {
                "meter_id": str(uuid.uuid4()),
                "value": 12.5,
                "reading_kind": "kwh",
                "read_at": "2026-11-26T06:00:00Z",
            },
        )

    # ------------------------------------------------------------------ network
    @rule(who=st.sampled_from(WHO), drop=st.booleans())
    def push(self, who: str, drop: bool) -> None:
        self._push(who, drop)

    @rule(who=st.sampled_from(WHO))
    def pull(self, who: str) -> None:
        client = self.clients[who]
        client.pull()
        for record_id, version in self.acked[who]:
            row = client.db.execute(
                "SELECT version FROM records WHERE entity = 'inspection' AND id = ?", (record_id,)
            ).fetchone()
            if row is not None and record_id not in self.deleted:
                assert row[0] >= version, (record_id, row[0], version)  # read-your-writes

    @rule(who=st.sampled_from(WHO))
    def replay(self, who: str) -> None:
        transport = self.clients[who].transport
        if not transport.pushes:  # type: ignore[attr-defined]
            return
        body, first = transport.pushes[0]  # type: ignore[attr-defined]
        before = feed_end(self.ctx["backend"])
        reply = transport.request("POST", "/api/v1/sync/push", json_body=body)
        assert reply.status == 200
        for old, new in zip(first["verdicts"], reply.body["verdicts"], strict=True):
            assert new["verdict"] == "duplicate"
            assert new["original"] == (old["original"] or old["verdict"])
            assert new["version"] == old["version"]
        assert feed_end(self.ctx["backend"]) == before  # nothing applied twice

    # ------------------------------------------------------------------ dispatcher
    @rule(take=st.sampled_from(("take_server", "take_client")))
    def resolve(self, take: str) -> None:
        dispatcher = self.clients["D"].transport
        mine = [
            conflict
            for record_id in self.records
            for conflict in dispatcher.request(
                "GET", f"/api/v1/sync/conflicts?status=open&record_id={record_id}"
            ).body
        ]
        if not mine:
            return
        conflict = mine[0]
        reply = dispatcher.request(
            "POST",
            f"/api/v1/sync/conflicts/{conflict['id']}/resolve",
            json_body={"resolution": take},
        )
        assert reply.status in (200, 409), reply.body
        if reply.status == 200 and take == "take_client":
            name = conflict["field"] + (f".{conflict['key']}" if conflict["key"] else "")
            with self.ctx["db"].unit_of_work() as session:
                version = session.get(Inspection, uuid.UUID(conflict["record_id"])).version
            self.writes[(conflict["record_id"], name)].append(
                (version, conflict["client"], "resolver", version)
            )

    @rule()
    def delete_draft(self) -> None:
        a, b = self.clients["A"], self.clients["B"]
        record_id = a.create("inspection", {"status": "draft", "notes": "", "checklist": {}})
        self._push("A")
        a.pull()
        b.pull()
        mutation_id = a.delete("inspection", record_id)
        self._push("A")
        assert a.verdict(mutation_id)["verdict"] == "applied", a.verdict(mutation_id)["problem"]
        self.deleted.add(record_id)
        stale = b.update("inspection", record_id, {"notes": "too late"})
        self._push("B")
        verdict = b.verdict(stale)
        assert verdict is not None and verdict["problem"]["type"] == "sync-deleted", verdict

    # ------------------------------------------------------------------ checks
    @rule()
    def full_sync(self) -> None:
        for who in WHO:
            self._push(who)
        for who in WHO:
            self.clients[who].pull()
        with self.ctx["db"].unit_of_work() as session:
            truth = {r: session.get(Inspection, uuid.UUID(r)) for r in self.records}
            adapter = registry.get("inspection")
            assert adapter is not None
            fields = {r: store.record_fields(adapter, rec) for r, rec in truth.items()}
            for record_id in self.deleted:
                assert session.get(Inspection, uuid.UUID(record_id)).deleted  # no resurrection
        for who in WHO:
            client = self.clients[who]
            assert client.pending() == 0
            for record_id in self.records:
                assert client.get("inspection", record_id) == fields[record_id], who
            for record_id in self.deleted:
                assert client.get("inspection", record_id) is None
        fresh = self.ctx["make_client"](LOGINS["A"])
        fresh.db.execute("UPDATE meta SET value = ? WHERE key = 'cursor'", (self.start,))
        fresh.pull()
        for record_id in self.records:  # incremental pulls and one fresh pull agree: no gaps
            assert fresh.get("inspection", record_id) == fields[record_id]
        self._check_no_lost_update(fields)

    def _check_no_lost_update(self, fields: dict[str, dict[str, Any]]) -> None:
        for (record_id, name), writes in self.writes.items():
            if record_id not in fields:
                continue  # a deleted draft
            field, _, key = name.partition(".")
            current = fields[record_id][field]
            if key:
                current = (current or {}).get(key)
            writes = _effective(writes)
            latest = writes[-1]
            assert same(current, latest[1]), (record_id, name, current, writes)
            if field == "status":
                continue  # the state machine decides, not the order of writes
            for version, value, writer, base in writes:
                for other_version, other_value, other_writer, _ in writes:
                    if (
                        writer not in (other_writer, "resolver")
                        and other_writer != "resolver"
                        and base < other_version < version
                    ):
                        # An accepted write must not overwrite one its base had not seen.
                        assert same(value, other_value), (record_id, name, writes)

    @invariant()
    def outbox_never_loses_mutations(self) -> None:
        for client in self.clients.values():
            assert client.pending() >= 0


def _effective(writes: list[tuple[int, object, str, int]]) -> list[tuple[int, object, str, int]]:
    """Accepted writes in version order, without those that set the value it already had.

    Writing the value a field already holds changes nothing (and is not a conflict), so a later
    write from a device that never saw it loses nothing.
    """
    effective: list[tuple[int, object, str, int]] = []
    for write in sorted(writes, key=lambda w: w[0]):
        if not effective or not same(effective[-1][1], write[1]) or write[2] == "resolver":
            effective.append(write)
    return effective


def test_sync_properties(backend, make_client, committed_db):
    class Machine(SyncMachine):
        ctx = {"backend": backend, "make_client": make_client, "db": committed_db}

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=int(__import__("os").environ.get("SYNC_PROPERTY_EXAMPLES", "50")),
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            # Each step is a real HTTP round trip: shrink briefly, report what was found.
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
            report_multiple_bugs=False,
        ),
    )


# ---------------------------------------------------------------------- rejections stay alone
_STORABLE = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_GOOD_TEXT = st.text(_STORABLE, max_size=40)
_POISON = st.sampled_from(["\x00", "\ud800", "\udfff", "\udbff"])


@st.composite
def _bad_text(draw: st.DrawFn) -> str:
    text = draw(_GOOD_TEXT)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(_POISON) + text[at:]


def _good(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        fields = {"status": "draft", "notes": draw(_GOOD_TEXT), "result": draw(_GOOD_TEXT)}
        return mutation("inspection", "create", fields)
    value = draw(st.floats(0, REGISTER_MAXIMUM, allow_nan=False))
    return mutation("meter_reading", "append", reading(value=value))


def _bad(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["text", "key", "long", "number", "time", "entity", "field"]))
    if kind == "text":
        return mutation("inspection", "create", {"status": "draft", "notes": draw(_bad_text())})
    if kind == "key":
        return mutation("inspection", "create", {"status": "draft",
                        "checklist": {draw(_bad_text()): True}})  # fmt: skip
    if kind == "long":
        result = draw(st.text(_STORABLE, min_size=65, max_size=80))
        return mutation("inspection", "create", {"status": "draft", "result": result})
    if kind == "number":
        too_big = draw(st.sampled_from([10 ** draw(st.integers(309, 400)), 1e308, 2e10]))
        return mutation("meter_reading", "append", reading(value=too_big))
    if kind == "time":
        moment = draw(st.sampled_from(["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
                                       "9999-12-31T23:59:59+14:00"]))  # fmt: skip
        return mutation("meter_reading", "append", reading(read_at=moment))
    if kind == "entity":
        return mutation(draw(st.sampled_from(["e" * 100, "photo\x00", "\ud800"])), "append", {})
    return mutation("inspection", "create", {"status": "draft", draw(_bad_text()): "x"})


@st.composite
def _mixed_batch(draw: st.DrawFn) -> list[tuple[bool, dict[str, Any]]]:
    plan = draw(st.lists(st.booleans(), min_size=1, max_size=8))
    return [(ok, _good(draw) if ok else _bad(draw)) for ok in plan]


def test_a_rejected_mutation_never_affects_the_others_of_its_batch(backend, http, committed_db):
    """Any mix of storable and unstorable mutations: exactly the unstorable ones are rejected,
    every other one is applied as sent, on both backends, and a replay answers the same."""
    device = http("H-1001")

    @settings(max_examples=int(__import__("os").environ.get("SYNC_PROPERTY_EXAMPLES", "50")),
              deadline=None, database=None, suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(_mixed_batch())
    def check(plan: list[tuple[bool, dict[str, Any]]]) -> None:
        body = batch(*(m for _, m in plan))
        reply = device.request("POST", "/api/v1/sync/push", json_body=body)
        assert reply.status == 200, reply.body
        kinds = [v["verdict"] for v in reply.body["verdicts"]]
        assert kinds == ["applied" if ok else "rejected" for ok, _ in plan], (kinds, plan)
        with committed_db.unit_of_work() as session:
            for ok, sent in plan:
                model = Inspection if sent["entity"] == "inspection" else MeterReading
                if sent["entity"] not in ("inspection", "meter_reading"):
                    continue
                stored = session.get(model, uuid.UUID(sent["id"]))
                assert (stored is not None) == ok, sent
                for name, value in sent["fields"].items() if ok else ():
                    if name in ("notes", "result", "value"):
                        assert getattr(stored, name) == value, (name, value)
        again = device.request("POST", "/api/v1/sync/push", json_body=body).body["verdicts"]
        assert [v["original"] for v in again] == kinds

    check()
