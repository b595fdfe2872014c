"""Marshmallow schemas of the sync and blob endpoints: what OpenAPI tells clients.

The push body is validated by `sync.protocol.parse_push` (a per-mutation problem must become
that mutation's `rejected`, which a schema cannot express); `PushRequestSchema` documents the
same shape. Replies are dumped through these schemas, so the documentation is what is sent.
"""

from typing import Any

from marshmallow import Schema, fields, validate

from sync.fields import Float, Integer
from sync.merge import Resolution
from sync.protocol import MAX_BATCH, MAX_NAME_LENGTH, Op, RejectReason, VerdictKind, format_time
from sync.store.feed import MAX_PULL_LIMIT


class UtcTime(fields.DateTime):
    """An aware datetime sent as RFC 3339 in UTC with `Z` (what the rest of sync sends)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else format_time(value)


# ------------------------------------------------------------------ push
class MutationSchema(Schema):
    """One client change to one record."""

    mutation_id = fields.UUID(
        required=True,
        metadata={"description": "Unique per principal (device or user); replays reuse it."},
    )
    entity = fields.String(
        required=True,
        validate=validate.Length(1, MAX_NAME_LENGTH),
        metadata={
            "description": "`work_order`, `fault_record`, `inspection`, `timing_event`, "
            "`meter_reading`, `gps_fix`, `photo`; others are `rejected`."
        },  # fmt: skip
    )
    id = fields.UUID(required=True, metadata={"description": "The record's id (clients create)."})
    op = fields.String(required=True, validate=validate.OneOf([o.value for o in Op]))
    base_version = Integer(
        required=True,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={"description": "The version the client last saw; null on create and append."},
    )
    fields_ = fields.Dict(
        attribute="fields",
        data_key="fields",
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        required=True,
        metadata={"description": "Field values (empty on delete); a set field is a patch."},
    )
    occurred_at = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={
            "description": "RFC 3339 with offset; device times ahead of the server are "
            "clamped and flagged `clock_corrected`."
        },  # fmt: skip
    )


class PushRequestSchema(Schema):
    """A batch of mutations; it applies atomically."""

    device_id = fields.String(required=True, validate=validate.Length(1, MAX_NAME_LENGTH))
    batch_id = fields.UUID(required=True)
    sent_at = fields.DateTime(
        required=True, metadata={"description": "The device clock when sending (skew estimate)."}
    )
    mutations = fields.List(
        fields.Nested(MutationSchema), required=True, validate=validate.Length(max=MAX_BATCH)
    )


class RejectionSchema(Schema):
    """Why a mutation was rejected (RFC 9457 members)."""

    type = fields.String(required=True, validate=validate.OneOf([r.value for r in RejectReason]))
    title = fields.String(required=True)
    detail = fields.String(required=True)


class FieldConflictSchema(Schema):
    """A field (or set key) changed on both sides to different values; the server's stands."""

    field = fields.String(required=True)
    key = fields.String(required=True, allow_none=True)
    server = fields.Raw(required=True, allow_none=True)
    client = fields.Raw(required=True, allow_none=True)


_KINDS = [k.value for k in VerdictKind]


class VerdictSchema(Schema):
    """The answer to one mutation, in the order sent.

    `applied` / `merged` / `conflict` carry `version` and `applied_fields` (`conflict` also
    `conflicts`); `rejected` carries `problem`; `duplicate` repeats the first answer with
    its kind in `original`.
    """

    mutation_id = fields.UUID(required=True)
    verdict = fields.String(required=True, validate=validate.OneOf(_KINDS))
    entity = fields.String(required=True)
    id = fields.UUID(required=True)
    version = Integer(required=True, allow_none=True)
    conflicts = fields.List(fields.Nested(FieldConflictSchema), required=True)
    problem = fields.Nested(RejectionSchema, required=True, allow_none=True)
    applied_fields = fields.List(fields.String(), required=True)
    original = fields.String(required=True, allow_none=True, validate=validate.OneOf(_KINDS))


