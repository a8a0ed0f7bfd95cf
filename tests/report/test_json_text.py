"""The report's JSON writer (analyzer/report/json_text.py) writes the layout of
`json.dumps(value, indent=2, ensure_ascii=False)` on any mix of values the report can
hold (control characters and NUL in strings, lone surrogates, integers past 64 bits,
non-text keys, empty and nested containers, tuples, int subclasses), in UTF-8, and every
number reads back as the same number; what `json` cannot write is a TypeError here too.
UTF-8 cannot hold a lone surrogate: it is written as JSON's escape for it, which reads
back as the same string."""

from __future__ import annotations

import enum
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.report import json_text


class Code(enum.IntEnum):
    NORMAL = 1000


texts = st.text(
    st.characters(codec="utf-8") | st.sampled_from(["\x00", "\x1f", "\u2028", '"', "\ud800"])
)
exact = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | texts | st.just(Code.NORMAL)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e-05, 1e16, -0.0, 5e-324, 5.3e-05]
)
keys = st.text(max_size=8) | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none()


def tree(leaves: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(keys, inner, max_size=5)
        ),
        max_leaves=40,
    )


@settings(max_examples=500, deadline=None)
@given(tree(exact))
def test_without_floats_the_text_is_json_dumps_text(value: object) -> None:
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    assert json_text.dumps(value) == text.encode("utf-8", "backslashreplace")
    assert json.loads(json_text.dumps(value)) == json.loads(text)


@settings(max_examples=500, deadline=None)
@given(tree(exact | floats))
def test_every_value_reads_back_as_json_dumps_wrote_it(value: object) -> None:
    text = json_text.dumps(value).decode()
    assert json.loads(text) == json.loads(json.dumps(value, ensure_ascii=False))
    assert [len(line) - len(line.lstrip(" ")) for line in text.splitlines()] == [
        len(line) - len(line.lstrip(" "))
        for line in json.dumps(value, indent=2, ensure_ascii=False).splitlines()
    ]


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_a_number_json_has_no_word_for_is_null(number: float) -> None:
    """`json` writes NaN and Infinity, which no JSON parser but Python's reads."""
    assert json.loads(json_text.dumps({"x": [number]})) == {"x": [None]}


@pytest.mark.parametrize("value", [{"a": object()}, [1, {2}], {(1, 2): 3}, b"bytes"])
def test_what_json_cannot_write_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        json.dumps(value, indent=2, ensure_ascii=False)
    with pytest.raises(TypeError):
        json_text.dumps(value)
