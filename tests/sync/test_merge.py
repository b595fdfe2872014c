"""Merge engine, entity policies and push parsing: rule tables and properties."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.entities import (
    ENTITIES,
    INSPECTION,
    INSPECTION_STATUS,
    METER_READING,
    TIMING_EVENT,
    WORK_ORDER,
    WORK_ORDER_STATUS,
    EntitySpec,
    FieldKind,
    FieldValueError,
    StateMachine,
    any_of,
    append,
    boolean,
    choice,
    integer,
    items,
    mapping,
    number,
    readonly,
    scalar,
    set_of,
    sha256,
    state,
    text,
    timestamp,
    uuid_ref,
)
from sync.merge import (
    RECORD_RULES,
    RULES,
    Action,
    MergeResult,
    Presence,
    Resolution,
    ResolveError,
    ServerRecord,
    StaleConflictError,
    Writes,
    apply_result,
    apply_writes,
    merge,
    resolve_conflict,
    same,
    unknown_entity,
)
from sync.protocol import (
    MAX_BATCH,
    FieldConflict,
    Mutation,
    Op,
    ProtocolError,
    PushBatch,
    RejectReason,
    Verdict,
    VerdictKind,
    parse_push,
)

FAST = settings(max_examples=100, deadline=None, database=None)

APPLIED, MERGED, CONFLICT, REJECTED = (
    VerdictKind.APPLIED,
    VerdictKind.MERGED,
    VerdictKind.CONFLICT,
    VerdictKind.REJECTED,
)

# A mutable entity with one field of every kind, for rules and properties.
TOY = EntitySpec(
    "toy",
    deletable_in=frozenset({"draft"}),
    fields={
        "a": scalar(integer()),
        "b": scalar(integer()),
        "c": scalar(integer()),
        "status": state(INSPECTION_STATUS),
        "checklist": set_of(any_of(boolean(), integer())),
        "tags": append(items(text(20))),
        "code": readonly(text(10)),
    },
)
SPECS = {**ENTITIES, "toy": TOY}

RID = UUID(int=1)
ORDER = "00000000-0000-0000-0000-0000000000aa"
T0 = "2024-05-01T08:00:00Z"


def mutation(fields=None, *, op=Op.UPDATE, base=5, entity="toy", mid=7):
    return Mutation(UUID(int=mid), entity, RID, op, base, fields or {}, None)


def create(fields, *, entity="toy", op=Op.CREATE):
    return mutation(fields, op=op, base=None, entity=entity)


def record(fields, *, version=5, field_versions=None, key_versions=None, deleted=False):
    versions = {name: 1 for name in fields} if field_versions is None else field_versions
    return ServerRecord(RID, version, fields, versions, key_versions or {}, deleted)


BASE = {"a": 1, "b": 2, "c": 3, "status": "in_progress", "code": "X1"}
LIVE = record(BASE)
TOMBSTONE = record(BASE, deleted=True)
DRAFT = record({**BASE, "status": "draft"})
EVENT = {"order_id": ORDER, "point": "H", "occurred_at": T0, "source": "geofence"}
STORED_EVENT = {**EVENT, "note": None}


# --- the tables themselves ----------------------------------------------------------------


def test_field_rules_cover_every_kind_and_equal_values_never_act():
    assert set(RULES) == {
        (k, c, e) for k in FieldKind for c in (False, True) for e in (False, True)
    }
    assert {RULES[(k, c, True)] for k in FieldKind for c in (False, True)} == {Action.KEEP}


def test_only_scalars_conflict_and_only_when_the_server_changed_too():
    conflicting = {key for key, action in RULES.items() if action is Action.CONFLICT}
    assert conflicting == {(FieldKind.SCALAR, True, False)}


def test_record_rules_cover_every_op_and_presence_and_never_resurrect():
    assert set(RECORD_RULES) == {(op, p) for op in Op for p in Presence}
    assert {RECORD_RULES[(op, Presence.TOMBSTONE)] for op in Op} == {"deleted"}


# --- record-level rules ------------------------------------------------------------------

RECORD_CASES = [
    # id, spec, server, mutation, kind, reason, writes (None: not checked)
    ("create new", "toy", None, create({"a": 1, "status": "draft"}), APPLIED, None,
     {"a": 1, "status": "draft"}),
    ("create of a tombstoned id", "toy", TOMBSTONE, create({"a": 1}), REJECTED,
     RejectReason.DELETED, {}),
    ("create replayed, identical", "toy", LIVE, create({"a": 1, "status": "in_progress"}),
     APPLIED, None, {}),
    ("create replayed, different scalar", "toy", LIVE, create({"a": 9}), CONFLICT, None, {}),
    ("create may not set server-owned field", "toy", None, create({"code": "Z"}), REJECTED,
     RejectReason.READONLY_FIELD, {}),
    ("create may set on-create field", "inspection", None,
     create({"status": "draft", "order_id": ORDER}, entity="inspection"), APPLIED, None,
     {"status": "draft", "order_id": ORDER}),
    ("create without required field", "inspection", None,
     create({"notes": "x"}, entity="inspection"), REJECTED, RejectReason.MISSING_FIELD, {}),
    ("create replay changes on-create field", "inspection",
     record({"status": "draft", "order_id": ORDER}),
     create({"status": "draft", "order_id": str(UUID(int=2))}, entity="inspection"), REJECTED,
     RejectReason.READONLY_FIELD, {}),
    ("devices never create work orders", "work_order", None,
     create({"crew_note": "x"}, entity="work_order"), REJECTED, RejectReason.OP_NOT_ALLOWED, {}),
    ("append new event", "timing_event", None,
     create(EVENT, entity="timing_event", op=Op.APPEND), APPLIED, None, EVENT),
    ("append replayed, identical", "timing_event", record(STORED_EVENT),
     create(EVENT, entity="timing_event", op=Op.APPEND), APPLIED, None, {}),
    ("append replayed, different", "timing_event", record(STORED_EVENT),
     create({**EVENT, "point": "G"}, entity="timing_event", op=Op.APPEND), REJECTED,
     RejectReason.ID_REUSED, {}),
    ("append onto a tombstone", "timing_event", record(STORED_EVENT, deleted=True),
     create(EVENT, entity="timing_event", op=Op.APPEND), REJECTED, RejectReason.DELETED, {}),
    ("append-only is not updated", "timing_event", record(STORED_EVENT),
     mutation({"note": "x"}, entity="timing_event"), REJECTED, RejectReason.OP_NOT_ALLOWED, {}),
    ("append-only takes append, not create", "timing_event", None,
     create(EVENT, entity="timing_event"), REJECTED, RejectReason.OP_NOT_ALLOWED, {}),
    ("mutable takes create, not append", "toy", None, create({"a": 1}, op=Op.APPEND), REJECTED,
     RejectReason.OP_NOT_ALLOWED, {}),
    ("update of unknown id", "toy", None, mutation({"a": 2}), REJECTED, RejectReason.NOT_FOUND,
     {}),
    ("update of tombstone", "toy", TOMBSTONE, mutation({"a": 2}), REJECTED,
     RejectReason.DELETED, {}),
    ("base_version from the future", "toy", LIVE, mutation({"a": 2}, base=6), REJECTED,
     RejectReason.FUTURE_BASE, {}),
    ("unknown field", "toy", LIVE, mutation({"a": 2, "zz": 1}), REJECTED,
     RejectReason.UNKNOWN_FIELD, {}),
    ("invalid value", "toy", LIVE, mutation({"a": "2"}), REJECTED, RejectReason.INVALID_VALUE,
     {}),
    ("null where not nullable", "toy", LIVE, mutation({"status": None}), REJECTED,
     RejectReason.INVALID_VALUE, {}),
    ("server-owned field changed", "toy", LIVE, mutation({"a": 2, "code": "Z"}), REJECTED,
     RejectReason.READONLY_FIELD, {}),
    ("server-owned field echoed unchanged", "toy", LIVE, mutation({"a": 2, "code": "X1"}),
     APPLIED, None, {"a": 2}),
    ("server-only state", "toy", LIVE, mutation({"status": "closed"}), REJECTED,
     RejectReason.SERVER_STATE, {}),
    ("delete a draft", "toy", DRAFT, mutation(op=Op.DELETE), APPLIED, None, {}),
    ("delete after a server change", "toy", DRAFT, mutation(op=Op.DELETE, base=4), REJECTED,
     RejectReason.STALE, {}),
    ("delete outside deletable states", "toy", LIVE, mutation(op=Op.DELETE), REJECTED,
     RejectReason.OP_NOT_ALLOWED, {}),
    ("delete of tombstone", "toy", TOMBSTONE, mutation(op=Op.DELETE), REJECTED,
     RejectReason.DELETED, {}),
    ("delete of unknown id", "toy", None, mutation(op=Op.DELETE), REJECTED,
     RejectReason.NOT_FOUND, {}),
    ("devices never delete work orders", "work_order", record({"status": "new"}),
     mutation(op=Op.DELETE, entity="work_order"), REJECTED, RejectReason.OP_NOT_ALLOWED, {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "server", "mut", "kind", "reason", "writes"),
    [case[1:] for case in RECORD_CASES],
    ids=[case[0] for case in RECORD_CASES],
)
def test_record_rules(spec, server, mut, kind, reason, writes):
    result = merge(SPECS[spec], server, mut)
    assert (result.kind, result.reason) == (kind, reason), result.detail
    if writes is not None:
        assert dict(result.writes.values) == writes
    assert result.delete == (mut.op is Op.DELETE and kind is APPLIED)


def test_unknown_entity_is_a_rejected_verdict():
    result = unknown_entity(mutation(entity="tractor"))
    assert (result.kind, result.reason) == (REJECTED, RejectReason.UNKNOWN_ENTITY)


def test_merge_refuses_a_spec_for_another_entity():
    with pytest.raises(ValueError, match="tractor"):
        merge(TOY, None, mutation(entity="tractor"))


# --- field-level rules -------------------------------------------------------------------

# The server changed "a", "status", "checklist" (key "k1") and "tags" at version 5; the
# client's base is version 3.
CHANGED = record(
    {**BASE, "a": 10, "checklist": {"k1": True, "k2": 1}, "tags": ["x"]},
    field_versions={"a": 5, "b": 1, "c": 1, "status": 5, "checklist": 5, "tags": 5, "code": 1},
    key_versions={"checklist": {"k1": 5, "k2": 1}},
)

FIELD_CASES = [
    # id, client fields, kind, writes, conflicts as (field, key, server, client), applied
    ("scalar only the client changed", {"b": 20}, APPLIED, {"b": 20}, [], ["b"]),
    ("scalar both changed, different", {"a": 11}, CONFLICT, {}, [("a", None, 10, 11)], []),
    ("scalar both changed, equal", {"a": 10}, APPLIED, {}, [], ["a"]),
    ("conflict keeps the other fields", {"a": 11, "b": 20, "c": 3}, CONFLICT, {"b": 20},
     [("a", None, 10, 11)], ["b", "c"]),
    ("state forward wins", {"status": "submitted"}, APPLIED, {"status": "submitted"}, [],
     ["status"]),
    ("state backward keeps server", {"status": "draft"}, MERGED, {}, [], []),
    ("set key only the client changed", {"checklist": {"k2": 2, "k3": False}}, APPLIED,
     {"checklist": {"k1": True, "k2": 2, "k3": False}}, [], ["checklist"]),
    ("set key both changed", {"checklist": {"k1": False, "k3": 3}}, CONFLICT,
     {"checklist": {"k1": True, "k2": 1, "k3": 3}}, [("checklist", "k1", True, False)], []),
    ("set key both changed, equal", {"checklist": {"k1": True}}, APPLIED, {}, [],
     ["checklist"]),
    ("set true is not 1", {"checklist": {"k2": True}}, APPLIED,
     {"checklist": {"k1": True, "k2": True}}, [], ["checklist"]),
    ("append unions", {"tags": ["y", "x", "y"]}, APPLIED, {"tags": ["x", "y"]}, [], ["tags"]),
    ("append already there", {"tags": ["x"]}, APPLIED, {}, [], ["tags"]),
    ("empty update", {}, APPLIED, {}, [], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "kind", "writes", "conflicts", "applied"),
    [case[1:] for case in FIELD_CASES],
    ids=[case[0] for case in FIELD_CASES],
)
def test_field_rules(fields, kind, writes, conflicts, applied):
    result = merge(TOY, CHANGED, mutation(fields, base=3))
    assert result.kind is kind
    assert dict(result.writes.values) == writes
    assert [(c.field, c.key, c.server, c.client) for c in result.conflicts] == conflicts
    assert list(result.applied_fields) == applied


def test_set_merge_reports_changed_keys_and_bumps_only_them():
    result = merge(TOY, CHANGED, mutation({"checklist": {"k2": 2, "k1": False}}, base=3))
    assert result.writes.changed_keys == {"checklist": frozenset({"k2"})}
    after = apply_result(CHANGED, mutation(), result, 6)
    assert after.key_versions["checklist"] == {"k1": 5, "k2": 6}
    assert after.field_versions["checklist"] == 6


def test_set_key_without_a_key_version_counts_as_changed_with_the_field():
    server = record({"checklist": {"k1": True}}, field_versions={"checklist": 5})
    result = merge(TOY, server, mutation({"checklist": {"k1": False}}, base=3))
    assert result.kind is CONFLICT


def test_terminal_state_stays():
    closed = record({"status": "closed"}, field_versions={"status": 5})
    result = merge(TOY, closed, mutation({"status": "submitted"}, base=3))
    assert (result.kind, dict(result.writes.values)) == (MERGED, {})


def test_late_on_site_never_undoes_finished_on_a_work_order():
    server = record({"status": "finished"}, field_versions={"status": 5})
    late = mutation({"status": "on_site", "crew_note": "tree"}, base=3, entity="work_order")
    result = merge(WORK_ORDER, server, late)
    assert result.kind is MERGED
    assert dict(result.writes.values) == {"crew_note": "tree"}
    assert result.applied_fields == ("crew_note",)


def test_timestamps_and_uuids_are_normalised_so_equal_values_do_not_conflict():
    stored = {**STORED_EVENT, "occurred_at": "2024-05-01T08:00:00Z", "order_id": ORDER}
    sent = {**EVENT, "occurred_at": "2024-05-01T16:00:00+08:00", "order_id": ORDER.upper()}
    replay = create(sent, entity="timing_event", op=Op.APPEND)
    assert merge(TIMING_EVENT, record(stored), replay).kind is APPLIED


def test_verdict_carries_problem_conflicts_and_version():
    rejected = merge(TOY, None, mutation({"a": 1}))
    verdict = rejected.verdict(mutation(), None)
    assert verdict.problem is not None
    assert verdict.problem.type == "sync-not-found"
    assert verdict.to_wire()["verdict"] == "rejected"
    conflicted = merge(TOY, CHANGED, mutation({"a": 11}, base=3))
    wire = conflicted.verdict(mutation(), 5).to_wire()
    assert wire["conflicts"] == [{"field": "a", "key": None, "server": 10, "client": 11}]
    assert (wire["version"], wire["problem"]) == (5, None)


def test_duplicate_verdict_keeps_the_original():
    verdict = Verdict(UUID(int=7), APPLIED, "toy", RID, 6, applied_fields=("a",))
    duplicate = verdict.as_duplicate()
    assert (duplicate.kind, duplicate.original, duplicate.version) == (
        VerdictKind.DUPLICATE,
        APPLIED,
        6,
    )
    assert duplicate.as_duplicate() == duplicate


def test_apply_result_creates_updates_and_tombstones():
    created = apply_result(None, create({"a": 1}), merge(TOY, None, create({"a": 1})), 9)
    assert created == ServerRecord(RID, 9, {"a": 1}, {"a": 9}, {}, False)
    deleted = apply_result(DRAFT, mutation(), merge(TOY, DRAFT, mutation(op=Op.DELETE)), 10)
    assert deleted is not None and deleted.deleted and deleted.version == 10
    assert apply_result(LIVE, mutation(), MergeResult(APPLIED), 11) is LIVE
    assert apply_writes(LIVE, Writes(), 11) is LIVE


# --- conflict resolution -----------------------------------------------------------------

SCALAR_CONFLICT = FieldConflict("a", 10, 11)
KEY_CONFLICT = FieldConflict("checklist", True, False, key="k1")


@pytest.mark.parametrize(
    ("conflict", "resolution", "edited", "writes", "keys"),
    [
        (SCALAR_CONFLICT, Resolution.TAKE_SERVER, None, {}, {}),
        (SCALAR_CONFLICT, Resolution.TAKE_CLIENT, None, {"a": 11}, {}),
        (SCALAR_CONFLICT, Resolution.EDIT, 12, {"a": 12}, {}),
        (SCALAR_CONFLICT, Resolution.EDIT, 10, {}, {}),
        (SCALAR_CONFLICT, Resolution.EDIT, None, {"a": None}, {}),
        (
            KEY_CONFLICT,
            Resolution.TAKE_CLIENT,
            None,
            {"checklist": {"k1": False, "k2": 1}},
            {"checklist": frozenset({"k1"})},
        ),
        (
            KEY_CONFLICT,
            Resolution.EDIT,
            7,
            {"checklist": {"k1": 7, "k2": 1}},
            {"checklist": frozenset({"k1"})},
        ),
        (KEY_CONFLICT, Resolution.TAKE_SERVER, None, {}, {}),
    ],
)
def test_resolve_conflict(conflict, resolution, edited, writes, keys):
    result = resolve_conflict(TOY, CHANGED, conflict, resolution, edited)
    assert (dict(result.values), dict(result.changed_keys)) == (writes, keys)


@pytest.mark.parametrize(
    ("server", "conflict", "edited", "error"),
    [
        (CHANGED, FieldConflict("a", 9, 11), None, StaleConflictError),
        (CHANGED, FieldConflict("checklist", False, True, key="k1"), None, StaleConflictError),
        (CHANGED, FieldConflict("status", "draft", "submitted"), None, ResolveError),
        (CHANGED, FieldConflict("nope", 1, 2), None, ResolveError),
        (CHANGED, FieldConflict("checklist", {}, {}), None, ResolveError),
        (CHANGED, SCALAR_CONFLICT, "twelve", ResolveError),
        (record({"a": 10}, deleted=True), SCALAR_CONFLICT, 12, ResolveError),
    ],
)
def test_resolve_conflict_refuses(server, conflict, edited, error):
    with pytest.raises(error):
        resolve_conflict(TOY, server, conflict, Resolution.EDIT, edited)


def test_resolved_value_no_longer_conflicts_on_replay():
    conflicted = mutation({"a": 11}, base=3)
    writes = resolve_conflict(TOY, CHANGED, SCALAR_CONFLICT, Resolution.TAKE_CLIENT)
    resolved = apply_writes(CHANGED, writes, 6)
    assert merge(TOY, resolved, conflicted).kind is APPLIED


# --- entity declarations and validators --------------------------------------------------


def test_every_declared_entity_is_consistent():
    for name, spec in ENTITIES.items():
        assert spec.name == name
        if spec.append_only:
            assert {f.kind for f in spec.fields.values()} == {FieldKind.APPEND}
            assert [op for op in Op if spec.allows(op)] == [Op.APPEND]
    assert WORK_ORDER.status_field == "status" and not WORK_ORDER.allows(Op.CREATE)
    assert INSPECTION.fields["checklist"].kind is FieldKind.SET


@pytest.mark.parametrize(
    ("machine", "error"),
    [
        (lambda: StateMachine(("a", "a"), frozenset(), frozenset()), "distinct"),
        (lambda: StateMachine(("a",), frozenset({"z"}), frozenset()), "declared"),
        (lambda: StateMachine(("a", "b"), frozenset({"a"}), frozenset()), "last"),
    ],
)
def test_state_machine_declaration_errors(machine, error):
    with pytest.raises(ValueError, match=error):
        machine()


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (lambda: EntitySpec("x", {"a": scalar(text(1))}, append_only=True), "APPEND"),
        (
            lambda: EntitySpec("x", {"s": state(INSPECTION_STATUS), "t": state(INSPECTION_STATUS)}),
            "one STATE",
        ),
        (
            lambda: EntitySpec("x", {"a": scalar(text(1))}, deletable_in=frozenset({"d"})),
            "deletable_in",
        ),
    ],
)
def test_entity_declaration_errors(spec, error):
    with pytest.raises(ValueError, match=error):
        spec()


@pytest.mark.parametrize(
    ("server_state", "client_state", "winner"),
    [
        ("dispatched", "accepted", "accepted"),
        ("delivered", "accepted", "accepted"),
        ("on_site", "en_route", "on_site"),
        ("finished", "finished", "finished"),
        ("closed", "finished", "closed"),
        ("followed_up", "finished", "followed_up"),
    ],
)
def test_work_order_state_machine(server_state, client_state, winner):
    assert WORK_ORDER_STATUS.forward(server_state, client_state) == winner


DIGEST = "AB" * 32
VALIDATOR_CASES = [
    (text(3), "abc", "abc", None),
    (text(3), "abcd", None, "at most 3"),
    (text(3), 3, None, "string"),
    (text(3, blank=False), "  ", None, "blank"),
    (integer(0, 9), 3, 3, None),
    (integer(0, 9), True, None, "integer"),
    (integer(0, 9), 3.0, None, "integer"),
    (integer(0, 9), 10, None, "between"),
    (number(-90, 90), 45, 45.0, None),
    (number(-90, 90), 90.5, None, "at most"),
    (number(-90, 90), -91, None, "at least"),
    (number(), float("nan"), None, "finite"),
    (number(), "1", None, "number"),
    (boolean(), False, False, None),
    (boolean(), 0, None, "true or false"),
    (timestamp(), "2024-05-01T16:00:00.5+08:00", "2024-05-01T08:00:00.500000Z", None),
    (timestamp(), "2024-05-01T08:00:00", None, "RFC 3339"),
    (uuid_ref(), ORDER.upper(), ORDER, None),
    (uuid_ref(), "not-a-uuid", None, "UUID"),
    (sha256(), DIGEST, DIGEST.lower(), None),
    (sha256(), "ab", None, "SHA-256"),
    (choice("E", "F"), "F", "F", None),
    (choice("E", "F"), "A", None, "one of"),
    (any_of(boolean(), integer()), None, None, None),
    (any_of(boolean(), integer()), "x", None, "true or false or must be an integer"),
    (mapping(integer()), {"k": 1}, {"k": 1}, None),
    (mapping(integer()), [], None, "object"),
    (mapping(integer()), {"": 1}, None, "keys"),
    (mapping(integer()), {"k": "1"}, None, "key 'k'"),
    (mapping(integer(), max_keys=1), {"a": 1, "b": 2}, None, "at most 1 keys"),
    (items(text(2)), ["a"], ["a"], None),
    (items(text(2)), "a", None, "list"),
    (items(text(2)), ["a", 1], None, "item 1: must be a string"),
    (items(text(2), max_items=1), ["a", "b"], None, "at most 1 items"),
]


@pytest.mark.parametrize(("validate", "value", "normalised", "error"), VALIDATOR_CASES)
def test_validators(validate, value, normalised, error):
    if error is None:
        assert validate(value) == normalised
    else:
        with pytest.raises(FieldValueError, match=error):
            validate(value)


def test_invalid_fields_are_all_listed_in_the_rejection():
    sent = {"meter_id": "x", "value": -1, "reading_kind": "", "read_at": T0}
    result = merge(METER_READING, None, create(sent, entity="meter_reading", op=Op.APPEND))
    assert result.reason is RejectReason.INVALID_VALUE
    assert all(name in result.detail for name in ("meter_id", "value", "reading_kind"))


# --- push parsing (wire contract) --------------------------------------------------------

MID = "00000000-0000-4000-8000-000000000001"
GOOD_MUTATION = {
    "mutation_id": MID,
    "entity": "inspection",
    "id": "00000000-0000-4000-8000-0000000000ff",
    "op": "update",
    "base_version": 4,
    "fields": {"notes": "ok"},
    "occurred_at": "2024-05-01T16:00:00+08:00",
}
GOOD_BODY = {
    "device_id": "handheld-17",
    "batch_id": "00000000-0000-4000-8000-00000000b000",
    "sent_at": "2024-05-01T08:05:00Z",
    "mutations": [GOOD_MUTATION],
}


def test_parse_push_accepts_the_contract():
    batch = parse_push(GOOD_BODY)
    (parsed,) = batch.mutations
    assert batch.sent_at == datetime(2024, 5, 1, 8, 5, tzinfo=UTC)
    assert parsed.op is Op.UPDATE and parsed.base_version == 4
    assert parsed.occurred_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert parse_push(batch.to_wire()) == batch


def _with(**changes):
    return {**GOOD_MUTATION, **changes}


def _without(key):
    return {k: v for k, v in GOOD_MUTATION.items() if k != key}


PROTOCOL_CASES = [
    ("not an object", [], "_schema", "Invalid input type."),
    ("missing device_id", {k: v for k, v in GOOD_BODY.items() if k != "device_id"},
     "device_id", "Missing data"),
    ("unknown top-level key", {**GOOD_BODY, "extra": 1}, "extra", "Unknown field."),
    ("blank device_id", {**GOOD_BODY, "device_id": " "}, "device_id", "blank"),
    ("long device_id", {**GOOD_BODY, "device_id": "d" * 129}, "device_id", "maximum length"),
    ("bad batch_id", {**GOOD_BODY, "batch_id": "b-1"}, "batch_id", "UUID"),
    ("sent_at without offset", {**GOOD_BODY, "sent_at": "2024-05-01T08:05:00"}, "sent_at",
     "RFC 3339"),
    ("sent_at impossible date", {**GOOD_BODY, "sent_at": "2024-02-30T08:05:00Z"}, "sent_at",
     "RFC 3339"),
    ("sent_at date only", {**GOOD_BODY, "sent_at": "2024-05-01"}, "sent_at", "RFC 3339"),
    ("mutations not a list", {**GOOD_BODY, "mutations": {}}, "mutations", "list"),
    ("too many mutations", {**GOOD_BODY, "mutations": [GOOD_MUTATION] * (MAX_BATCH + 1)},
     "mutations", "maximum length 500"),
    ("mutation not an object", {**GOOD_BODY, "mutations": [1]}, "mutations.0", "Invalid input"),
    ("mutation missing key", {**GOOD_BODY, "mutations": [_without("fields")]},
     "mutations.0.fields", "Missing data"),
    ("mutation unknown key", {**GOOD_BODY, "mutations": [_with(extra=1)]},
     "mutations.0.extra", "Unknown field."),
    ("bad mutation_id", {**GOOD_BODY, "mutations": [_with(mutation_id="{" + MID + "}")]},
     "mutations.0.mutation_id", "UUID"),
    ("bad id", {**GOOD_BODY, "mutations": [_with(id=42)]}, "mutations.0.id", "UUID"),
    ("bad entity", {**GOOD_BODY, "mutations": [_with(entity=1)]}, "mutations.0.entity",
     "string"),
    ("bad op", {**GOOD_BODY, "mutations": [_with(op="upsert")]}, "mutations.0.op", "one of"),
    ("bool base_version", {**GOOD_BODY, "mutations": [_with(base_version=True)]},
     "mutations.0.base_version", "integer"),
    ("float base_version", {**GOOD_BODY, "mutations": [_with(base_version=4.0)]},
     "mutations.0.base_version", "integer"),
    ("negative base_version", {**GOOD_BODY, "mutations": [_with(base_version=-1)]},
     "mutations.0.base_version", "greater than or equal"),
    ("update without base_version", {**GOOD_BODY, "mutations": [_with(base_version=None)]},
     "mutations.0.base_version", "Required for update"),
    ("create with base_version", {**GOOD_BODY, "mutations": [_with(op="create")]},
     "mutations.0.base_version", "null for create"),
    ("fields null", {**GOOD_BODY, "mutations": [_with(fields=None)]}, "mutations.0.fields",
     "null"),
    ("fields a list", {**GOOD_BODY, "mutations": [_with(fields=[])]}, "mutations.0.fields",
     "mapping"),
    ("fields non-string keys", {**GOOD_BODY, "mutations": [_with(fields={1: 2})]},
     "mutations.0.fields", "Keys must be strings."),
    ("too many fields", {**GOOD_BODY, "mutations": [_with(fields=dict.fromkeys(map(str,
     range(201)), 1))]}, "mutations.0.fields", "maximum length 200"),
    ("delete with fields", {**GOOD_BODY, "mutations": [_with(op="delete")]},
     "mutations.0.fields", "empty for delete"),
    ("bad occurred_at", {**GOOD_BODY, "mutations": [_with(occurred_at=1714550400)]},
     "mutations.0.occurred_at", "RFC 3339"),
    ("duplicate mutation_id", {**GOOD_BODY, "mutations": [GOOD_MUTATION, GOOD_MUTATION]},
     "mutations.1.mutation_id", "Duplicate"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [case[1:] for case in PROTOCOL_CASES],
    ids=[case[0] for case in PROTOCOL_CASES],
)
def test_parse_push_refuses_malformed_bodies(body, path, message):
    with pytest.raises(ProtocolError) as caught:
        parse_push(body)
    assert any(message in text for text in caught.value.field_errors.get(path, [])), (
        caught.value.field_errors
    )


def test_unknown_entity_and_field_are_not_protocol_errors():
    body = {**GOOD_BODY, "mutations": [_with(entity="tractor", fields={"zz": 1})]}
    assert parse_push(body).mutations[0].entity == "tractor"


def test_parse_push_accepts_an_empty_batch_and_null_occurred_at():
    body = {**GOOD_BODY, "mutations": []}
    assert parse_push(body).mutations == ()
    body = {**GOOD_BODY, "mutations": [_with(occurred_at=None, op="delete", fields={})]}
    assert parse_push(body).mutations[0].occurred_at is None


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def mutations(draw, index):
    op = draw(st.sampled_from(Op))
    base = draw(st.integers(0, 10**6)) if op in (Op.UPDATE, Op.DELETE) else None
    fields = {} if op is Op.DELETE else draw(st.dictionaries(st.text(max_size=5), json_scalars))
    return Mutation(
        UUID(int=index + 1),
        draw(st.sampled_from(sorted(SPECS))),
        draw(st.uuids()),
        op,
        base,
        fields,
        draw(st.none() | moments),
    )


@FAST
@given(st.integers(0, 5).flatmap(lambda n: st.tuples(*(mutations(i) for i in range(n)))), moments)
def test_push_round_trips_through_the_wire(mutation_list, sent_at):
    batch = PushBatch("dev", UUID(int=99), sent_at, mutation_list)
    assert parse_push(batch.to_wire()) == batch


def test_offsets_are_normalised_to_utc():
    body = {**GOOD_BODY, "sent_at": "2024-05-01t16:05:00.123+08:00"}
    assert parse_push(body).sent_at == datetime(2024, 5, 1, 8, 5, 0, 123000, tzinfo=UTC)
    assert parse_push(body).sent_at.utcoffset() == timedelta(0)


# --- properties ---------------------------------------------------------------------------

SCALARS = ("a", "b", "c")
small = st.integers(0, 3)  # few values, so both sides often pick the same one


@st.composite
def concurrent_scalar_edits(draw):
    """A record at version 5, edits the server made at version 6, and a client's edits on 5."""
    base = {name: draw(small) for name in SCALARS}

    def edits():
        chosen = draw(st.sets(st.sampled_from(SCALARS)))
        return {name: draw(small.filter(lambda v, n=name: v != base[n])) for name in chosen}

    server_edits, client_edits = edits(), edits()
    server = record(
        {**base, **server_edits},
        version=6 if server_edits else 5,
        field_versions={name: 6 if name in server_edits else 5 for name in SCALARS},
    )
    return server, server_edits, client_edits