class ClockSchema(Schema):
    """The batch's clock estimate: server receive time minus `sent_at`."""

    skew_seconds = Float(required=True)
    corrected = fields.Boolean(required=True)


class PushReplySchema(Schema):
    """One verdict per mutation, and the clock estimate the batch was applied with."""

    verdicts = fields.List(fields.Nested(VerdictSchema), required=True)
    clock = fields.Nested(ClockSchema, required=True)


# ------------------------------------------------------------------ pull
class PullQuerySchema(Schema):
    """Where to continue the change feed."""

    cursor = fields.String(
        validate=validate.Length(max=64),
        metadata={"description": "The `cursor` of the previous page; omit to start."},
    )
    limit = Integer(
        load_default=200,
        validate=validate.Range(min=0),
        metadata={"description": f"Changes per page (1 to {MAX_PULL_LIMIT}; clamped)."},
    )


class ChangeSchema(Schema):
    """One record that changed: `upsert` (with `fields`), `delete`, or `leave` (left scope)."""

    op = fields.String(required=True, validate=validate.OneOf(["upsert", "delete", "leave"]))
    entity = fields.String(required=True)
    id = fields.String(required=True)
    version = Integer(required=True, allow_none=True)
    change = Integer(required=True, metadata={"description": "Feed position."})
    fields_ = fields.Dict(
        attribute="fields",
        data_key="fields",
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        metadata={"description": "On `upsert`: the record's fields."},
    )
    blobs = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(["stored", "pending"])),
        metadata={"description": "On `upsert` of records referencing blobs: sha256 -> state."},
    )


class PullPageSchema(Schema):
    """Changes in your scope after the cursor; page until `has_more` is false."""

    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    cursor = fields.String(required=True)
    has_more = fields.Boolean(required=True)


# ------------------------------------------------------------------ conflicts
class ConflictQuerySchema(Schema):
    """Filter the conflict queue."""

    status = fields.String(validate=validate.OneOf(["open", "resolved"]))
    record_id = fields.UUID(metadata={"description": "Only the conflicts of this record."})


class ConflictSchema(Schema):
    """A queued conflict with both values."""

    id = Integer(required=True)
    entity = fields.String(required=True)
    record_id = fields.String(required=True)
    field = fields.String(required=True)
    key = fields.String(required=True, allow_none=True)
    server = fields.Raw(attribute="server_value", required=True, allow_none=True)
    client = fields.Raw(attribute="client_value", required=True, allow_none=True)
    mutation_id = fields.String(required=True)
    device = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["open", "resolved"]))
    created_at = UtcTime(required=True)
    resolution = fields.String(required=True, allow_none=True)
    resolved_value = fields.Raw(required=True, allow_none=True)
    resolved_by = fields.String(required=True, allow_none=True)
    resolved_at = UtcTime(required=True, allow_none=True)


class ResolveSchema(Schema):
    """How to settle a conflict."""

    resolution = fields.String(
        required=True, validate=validate.OneOf([r.value for r in Resolution])
    )
    value = fields.Raw(
        allow_none=True, metadata={"description": "The edited value (with `edit` only)."}
    )


# ------------------------------------------------------------------ blobs
class BlobSchema(Schema):
    """A blob's upload state and what was read from it."""

    sha256 = fields.String(required=True)
    media_type = fields.String(required=True)
    size = Integer(required=True)
    offset = Integer(
        required=True, metadata={"description": "Bytes of your upload stored (resume here)."}
    )
    complete = fields.Boolean(required=True)
    taken_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    lat = Float(required=True, allow_none=True)
    lon = Float(required=True, allow_none=True)
    thumbnail = fields.Boolean(required=True)


class BlobUploadQuerySchema(Schema):
    """Chunk position without a Content-Range header, and the media type."""

    offset = Integer(validate=validate.Range(min=0))
    total = Integer(validate=validate.Range(min=0))
    type = fields.String(
        validate=validate.Length(max=100),
        metadata={"description": "Media type (default: the Content-Type)."},
    )
