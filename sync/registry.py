"""Where the backend plugs its synced models and request context into the sync service.

`sync` never imports `backend`: at app creation the backend registers one `EntityAdapter`
per synced entity (its model class, scope columns, extra authorization) and the callables
that give the HTTP layer this request's session and caller (`SyncHooks`).
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sync.entities import ENTITIES, EntitySpec


@dataclass(frozen=True)
class SyncActor:
    """Who pushes or pulls, reduced to what scope checks need.

    Attributes:
        name: Audit name such as `device:3:H-1001`; also the writer of fields it changes.
        kind: `device` or `user`.
        department_id: The caller's own department (stamped on records it creates).
        crew_id: The crew a device belongs to (stamped on records it creates).
        crew_ids: Crews whose records the caller works on.
        department_ids: Departments whose crew-less (reference) records the caller sees;
            a user sees every record of these departments.
        can_resolve: May resolve queued conflicts (dispatchers, supervisors, admins).
        can_upload: May upload blobs (field roles and devices; never the auditor).
        crew_scoped: Sees crew records of its own crews only, like a device (crew members).
        unreadable: Entities whose records the caller's role may not read at all (their
            read action is not its), whatever their scope: e.g. their queued conflicts.
        origin: The application's own caller object, handed back to its services by the
            adapters; sync never looks inside it.
    """

    name: str
    kind: str
    department_id: int
    crew_id: int | None = None
    crew_ids: frozenset[int] = frozenset()
    department_ids: frozenset[int] = frozenset()
    can_resolve: bool = False
    can_upload: bool = False
    crew_scoped: bool = False
    unreadable: frozenset[str] = frozenset()
    origin: object = None

    def sees(self, department_id: int | None, crew_id: int | None) -> bool:
        """Return whether a record with this scope is inside the caller's scope."""
        if self.kind == "device" or self.crew_scoped:
            if crew_id is not None:
                return crew_id in self.crew_ids
            return department_id in self.department_ids
        return department_id in self.department_ids


# (session, actor, record or None, normalised client values) -> a refusal reason or None
# (out of scope); raises `sync.entities.RejectionError` for another reason (invalid value).
Authorizer = Callable[[Any, SyncActor, Any, Mapping[str, object]], str | None]


def _allow(session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]) -> None:
    return None


# (actor, op value) -> a refusal reason or None: may this caller push this op of the entity
# at all (the application's role policy)? Checked before anything is loaded or merged.
Permit = Callable[[SyncActor, str], str | None]


def _permit_all(actor: SyncActor, op: str) -> None:
    return None


# (session, actor, record id, normalised values, clock correction to add to device times)
# -> the new record; raises `sync.entities.RejectionError` to refuse. For records a domain
# service must create.
Creator = Callable[[Any, SyncActor, UUID, Mapping[str, object], timedelta], Any]
# (session, actor, record, merged values to write, mutation id, the mutation's occurred_at on
# the server clock) -> None; writes the values through a domain service instead of plain
# column writes, raising `sync.entities.RejectionError` to refuse (what it wrote is undone).
Updater = Callable[[Any, SyncActor, Any, Mapping[str, object], UUID, datetime], None]
# (session, actor, record) -> None; runs after a pushed record was written (created or
# updated), e.g. to keep other records in step. Raises `sync.entities.RejectionError` to
# refuse, and then before it writes anything: it runs without a savepoint of its own, so a
# batch's records are flushed together rather than one by one.
AfterWrite = Callable[[Any, SyncActor, Any], None]
# (session, actor, the normalised field values of every mutation of this entity in the batch)
# -> None; loads what `authorize` and `after_write` will look up for the whole batch at once
# (`sync.store.prefetch.prefetch_rows`), so a batch of N mutations costs one query per table.
Prefetcher = Callable[[Any, SyncActor, Sequence[Mapping[str, object]]], None]
# record -> wire fields, for models whose columns are not named like the spec's fields.
Reader = Callable[[Any], dict[str, object]]
# actor -> a WHERE clause on the entity's model keeping the records the caller may read (the
# application's read policy: its role's read action and its scope). Decides visibility on
# pulls, on pushes to stored records and for the blobs the records reference.
ReadScope = Callable[[SyncActor], Any]
# (session, actor, records) -> ids of those records the caller may see, for entities whose
# visibility is not their own (department, crew) columns (e.g. the premises a crew works at).
Visibility = Callable[[Any, SyncActor, Sequence[Any]], set[UUID]]


