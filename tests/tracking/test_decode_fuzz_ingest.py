"""Whatever arrives on a topic, the ingest's receive step hands over a value or a DecodeError."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from backend.tracking.ingest.decode import DecodeError
from backend.tracking.ingest.pipeline import decode_message as _decode

TOPICS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["position", "event", "status", "ack", "orders", "x"]).map(
        lambda leaf: f"fieldline/v1/vehicles/T-1/{leaf}"
    ),
    st.just("owntracks/T-1/phone"),
)
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
)


@settings(max_examples=300, deadline=None)
@given(topic=TOPICS, payload=PAYLOADS)
def test_receive_step_never_raises(topic: str, payload: bytes) -> None:
    inbound = _decode(topic, payload, "fieldline/v1")
    assert inbound.key
    if isinstance(inbound.value, DecodeError):
        assert inbound.value.reason