@FAST
@given(concurrent_scalar_edits())
def test_one_sided_edits_are_never_lost(scenario):
    server, server_edits, client_edits = scenario
    result = merge(TOY, server, mutation(client_edits, base=5))
    after = apply_result(server, mutation(), result, 7)
    for name, value in client_edits.items():
        if name not in server_edits:
            assert after.fields[name] == value
    for name, value in server_edits.items():
        if name not in client_edits:
            assert after.fields[name] == value


@FAST
@given(concurrent_scalar_edits())
def test_conflict_exactly_when_both_sides_changed_a_scalar_differently(scenario):
    server, server_edits, client_edits = scenario
    result = merge(TOY, server, mutation(client_edits, base=5))
    expected = {n for n in client_edits if n in server_edits and server_edits[n] != client_edits[n]}
    assert {c.field for c in result.conflicts} == expected
    assert (result.kind is CONFLICT) == bool(expected)
    for conflict in result.conflicts:  # the server value is kept
        assert conflict.field not in result.writes.values
        assert conflict.server == server.fields[conflict.field]


@FAST
@given(concurrent_scalar_edits(), st.booleans())
def test_equal_values_never_conflict(scenario, server_changed_everything):
    server, _, _ = scenario
    if server_changed_everything:
        server = record(server.fields, version=6, field_versions=dict.fromkeys(SCALARS, 6))
    result = merge(TOY, server, mutation(dict(server.fields), base=5))
    assert (result.kind, result.conflicts, dict(result.writes.values)) == (APPLIED, (), {})


