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
from sync.store import BlobUpload
from sync.store.feed import scope_clause


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
