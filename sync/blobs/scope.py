"""Who may read a blob: whoever may read a record that references it, or who uploaded it.

The records referencing blobs are an extensible registry: every synced entity's `blob_fields`
(scoped like a pull), plus the `BlobReference`s other domains add with
`Registry.add_blob_reference` (archive documents, ...). Garbage collection keeps every blob
one of them references, and a blob completing re-versions the synced records referencing it.
"""

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.changes import touch
from sync.registry import BlobReference, EntityAdapter, Registry, SyncActor
from sync.store.feed import scope_clause
from sync.store.records import visible_ids
from sync.store.tables import BlobRecord, BlobUpload


def _synced_reader(adapter: EntityAdapter, field: str) -> Any:
    model = adapter.model
    dept_col, crew_col = adapter.scope_columns
    column = getattr(model, field)

    def readable(session: Session, actor: SyncActor, sha256: str) -> bool:
        if adapter.scope is not None:  # the application's read policy
            query = select(model.id).where(
                column == sha256, model.deleted.is_(False), adapter.scope(actor)
            )
            return session.scalar(query.limit(1)) is not None
        if adapter.visible is not None:  # the application's rule over loaded records, as a pull
            live = select(model).where(column == sha256, model.deleted.is_(False))
            return bool(visible_ids(session, adapter, actor, list(session.scalars(live))))
        department = getattr(model, dept_col)
        crew = getattr(model, crew_col) if crew_col else None
        scope = (
            scope_clause(actor, department, crew)
            if crew is not None
            else (department.in_(sorted(actor.department_ids)))
        )
        query = select(model.id).where(column == sha256, model.deleted.is_(False), scope)
        return session.scalar(query.limit(1)) is not None

    return readable


def references(registry: Registry) -> Iterator[BlobReference]:
    """Yield every table column that references blobs, with who may read its rows."""
    for adapter in registry.adapters.values():
        for field in adapter.blob_fields:
            yield BlobReference(
                f"{adapter.spec.name}.{field}",
                getattr(adapter.model, field),
                _synced_reader(adapter, field),
            )
    yield from registry.blob_references.values()


def uploaded(session: Session, actor: SyncActor, sha256: str) -> bool:
    """Return whether the caller completed an upload of these bytes (so it holds them)."""
    upload = session.get(BlobUpload, (sha256, actor.name))
    return upload is not None and upload.complete


def may_read(session: Session, actor: SyncActor, registry: Registry, sha256: str) -> bool:
    """Return whether the caller may read a blob's metadata and bytes."""
    if uploaded(session, actor, sha256):
        return True
    return any(ref.readable(session, actor, sha256) for ref in references(registry))


def note_read(session: Session, actor: SyncActor, registry: Registry, sha256: str) -> bool:
    """The caller is served a blob's bytes: let every reference that logs its reads log it.

    Returns whether one did (each view must then reach the server again).
    """
    logged = False
    for reference in registry.blob_references.values():
        if reference.on_read is not None:
            logged = bool(reference.on_read(session, actor, sha256)) or logged
    return logged


def may_reference(session: Session, actor: SyncActor, registry: Registry, sha256: str) -> bool:
    """Return whether a record the caller pushes may name this blob.

    Naming a blob makes it readable (to the pusher and to whoever reads the record), so a
    record may name only a blob the caller uploads or uploaded itself, one it may read
    already, or one the server has never heard of (taken offline, its upload comes later).
    A hash copied from someone else's record or upload is refused.
    """
    if session.get(BlobUpload, (sha256, actor.name)) is not None:
        return True  # its own upload, pending or complete
    known = session.get(BlobRecord, sha256) is not None or (
        session.scalar(select(BlobUpload.sha256).where(BlobUpload.sha256 == sha256).limit(1))
        is not None
    )
    return not known or may_read(session, actor, registry, sha256)


def referenced(session: Session, registry: Registry) -> set[str]:
    """Return every blob hash some row (deleted records included) still references."""
    hashes: set[str] = set()
    for reference in references(registry):
        column = reference.column
        hashes.update(h for h in session.scalars(select(column).where(column.is_not(None))))
    return hashes


def announce(session: Session, registry: Registry, sha256: str) -> int:
    """Move the version of every synced record referencing a blob that just arrived.

    Devices then learn in their next incremental pull that the blob is `stored`. Returns how
    many records moved.
    """
    moved = 0
    for adapter in registry.adapters.values():
        for field in adapter.blob_fields:
            column = getattr(adapter.model, field)
            for record in session.scalars(select(adapter.model).where(column == sha256)):
                if not record.deleted:
                    touch(session, record)
                    moved += 1
    return moved