@FAST
@given(
    st.sampled_from(WORK_ORDER_STATUS.states),
    st.sampled_from(sorted(WORK_ORDER_STATUS.device_states)),
    st.booleans(),
)
def test_state_never_moves_backwards_and_terminal_states_stay(server_state, client_state, seen):
    server = record({"status": server_state}, field_versions={"status": 3 if seen else 5})
    result = merge(
        WORK_ORDER, server, mutation({"status": client_state}, base=3, entity="work_order")
    )
    assert result.kind in (APPLIED, MERGED)
    after = result.writes.values.get("status", server_state)
    rank = WORK_ORDER_STATUS.rank
    assert rank(after) >= rank(server_state)
    if WORK_ORDER_STATUS.is_terminal(server_state):
        assert after == server_state
    elif rank(client_state) > rank(server_state):
        assert after == client_state


KEYS = ("k1", "k2", "k3", "k4", "k5")
answers = st.booleans() | small


@FAST
@given(
    st.dictionaries(st.sampled_from(KEYS), answers),
    st.dictionaries(st.sampled_from(KEYS), answers, min_size=1),
    st.data(),
)
def test_set_merge_commutes_for_disjoint_keys(held, first, data):
    rest = [k for k in KEYS if k not in first]
    second = data.draw(st.dictionaries(st.sampled_from(rest), answers) if rest else st.just({}))
    server = record(
        {"checklist": held},
        field_versions={"checklist": 5},
        key_versions={"checklist": dict.fromkeys(held, 5)},
    )

    def push(order):
        current = server
        for number_, patch in enumerate(order, start=6):
            result = merge(TOY, current, mutation({"checklist": patch}, base=5))
            assert result.kind is APPLIED
            current = apply_result(current, mutation(), result, number_)
        return current.fields["checklist"]

    assert push([first, second]) == push([second, first]) == {**held, **first, **second}


