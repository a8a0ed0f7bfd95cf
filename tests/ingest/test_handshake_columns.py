"""The handshake table is built column by column (analyzer/ingest/handshakes.py); each
header value must still read exactly as `redact.header_value` and the one-header
`_headers` split give it, whichever of the two regex engines (polars for printable
ASCII, Python's re otherwise) redacted it.
"""

from __future__ import annotations

import sys

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import redact
from analyzer.ingest import handshakes, header_table

from conftest import SAMPLES, loaded

NAMES = [
    "Authorization",
    "Proxy-Authorization",
    "X-Goog-Api-Key",
    "Cookie",
    "Set-Cookie",
    "Sec-WebSocket-Protocol",
    "sec-websocket-key",
    "User-Agent",
    "Host",
    "X-\x1cToken",
    "KEY",
]
# Pieces that make the text pattern's alternatives match, nearly match, or meet the
# characters where Python's re and polars' regex could read a value differently.
PIECES = [
    "Bearer ",
    "Token ",
    "basic ",
    "token=",
    "api_key: ",
    '"secret": "',
    '\\"password\\": \\"',
    "eyJhbGciOi",
    ".",
    "0123456789abcdef0123456789abcdef0123",
    "abcd",
    "dg_",
    " ",
    "\t",
    "\x1c",
    "\x85",
    "é",
    "…",
    "K",
    ",",
    "&",
    "=",
    ":",
    '"',
    "'",
    "-",
    "_",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.lists(st.sampled_from(PIECES), max_size=12)),
        min_size=1,
        max_size=8,
    )
)
def test_header_values_are_redacted_as_header_value_does(headers: list) -> None:
    pairs = [(name, "".join(pieces)) for name, pieces in headers]
    table = pl.DataFrame(pairs, schema={"name": pl.String, "value": pl.String}, orient="row")
    got = header_table.redacted_values(table).to_list()
    assert got == [redact.header_value(n, v) for n, v in pairs]


def test_header_lines_split_as_one_header_at_a_time() -> None:
    lines = [
        "Upgrade: websocket\\r\\n",
        "X-Odd:\x1c spaced \x1f\\n",
        "no colon here\\r\\n",
        " Host : a:b:c \\r\\n",
        "Empty:",
        "\u3000Wide\u3000:\u2028v\u2028",
    ]
    rows = pl.DataFrame(
        {"row": [0, 1], "lines": [lines, None]},
        schema={"row": pl.UInt32, "lines": pl.List(pl.String)},
    )
    table = header_table.header_table(rows, "lines")
    assert list(table.select("name", "value").iter_rows()) == handshakes._headers(lines)


def test_python_whitespace_is_what_str_strip_removes() -> None:
    spaces = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert set(header_table.PY_WHITESPACE) == spaces


def test_handshake_times_stay_whole_microseconds() -> None:
    """A pcapng keeps nanoseconds; the handshake's request and response times were always
    whole microseconds (the report's handshake measures are computed from them)."""
    data = loaded(SAMPLES / "ipv6-cooked" / "capture.pcapng")
    below_us = pl.col("time").dt.nanosecond() % 1000
    assert data.frames.select(below_us.max()).item() > 0  # the capture has nanoseconds
    times = data.sessions.select("request_time", "response_time").drop_nulls()
    assert times.height == 1
    assert times.select((pl.all().dt.nanosecond() % 1000).max()).row(0) == (0, 0)
