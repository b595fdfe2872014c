"""The app's JSON provider decodes with orjson where that gives the json module's value."""

import json

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from backend.inputs import _UNREAD, MAX_JSON_DEPTH, JSONProvider, TooDeep, _fast_loads

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too: orjson would read those as floats
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


provider = JSONProvider(Flask(__name__))


@given(value=JSON_VALUES)
def test_the_provider_reads_what_the_json_module_reads(value):
    text = json.dumps(value)
    decoded = provider.loads(text.encode())
    assert decoded == json.loads(text)
    assert json.dumps(decoded) == text  # same types too: an int stays an int


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 18446744073709551616}',  # orjson: 1.8446744073709552e19
        b"[-9223372036854775809]",
        b'"\\ud800"',  # a lone surrogate: orjson refuses it, the check per field names it
        b"NaN",
        b"\xef\xbb\xbf{}",  # a BOM
    ],
)
def test_what_orjson_would_read_otherwise_goes_to_the_json_module(text):
    assert _fast_loads(text) is _UNREAD
    assert json.dumps(provider.loads(text)) == json.dumps(json.loads(text))


def test_the_depth_limit_holds_on_the_orjson_path():
    text = ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode()
    assert _fast_loads(text) is not _UNREAD
    with pytest.raises(TooDeep):
        provider.loads(text)
    assert provider.loads(text[1:-1]) == json.loads(text[1:-1])
