"""The report's JSON writer gives exactly the text of `json.dumps(value, indent=2,
ensure_ascii=False)` (analyzer/report/json_text.py), on any mix of values the report can
hold: control characters and NUL in strings, non-finite and tiny floats, non-text keys,
empty and nested containers, tuples and int subclasses."""

from __future__ import annotations

import enum
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.report import json_text


class Code(enum.IntEnum):
    NORMAL = 1000


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e-05, 1e16, -0.0, 5e-324])
    | st.text(st.characters(codec="utf-8") | st.sampled_from(["\x00", "\x1f", "\u2028", '"']))
    | st.just(Code.NORMAL)
)
keys = st.text(max_size=8) | st.integers() | st.floats() | st.booleans() | st.none()
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=500, deadline=None)
@given(values)
def test_the_text_json_dumps_writes(value: object) -> None:
    assert json_text.dumps(value) == json.dumps(value, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("value", [{"a": object()}, [1, {2}], {(1, 2): 3}, b"bytes"])
def test_what_json_cannot_write_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        json.dumps(value, indent=2, ensure_ascii=False)
    with pytest.raises(TypeError):
        json_text.dumps(value)