@dataclass(frozen=True)
class EntityAdapter:
    """How one entity's records are stored.

    Attributes:
        spec: The merge policy (from `sync.entities`).
        model: The ORM class (uses the `sync.changes.Synced` mixin and a UUID `id`);
            every field of `spec` is a column of the same name.
        permit: Whether the caller's role may push an op of this entity at all.
        authorize: Extra apply-time check beyond scope (e.g. a referenced order in scope).
        blob_fields: Fields holding blob SHA-256 references (GC keeps those blobs).
        time_field: Column receiving the skew-corrected `occurred_at`, if any.
        create: Creates new records through a domain service instead of the model.
        update: Applies merged writes to a stored record through a domain service.
        read: Reads a record's wire fields (default: the columns named like the fields).
        pushable: False for records devices only pull (they change through other APIs).
        after_write: Runs after a pushed record was written (not for deletions).
        visible: Decides visibility instead of the scope columns (which then only route
            the change feed's rows); the backend adds feed rows for every scope it names.
        prefetch: Loads the rows the hooks above look up, for a whole batch at once.
        bulk_append: New records are inserted with one statement per batch instead of as ORM
            objects (`sync.changes.insert_new_records`). Only for append-only entities the
            store creates itself whose model no other flush hook must see (audit, ...);
            `after_write` then gets a plain object with the record's columns as attributes.
        scope: Decides visibility as a WHERE clause (pulls, pushes, blob reads); the scope
            columns then only route the change feed's rows.
    """

    spec: EntitySpec
    model: type[Any]
    permit: Permit = _permit_all
    authorize: Authorizer = _allow
    blob_fields: tuple[str, ...] = ()
    time_field: str | None = "occurred_at"
    create: Creator | None = None
    update: Updater | None = None
    read: Reader | None = None
    pushable: bool = True
    after_write: AfterWrite | None = None
    visible: Visibility | None = None
    scope: ReadScope | None = None
    prefetch: Prefetcher | None = None
    bulk_append: bool = False

    def __post_init__(self) -> None:
        if self.bulk_append and not (self.spec.append_only and self.create is None):
            raise ValueError(f"{self.spec.name}: bulk_append needs an append-only entity")

    @property
    def scope_columns(self) -> tuple[str, str | None]:
        """Return the (department, crew) column names of the model."""
        scope: tuple[str, str | None] = self.model.__sync_scope__
        return scope


# (session, actor, sha256) -> whether the caller may read some row of one table that
# references the blob.
BlobReader = Callable[[Any, SyncActor, str], bool]
BlobReadNote = Callable[[Any, SyncActor, str], bool]  # True: a read was logged


@dataclass(frozen=True)
class BlobReference:
    """One table whose rows reference blobs by SHA-256 (beyond the synced entities' blob fields).

    A caller may read a blob's metadata and bytes only when it may read a row that references
    it (or uploaded the bytes itself); garbage collection keeps every blob some row references.

    Attributes:
        name: What the rows are, for messages (`customer_document`).
        column: The ORM attribute holding the SHA-256 (`CustomerDocument.sha256`).
        readable: Whether the caller may read one of the rows referencing a blob.
        on_read: Called when the caller is served the bytes (or thumbnail) through `/blobs`,
            after access was granted: the rows' own reads are logged there, as their own
            download route logs them (the archive's read log of document bytes).
    """

    name: str
    column: Any
    readable: BlobReader
    on_read: BlobReadNote | None = None


@dataclass(frozen=True)
class SyncHooks:
    """Request context the HTTP layer needs from the backend.

    Attributes:
        session: Returns this request's session (the request commits it once).
        actor: Authenticates the caller (devices included) and returns it.
    """

    session: Callable[[], Any]
    actor: Callable[[], SyncActor]


@dataclass
class Registry:
    """Adapters by entity name, plus the request hooks."""

    adapters: dict[str, EntityAdapter] = field(default_factory=dict)
    hooks: SyncHooks | None = None
    # Tables other than the synced entities that reference blobs (archive documents, ...);
    # the synced entities' `blob_fields` are references already, scoped like a pull.
    blob_references: dict[str, BlobReference] = field(default_factory=dict)

    def register(self, adapter: EntityAdapter) -> None:
        """Register (or replace) the adapter of one entity."""
        if ENTITIES.get(adapter.spec.name) is not adapter.spec and adapter.spec.name in ENTITIES:
            raise ValueError(f"{adapter.spec.name}: use the spec declared in sync.entities")
        self.adapters[adapter.spec.name] = adapter

    def add_blob_reference(self, reference: BlobReference) -> None:
        """Register (or replace) a table whose rows reference blobs."""
        self.blob_references[reference.name] = reference

    def get(self, entity: str) -> EntityAdapter | None:
        """Return the adapter of an entity, or None when it is not synced here."""
        return self.adapters.get(entity)

    def by_model_entity(self) -> Mapping[str, EntityAdapter]:
        """Return the adapters keyed by the model's `__sync_entity__` (the change-feed name)."""
        return {a.model.__sync_entity__: a for a in self.adapters.values()}


registry = Registry()
"""The process-wide registry the backend fills in `create_app`."""
