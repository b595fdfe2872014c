"""Declared merge policy of every synced entity: field kinds, validators and state machines.

Read `ENTITIES` at the bottom as the table of what a device may write and how
concurrent changes meet; `sync.merge.RULES` says what each `FieldKind` does.
"""

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from sync.protocol import Op, RejectReason, format_time, parse_time, uuid_of, uuid_text


class FieldKind(StrEnum):
    """How concurrent changes to a field are merged."""

    APPEND = "append"  # written once (append-only records) or lists that only grow
    STATE = "state"  # state machine: forward moves win, terminal states stay
    SET = "set"  # key -> value map (checklists): keys merge independently
    SCALAR = "scalar"  # both sides changed it to different values: conflict
    READONLY = "readonly"  # server-owned: a device's change is rejected


class FieldValueError(ValueError):
    """A client value does not fit its field; the message says why."""


class RejectionError(Exception):
    """A mutation the server refuses; it becomes a `rejected` verdict."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


Validator = Callable[[object], object]
"""Checks one client value and returns it normalised, or raises `FieldValueError`."""


def text(max_length: int, *, blank: bool = True) -> Validator:
    """Accept a string of at most `max_length` characters (non-blank unless `blank`)."""

    def check(value: object) -> object:
        if not isinstance(value, str):
            raise FieldValueError("must be a string")
        if len(value) > max_length:
            raise FieldValueError(f"must be at most {max_length} characters")
        if not blank and not value.strip():
            raise FieldValueError("must not be blank")
        return value

    return check


def number(minimum: float | None = None, maximum: float | None = None) -> Validator:
    """Accept a finite JSON number within bounds, as a float."""

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldValueError("must be a number")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer beyond any float: 10**400
            finite = False
        if not finite:
            raise FieldValueError("must be finite")
        if minimum is not None and value < minimum:
            raise FieldValueError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise FieldValueError(f"must be at most {maximum}")
        return float(value)

    return check


def integer(minimum: int | None = None, maximum: int | None = None) -> Validator:
    """Accept a JSON integer (not a bool, not 3.0) within bounds."""

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldValueError("must be an integer")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise FieldValueError(f"must be between {minimum} and {maximum}")
        return value

    return check


def boolean() -> Validator:
    """Accept true or false."""

    def check(value: object) -> object:
        if not isinstance(value, bool):
            raise FieldValueError("must be true or false")
        return value

    return check


def utc_moment(value: object) -> datetime:
    """Return the UTC datetime of an RFC 3339 date-time with offset, or raise FieldValueError."""
    moment = parse_time(value)
    if moment is None:
        raise FieldValueError("must be an RFC 3339 date-time with offset")
    return moment


# How far ahead of the server clock a device's time of observation may be: the allowance that
# dispatch gives a timing event's `occurred_at` before refusing it (closer ones are clamped),
# as the GPS fix filter does a position. Beyond it the device clock is wrong or the time made up.
FUTURE_ALLOWANCE = timedelta(minutes=2)


AHEAD_OF_SERVER_MESSAGE = (
    f"must be at most {FUTURE_ALLOWANCE} ahead of the server clock; check the device clock"
)


def ahead_of_server(moment: datetime) -> bool:
    """Return whether a time of observation lies beyond `FUTURE_ALLOWANCE` ahead of the server.

    The one rule for every device-observed time (readings, fixes, photos, meter events, fault
    records), whichever door it comes through: REST schemas, services and sync specs ask here.
    """
    return moment > datetime.now(UTC) + FUTURE_ALLOWANCE


def observed_moment(value: object) -> datetime:
    """Return the UTC datetime of a time of observation, refusing one beyond `FUTURE_ALLOWANCE`.

    Evidence (a reading's `read_at`, a fix's `ts`, a photo's `taken_at`) is refused rather than
    clamped: a clamped time would be a time nobody observed. Checked against the server clock
    at validation.
    """
    moment = utc_moment(value)
    if ahead_of_server(moment):
        raise FieldValueError(AHEAD_OF_SERVER_MESSAGE)
    return moment


def _rfc3339(value: object) -> object:
    return format_time(utc_moment(value))


def _observed_rfc3339(value: object) -> object:
    return format_time(observed_moment(value))


def timestamp(*, observed: bool = False) -> Validator:
    """Accept an RFC 3339 date-time with offset, normalised to UTC so equal instants match.

    `observed`: a time of observation, refused beyond `FUTURE_ALLOWANCE` ahead of the server.
    """
    return _observed_rfc3339 if observed else _rfc3339


# A register's largest reading: ten integer digits (9 999 999 999) are more than any electricity,
# gas or water register shows, and a float still holds it to the micro-unit. Above it a value
# is a typo or an attack, and as the meter's last reading it would poison consumption figures.
REGISTER_MAXIMUM = 1e10
# The worst accuracy radius (metres) a GPS fix may report and still be stored: 10 km is a
# cell-tower position; beyond it the fix places nobody anywhere.
GPS_ACCURACY_MAXIMUM_M = 10_000.0


def _uuid_ref(value: object) -> str:
    text = uuid_text(value)  # what str(UUID(value)) spells, without the round trip
    if text is None:
        raise FieldValueError("must be a UUID")
    return text


def _uuid_column(value: object) -> object:
    return uuid_of(_uuid_ref(value))


def uuid_ref() -> Validator:
    """Accept a canonical UUID string; normalise to lower case."""
    return _uuid_ref


# Validators whose value a column of the matching type takes in one step, without the
# normalised text in between (the compiled push plans, `sync.store.plans`).
COLUMN_VALUE: Mapping[Validator, Validator] = MappingProxyType(
    {_rfc3339: utc_moment, _observed_rfc3339: observed_moment, _uuid_ref: _uuid_column}
)


_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def sha256() -> Validator:
    """Accept a hex SHA-256 digest (a blob reference); normalise to lower case."""

    def check(value: object) -> object:
        if not isinstance(value, str) or not _SHA256_RE.fullmatch(value):
            raise FieldValueError("must be a SHA-256 hex digest")
        return value.lower()

    return check


def choice(*options: str) -> Validator:
    """Accept one of `options`."""

    def check(value: object) -> object:
        if value not in options:
            raise FieldValueError(f"must be one of: {', '.join(options)}")
        return value

    return check


def any_of(*validators: Validator) -> Validator:
    """Accept what the first matching validator accepts; None passes as null."""

    def check(value: object) -> object:
        if value is None:
            return None
        reasons = []
        for validate in validators:
            try:
                return validate(value)
            except FieldValueError as exc:
                reasons.append(str(exc))
        raise FieldValueError(" or ".join(reasons))

    return check


def mapping(values: Validator, *, max_keys: int = 200, key_length: int = 64) -> Validator:
    """Accept an object of non-blank string keys to values (a SET field's patch)."""

    def check(value: object) -> object:
        if not isinstance(value, Mapping):
            raise FieldValueError("must be an object")
        if len(value) > max_keys:
            raise FieldValueError(f"must have at most {max_keys} keys")
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key.strip() or len(key) > key_length:
                raise FieldValueError(f"keys must be non-blank strings of at most {key_length}")
            try:
                result[key] = values(item)
            except FieldValueError as exc:
                raise FieldValueError(f"key {key!r}: {exc}") from exc
        return result

    return check


def items(item: Validator, *, max_items: int = 200) -> Validator:
    """Accept a list of items (an APPEND field's new items)."""

    def check(value: object) -> object:
        if not isinstance(value, list):
            raise FieldValueError("must be a list")
        if len(value) > max_items:
            raise FieldValueError(f"must have at most {max_items} items")
        result = []
        for index, element in enumerate(value):
            try:
                result.append(item(element))
            except FieldValueError as exc:
                raise FieldValueError(f"item {index}: {exc}") from exc
        return result

    return check


def point() -> Validator:
    """Accept a WGS-84 position `{"lat": .., "lon": ..}` with finite numbers in range."""
    lat_check, lon_check = number(-90, 90), number(-180, 180)

    def check(value: object) -> object:
        if not isinstance(value, Mapping) or set(value) != {"lat", "lon"}:
            raise FieldValueError('must be an object {"lat": .., "lon": ..}')
        return {"lat": lat_check(value["lat"]), "lon": lon_check(value["lon"])}

    return check


def record() -> Validator:
    """Accept a JSON object (server-owned structured values such as a customer's contacts)."""

    def check(value: object) -> object:
        if not isinstance(value, Mapping):
            raise FieldValueError("must be an object")
        return dict(value)

    return check


@dataclass(frozen=True)
class StateMachine:
    """Ordered states of a status field: a later state is a forward move.

    Terminal states come last and never change once reached. `device_states`
    are the states a device may set; the others are set by the server only.
    """

    states: tuple[str, ...]
    terminal: frozenset[str]
    device_states: frozenset[str]

    def __post_init__(self) -> None:
        if len(set(self.states)) != len(self.states):
            raise ValueError("states must be distinct")
        if not (self.terminal | self.device_states) <= set(self.states):
            raise ValueError("terminal and device states must be declared states")
        if set(self.states[len(self.states) - len(self.terminal) :]) != self.terminal:
            raise ValueError("terminal states must come last")

    def rank(self, state: str) -> int:
        """Return the position of `state` in the forward order."""
        return self.states.index(state)

    def is_terminal(self, state: str) -> bool:
        """Return whether `state` never changes once reached."""
        return state in self.terminal

    def forward(self, server_state: str, client_state: str) -> str:
        """Return the state that wins when the server and a device disagree.

        A terminal server state stays; otherwise the later state wins, so an
        offline device's late "arrived" never undoes the server's "finished".
        """
        if self.is_terminal(server_state) or self.rank(client_state) <= self.rank(server_state):
            return server_state
        return client_state


@dataclass(frozen=True)
class FieldSpec:
    """Merge kind and validation of one field.

    Attributes:
        kind: How concurrent changes merge.
        validate: Checks and normalises a non-null client value.
        required: Must be given when the record is created.
        nullable: Accepts null.
        machine: The state machine of a STATE field.
        on_create: A READONLY field that a device may set when it creates the record.
    """

    kind: FieldKind
    validate: Validator
    required: bool = False
    nullable: bool = False
    machine: StateMachine | None = None
    on_create: bool = False


def scalar(validate: Validator, *, required: bool = False, nullable: bool = True) -> FieldSpec:
    """Declare a SCALAR field."""
    return FieldSpec(FieldKind.SCALAR, validate, required=required, nullable=nullable)


def state(machine: StateMachine, *, required: bool = False) -> FieldSpec:
    """Declare a STATE field following `machine`."""
    return FieldSpec(FieldKind.STATE, choice(*machine.states), required=required, machine=machine)


def set_of(values: Validator) -> FieldSpec:
    """Declare a SET field: a map whose keys merge independently; a write is a patch."""
    return FieldSpec(FieldKind.SET, mapping(values))


def append(validate: Validator, *, required: bool = False, nullable: bool = False) -> FieldSpec:
    """Declare an APPEND field."""
    return FieldSpec(FieldKind.APPEND, validate, required=required, nullable=nullable)


def readonly(validate: Validator, *, on_create: bool = False, required: bool = False) -> FieldSpec:
    """Declare a READONLY (server-owned) field; `on_create` lets a device set it once."""
    return FieldSpec(
        FieldKind.READONLY, validate, required=required, nullable=True, on_create=on_create
    )


@dataclass(frozen=True)
class EntitySpec:
    """What a device may do to one synced entity.

    Attributes:
        name: The wire name (`Mutation.entity`).
        fields: Field name to its spec.
        append_only: Records are only appended (`append`), never updated or deleted.
        creatable: Devices may `create` records (mutable entities only).
        deletable_in: States of the status field in which a device may `delete`.
    """

    name: str
    fields: Mapping[str, FieldSpec]
    append_only: bool = False
    creatable: bool = True
    deletable_in: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        kinds = [spec.kind for spec in self.fields.values()]
        if self.append_only and (set(kinds) != {FieldKind.APPEND} or self.deletable_in):
            raise ValueError(f"{self.name}: append-only entities hold APPEND fields only")
        if kinds.count(FieldKind.STATE) > 1:
            raise ValueError(f"{self.name}: at most one STATE field")
        machine = self.machine
        if self.deletable_in and (machine is None or not self.deletable_in <= set(machine.states)):
            raise ValueError(f"{self.name}: deletable_in must name states of the status field")

    @property
    def status_field(self) -> str | None:
        """Return the name of the STATE field, if any."""
        return next((n for n, f in self.fields.items() if f.kind is FieldKind.STATE), None)

    @property
    def machine(self) -> StateMachine | None:
        """Return the state machine of the STATE field, if any."""
        name = self.status_field
        return None if name is None else self.fields[name].machine

    def allows(self, op: Op) -> bool:
        """Return whether a device may send `op` for this entity."""
        if self.append_only:
            return op is Op.APPEND
        allowed = {Op.CREATE: self.creatable, Op.UPDATE: True, Op.DELETE: bool(self.deletable_in)}
        return allowed.get(op, False)

    def normalize(self, values: Mapping[str, object]) -> dict[str, object]:
        """Validate client values and return them normalised.

        Raises:
            RejectionError: UNKNOWN_FIELD for fields not declared here, INVALID_VALUE
                for values their validator refuses (every problem is listed).
        """
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            detail = f"unknown field(s) for {self.name}: {', '.join(unknown)}"
            raise RejectionError(RejectReason.UNKNOWN_FIELD, detail)
        result: dict[str, object] = {}
        problems: list[str] = []
        for name, value in values.items():
            spec = self.fields[name]
            try:
                if value is None and not spec.nullable:
                    raise FieldValueError("may not be null")
                result[name] = None if value is None else spec.validate(value)
            except FieldValueError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise RejectionError(RejectReason.INVALID_VALUE, "; ".join(problems))
        return result


# The dispatch domain's order states (backend/dispatch/timing/states.py, `OrderStatus`), in forward
# order (sync must not import backend; tests/dispatch/test_states.py checks they match). A
# device moves an order only forward through the crew-side states; the backend applies each
# move as the matching timing point (accepted F, en_route G, on_site H, finished) through the
# dispatch service, so the order's state machine, SLA timeline and recall checks decide.
# Recall is not a status: it is a timing event plus a reassignment, after which the recalled
# crew's writes are refused.
# fmt: off
WORK_ORDER_STATUS = StateMachine(
    states=(
        "new", "at_repair_center", "center_accepted", "dispatched", "delivered",
        "accepted", "en_route", "on_site", "finished", "followed_up", "closed",
    ),
    terminal=frozenset({"closed"}),
    device_states=frozenset({"accepted", "en_route", "on_site", "finished"}),
)

INSPECTION_STATUS = StateMachine(
    states=("draft", "in_progress", "submitted", "closed"),
    terminal=frozenset({"closed"}),
    device_states=frozenset({"draft", "in_progress", "submitted"}),
)

# What a device may report; A-D happen at the call and repair centers. The dispatch domain's
# table (backend/dispatch/timing/states.py `DEVICE_POINTS`, `DEVICE_SOURCES`) is the truth;
# tests/dispatch/test_states.py checks these match it.
DEVICE_TIMING_POINTS = ("E", "F", "G", "H", "finished", "unavailable", "available")
DEVICE_EVENT_SOURCES = ("manual", "terminal", "geofence", "sync")

# A device may push `status` (forward, crew-side states) and `crew_note`; the rest is what
# the handheld shows of the order and is set by dispatch only.
WORK_ORDER = EntitySpec("work_order", creatable=False, fields={
    "status":            state(WORK_ORDER_STATUS),
    "crew_note":         scalar(text(2000)),
    "number":            readonly(text(32)),
    "order_type":        readonly(text(16)),
    "priority":          readonly(integer()),
    "fault_type":        readonly(text(64)),
    "specialty":         readonly(text(32)),
    "description":       readonly(text(20000)),
    "address":           readonly(text(400)),
    "caller_name":       readonly(text(200)),
    "caller_phone":      readonly(text(32)),
    "customer_id":       readonly(uuid_ref()),
    "premise_id":        readonly(uuid_ref()),
    "crew_id":           readonly(integer()),
    "vehicle_id":        readonly(integer()),
    "queue_position":    readonly(integer()),
})

# What the crew found and did; one per order, filled once the repair is finished (the
# backend creates and updates it through the dispatch service's `record_fault`).
FAULT_RECORD = EntitySpec("fault_record", fields={
    "order_id":          readonly(uuid_ref(), on_create=True, required=True),
    "cause":             FieldSpec(FieldKind.SCALAR, text(200, blank=False), required=True),
    "actions_taken":     scalar(text(4000)),
    "equipment":         scalar(text(200)),
    "materials":         scalar(items(text(200, blank=False), max_items=100)),
    "restored_at":       scalar(timestamp(observed=True)),
    "filled_by":         readonly(text(120)),
    "filled_at":         readonly(timestamp()),
})

INSPECTION = EntitySpec("inspection", deletable_in=frozenset({"draft"}), fields={
    "status":            state(INSPECTION_STATUS, required=True),
    "result":            scalar(text(64)),
    "checklist":         set_of(any_of(boolean(), text(64))),
    "notes":             scalar(text(4000)),
    "premise_id":        readonly(uuid_ref(), on_create=True),
    "order_id":          readonly(uuid_ref(), on_create=True),
    "task_id":           readonly(uuid_ref(), on_create=True),
})

TIMING_EVENT = EntitySpec("timing_event", append_only=True, fields={
    "order_id":          append(uuid_ref(), required=True),
    "point":             append(choice(*DEVICE_TIMING_POINTS), required=True),
    "occurred_at":       append(timestamp(), required=True),
    "source":            append(choice(*DEVICE_EVENT_SOURCES), required=True),
    "note":              append(text(500), nullable=True),
})

METER_READING = EntitySpec("meter_reading", append_only=True, fields={
    "meter_id":          append(uuid_ref(), required=True),
    "premise_id":        append(uuid_ref(), nullable=True),
    "value":             append(number(0, REGISTER_MAXIMUM), required=True),
    "reading_kind":      append(text(32, blank=False), required=True),
    "read_at":           append(timestamp(observed=True), required=True),
    "photo_sha256":      append(sha256(), nullable=True),
})

GPS_FIX = EntitySpec("gps_fix", append_only=True, fields={
    "lat":               append(number(-90, 90), required=True),
    "lon":               append(number(-180, 180), required=True),
    "acc":               append(number(0, GPS_ACCURACY_MAXIMUM_M), nullable=True),
    "ts":                append(timestamp(observed=True), required=True),
})

PHOTO = EntitySpec("photo", append_only=True, fields={
    "sha256":            append(sha256(), required=True),
    "order_id":          append(uuid_ref(), nullable=True),
    "inspection_id":     append(uuid_ref(), nullable=True),
    "customer_id":       append(uuid_ref(), nullable=True),
    "premise_id":        append(uuid_ref(), nullable=True),
    "caption":           append(text(500), nullable=True),
    "stage":             append(text(32), nullable=True),
    "taken_at":          append(timestamp(observed=True), nullable=True),
})

# The customer archive on handhelds: customers, premises and meters of the premises a crew
# works at (its open orders and inspections). Only premise corrections are pushed; each
# becomes a new version of the premise (source `sync`). Contract fields never reach devices.
CUSTOMER = EntitySpec("customer", creatable=False, fields={
    "account_number":    readonly(text(32)),
    "name":              readonly(text(200)),
    "customer_type":     readonly(text(16)),
    "voltage_level":     readonly(text(8)),
    "status":            readonly(text(8)),
    "contacts":          readonly(items(record(), max_items=20)),
    "version_no":        readonly(integer()),
})

PREMISE = EntitySpec("premise", creatable=False, fields={
    "customer_id":       readonly(uuid_ref()),
    "address":           FieldSpec(FieldKind.SCALAR, text(400, blank=False), nullable=False),
    "location":          scalar(point()),
    "access_notes":      scalar(text(1000)),
    "line_name":         readonly(text(120)),
    "status":            readonly(text(8)),
    "version_no":        readonly(integer()),
})

METER = EntitySpec("meter", creatable=False, fields={
    "number":            readonly(text(32)),
    "premise_id":        readonly(uuid_ref()),
    "customer_id":       readonly(uuid_ref()),
    "meter_type":        readonly(text(32)),
    "multiplier":        readonly(number()),
    "reading_method":    readonly(text(8)),
    "seals":             readonly(items(text(32))),
    "faults":            readonly(items(text(32))),
    "status":            readonly(text(12)),
    "last_reading":      readonly(number()),
    "last_read_at":      readonly(timestamp()),
    "version_no":        readonly(integer()),
})

# Inspection tasks reach the assigned inspector's handheld with what the site needs offline:
# the premise, the meter with its last readings and the checklist version to answer.
INSPECTION_TASK = EntitySpec("inspection_task", creatable=False, fields={
    "number":            readonly(text(32)),
    "kind":              readonly(text(16)),
    "reason":            readonly(text(32)),
    "status":            readonly(text(16)),
    "due_at":            readonly(timestamp()),
    "customer_id":       readonly(uuid_ref()),
    "customer_name":     readonly(text(200)),
    "premise_id":        readonly(uuid_ref()),
    "address":           readonly(text(400)),
    "location":          readonly(record()),
    "meter_id":          readonly(uuid_ref()),
    "meter_number":      readonly(text(32)),
    "last_readings":     readonly(items(record(), max_items=10)),
    "equipment_type":    readonly(text(32)),
    "checklist_version": readonly(integer()),
    "checklist_items":   readonly(items(record(), max_items=100)),
    "inspection_id":     readonly(uuid_ref()),
    "hazard_id":         readonly(uuid_ref()),
    "note":              readonly(text(4000)),
})

# A hazard is written once on site (every field on create); the notice and the follow-up
# are the office's (server-owned).
HAZARD = EntitySpec("hazard", fields={
    "inspection_id":     readonly(uuid_ref(), on_create=True),
    "task_id":           readonly(uuid_ref(), on_create=True),
    "premise_id":        readonly(uuid_ref(), on_create=True),
    "severity":          readonly(choice("low", "medium", "high", "critical"), on_create=True, required=True),  # noqa: E501
    "category":          readonly(text(32, blank=False), on_create=True, required=True),
    "description":       readonly(text(4000, blank=False), on_create=True, required=True),
    "photo_sha256":      readonly(sha256(), on_create=True),
    "lat":               readonly(number(-90, 90), on_create=True),
    "lon":               readonly(number(-180, 180), on_create=True),
    "reading":           readonly(number(0, REGISTER_MAXIMUM), on_create=True),
    "number":            readonly(text(32)),
    "status":            readonly(text(16)),
    "notice_number":     readonly(text(32)),
    "rectify_by":        readonly(timestamp()),
    "follow_up_task_id": readonly(uuid_ref()),
})

METER_EVENT = EntitySpec("meter_event", append_only=True, fields={
    "meter_id":          append(uuid_ref(), required=True),
    "kind":              append(choice("seal_applied", "seal_removed", "fault_found", "fault_cleared"), required=True),  # noqa: E501
    "seal_number":       append(text(32, blank=False), nullable=True),
    "fault":             append(choice("stuck", "slow", "stopped", "damaged_wiring", "broken_seal"), nullable=True),  # noqa: E501
    "photo_sha256":      append(sha256(), nullable=True),
    "inspection_id":     append(uuid_ref(), nullable=True),
    "note":              append(text(1000), nullable=True),
})

# Cases reach the handhelds of those who may read them, read-only; steps completed offline
# are appended as `case_step` records and applied through the case service, in order.
INSPECTION_CASE = EntitySpec("inspection_case", creatable=False, fields={
    "number":            readonly(text(32)),
    "kind":              readonly(text(16)),
    "customer_id":       readonly(uuid_ref()),
    "premise_id":        readonly(uuid_ref()),
    "inspection_id":     readonly(uuid_ref()),
    "summary":           readonly(text(4000)),
    "stage":             readonly(text(16)),
    "awaiting_approval": readonly(boolean()),
    "stage_due_at":      readonly(timestamp()),
    "outcome":           readonly(text(16)),
    "pending_items":     readonly(items(record(), max_items=50)),
})

CASE_STEP = EntitySpec("case_step", append_only=True, fields={
    "case_id":           append(uuid_ref(), required=True),
    "step":              append(text(16, blank=False), required=True),
    "checklist":         append(mapping(any_of(boolean(), text(40)), max_keys=50), nullable=True),
    "notes":             append(text(4000), nullable=True),
    "outcome":           append(choice("confirmed", "dismissed"), nullable=True),
    "back_billing_amount": append(number(0, 99_999_999_999), nullable=True),
    "recovered_amount":  append(number(0, 99_999_999_999), nullable=True),
    "actions":           append(items(choice("cut_supply", "seal", "remove_meter"), max_items=3), nullable=True),  # noqa: E501
})

VERIFICATION_STATUS = StateMachine(
    states=("pending", "rejected", "checked", "validated", "confirmed"),
    terminal=frozenset({"confirmed"}),
    device_states=frozenset({"checked"}),
)

# One customer file to verify on site: the assignee pushes corrections (a set: two answers
# to one field conflict, different fields merge) and moves it to `checked`.
VERIFICATION_ITEM = EntitySpec("verification_item", creatable=False, fields={
    "status":            state(VERIFICATION_STATUS),
    "corrections":       set_of(any_of(text(400))),
    "notes":             scalar(text(4000)),
    "batch_id":          readonly(uuid_ref()),
    "customer_id":       readonly(uuid_ref()),
    "premise_id":        readonly(uuid_ref()),
    "flags_before":      readonly(items(text(32))),
    "review_note":       readonly(text(1000)),
})

NOTE = EntitySpec("note", append_only=True, fields={
    "order_id":          append(uuid_ref(), required=True),
    "text":              append(text(4000, blank=False), required=True),
})

# [Customer risk]'s collection ladder: an on-site collection visit (上门促缴) is a field task.
# The server creates it for a crew; the crew reports it done with an outcome, which the
# backend records as the ladder's visit step. The handheld sees what is owed, not the credit.
VISIT_STATUS = StateMachine(
    states=("open", "done"),
    terminal=frozenset({"done"}),
    device_states=frozenset({"done"}),
)
VISIT_OUTCOMES = ("paid", "promised", "refused", "not_home")

COLLECTION_VISIT = EntitySpec("collection_visit", creatable=False, fields={
    "status":            state(VISIT_STATUS),
    "outcome":           scalar(choice(*VISIT_OUTCOMES)),
    "notes":             scalar(text(2000)),
    "case_id":           readonly(uuid_ref()),
    "customer_id":       readonly(uuid_ref()),
    "premise_id":        readonly(uuid_ref()),
    "customer_name":     readonly(text(200)),
    "address":           readonly(text(400)),
    "amount_due":        readonly(number(minimum=0)),
    "due_on":            readonly(text(10)),
    "crew_id":           readonly(integer()),
})
# [Network]: what a crew offline needs to see which line and area a fault is on. The server
# sends them (lines and areas near the crew's work, active outages on those lines); no one
# pushes them (the policy's SYNC_ACTIONS names no action for them: deny by default).
FEEDER_LINE = EntitySpec("feeder_line", creatable=False, fields={
    "code":              readonly(text(32)),
    "name":              readonly(text(120)),
    "voltage":           readonly(text(16)),
    "region_code":       readonly(text(32)),
    "route":             readonly(record()),
    "switch_points":     readonly(items(record())),
})

TRANSFORMER_AREA = EntitySpec("transformer_area", creatable=False, fields={
    "code":              readonly(text(32)),
    "name":              readonly(text(120)),
    "line_id":           readonly(uuid_ref()),
    "section":           readonly(text(32)),
    "capacity_kva":      readonly(number(minimum=0)),
    "ownership":         readonly(text(12)),
    "region_code":       readonly(text(32)),
    "location":          readonly(record()),
    "boundary":          readonly(record()),
})

OUTAGE = EntitySpec("outage", creatable=False, fields={
    "number":            readonly(text(32)),
    "kind":              readonly(text(12)),
    "scope":             readonly(text(8)),
    "line_id":           readonly(uuid_ref()),
    "section":           readonly(text(32)),
    "area_id":           readonly(uuid_ref()),
    "area_ids":          readonly(items(uuid_ref(), max_items=2000)),
    "status":            readonly(text(20)),
    "reason":            readonly(text(400)),
    "starts_at":         readonly(timestamp()),
    "planned_end_at":    readonly(timestamp()),
})
# fmt: on

ENTITIES: Mapping[str, EntitySpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            WORK_ORDER,
            FAULT_RECORD,
            INSPECTION,
            TIMING_EVENT,
            METER_READING,
            GPS_FIX,
            PHOTO,
            NOTE,
            CUSTOMER,
            PREMISE,
            METER,
            COLLECTION_VISIT,
            INSPECTION_TASK,
            HAZARD,
            METER_EVENT,
            INSPECTION_CASE,
            CASE_STEP,
            VERIFICATION_ITEM,
            FEEDER_LINE,
            TRANSFORMER_AREA,
            OUTAGE,
        )
    }
)