@st.composite
def toy_records(draw):
    version = draw(st.integers(1, 8))
    fields = {
        "a": draw(small),
        "b": draw(small | st.none()),
        "status": draw(st.sampled_from(INSPECTION_STATUS.states)),
        "checklist": draw(st.dictionaries(st.sampled_from(KEYS), answers, max_size=3)),
        "tags": draw(st.lists(st.sampled_from("xyz"), unique=True)),
        "code": "X1",
    }
    versions = {name: draw(st.integers(1, version)) for name in fields}
    key_versions = {"checklist": {k: draw(st.integers(1, version)) for k in fields["checklist"]}}
    return ServerRecord(RID, version, fields, versions, key_versions)


toy_fields = st.fixed_dictionaries(
    {},
    optional={
        "a": small,
        "b": small | st.none(),
        "c": small,
        "status": st.sampled_from(INSPECTION_STATUS.states),
        "checklist": st.dictionaries(st.sampled_from(KEYS), answers, max_size=3),
        "tags": st.lists(st.sampled_from("xyz"), max_size=3),
        "code": st.sampled_from(["X1", "X1", "X2"]),
    },
)
# Mostly updates of declared fields, so that most mutations get past the rejections.
toy_ops = st.sampled_from([Op.UPDATE] * 5 + [Op.CREATE, Op.DELETE, Op.APPEND])


