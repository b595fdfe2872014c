"""The archive's synced entities: photos, and the customer file crews pull where they work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.archive import handheld
from backend.archive.models import Customer, Meter, Photo, Premise
from backend.auth.sync_access import field_records, permit, references_in_scope
from sync.entities import CUSTOMER, METER, PHOTO, PREMISE, EntitySpec
from sync.registry import EntityAdapter, Reader, SyncActor, Updater


def work_and_file_refs_in_scope(
    session: Any, actor: SyncActor, record: Any, values: Mapping[str, object]
) -> str | None:
    """Orders and inspections in scope, and customers and premises where the caller works."""
    return references_in_scope(session, actor, record, values) or (
        handheld.authorize_archive_refs(session, actor, record, values)
    )


def _file_adapter(
    spec: EntitySpec, model: type, read: Reader, update: Updater | None = None
) -> EntityAdapter:
    """A customer-file entity: visible where the caller's crews work; pushable with `update`."""
    return EntityAdapter(
        spec,
        model,
        permit=permit(spec),
        read=read,
        update=update,
        visible=handheld.visible,
        pushable=update is not None,
        time_field=None,
    )


ADAPTERS = (
    EntityAdapter(
        PHOTO,
        Photo,
        permit=permit(PHOTO),
        authorize=work_and_file_refs_in_scope,
        blob_fields=("sha256",),
        scope=field_records("photo", Photo),
    ),
    # Customers and meters change through the archive's API; premises take field corrections.
    _file_adapter(CUSTOMER, Customer, handheld.customer_fields),
    _file_adapter(PREMISE, Premise, handheld.premise_fields, handheld.update_premise),
    _file_adapter(METER, Meter, handheld.meter_fields),
)