@st.composite
def toy_mutations(draw, version, fields=toy_fields):
    op = draw(toy_ops)
    base = draw(st.integers(0, version + 1)) if op in (Op.UPDATE, Op.DELETE) else None
    return mutation({} if op is Op.DELETE else draw(fields), op=op, base=base)


@FAST
@given(st.one_of(st.none(), toy_records(), toy_records(), toy_records()), st.data())
def test_applying_the_same_mutation_twice_changes_nothing_more(server, data):
    version = server.version if server else 0
    sent = data.draw(toy_mutations(version))
    first = merge(TOY, server, sent)
    after = apply_result(server, sent, first, version + 1)
    again = merge(TOY, after, sent)
    assert not again.changes, (first, again)
    assert apply_result(after, sent, again, version + 2) == after


@FAST
@given(toy_records(), st.data())
def test_tombstones_are_never_resurrected(server, data):
    tombstone = ServerRecord(server.id, server.version, server.fields, deleted=True)
    noisy = toy_fields | st.fixed_dictionaries({"bogus": small})
    sent = data.draw(toy_mutations(server.version, noisy))
    result = merge(TOY, tombstone, sent)
    assert result.kind is REJECTED and not result.changes
    assert apply_result(tombstone, sent, result, server.version + 1) == tombstone


@FAST
@given(st.lists(st.sampled_from("xyz")), st.lists(st.sampled_from("xyz")))
def test_append_fields_only_grow_and_never_conflict(held, sent):
    server = record({"tags": list(dict.fromkeys(held))}, field_versions={"tags": 5})
    result = merge(TOY, server, mutation({"tags": sent}, base=3))
    after = result.writes.values.get("tags", server.fields["tags"])
    assert result.kind is APPLIED
    assert after[: len(server.fields["tags"])] == server.fields["tags"]
    assert set(after) == set(held) | set(sent)


def test_same_is_json_equality():
    assert same({"a": [1, True]}, {"a": [1.0, True]})
    assert not same(True, 1) and not same(0, False) and not same([1], [1, 2])
    assert not same({"a": 1}, {"b": 1})
