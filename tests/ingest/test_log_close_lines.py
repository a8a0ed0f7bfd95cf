"""Every close line of the real logs and of the packs' examples is a close event with its
code (issue 13, item 3).

The lines below were read by hand from sample_captures/real-logs/ (see its README for how
each was recorded): the line number, the event kind it must give and the close code the
line itself prints (None where the tool prints none: .NET's "closed prematurely", OkHttp's
EOFException, websockets' "no close frame received or sent"). A plain regex, independent of
the packs, finds every line that speaks of a close; each must be listed here, or excluded
with the reason it is not a line about this connection's close.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

from analyzer.ingest.logpacks import LogPattern, load_packs
from analyzer.ingest.logs import match_lines, read_log

from conftest import SAMPLES

REAL = SAMPLES / "real-logs"
PACKS = load_packs()
AB, RX, TX, RST = "abnormal_close", "close_received", "close_sent", "reset"
CLOSED = "connection_closed"

CLOSE_LINES: dict[str, dict[int, tuple[str, int | None]]] = {
    "browser/console.log": {
        3: (AB, 1006),  # console.log('close', e.code, e.reason, e.wasClean)
        4: (AB, 1006),  # console.log(e): DevTools' CloseEvent preview
        8: (AB, 1006),
        9: (AB, 1006),
        10: (RX, 1011),
        11: (RX, 1011),
    },
    "deepgram-js-sdk/client.log": {176: (AB, 1006), 178: (RX, 1011)},
    "deepgram-python-sdk/client.log": {158: (RX, 1011)},
    "dotnet/client.log": {
        25: (RX, 1011),  # CloseStatus=InternalServerError (1011)
        29: (AB, None),
        30: (AB, None),  # the trace's head line of the same exception
        38: (AB, None),
        39: (RST, None),  # "... ---> IOException: ... Connection reset by peer"
    },
    "go/client.log": {
        6: (RX, 1011),  # gorilla: `close 1011 (internal server error)`
        10: (RX, 1011),  # nhooyr: `status = StatusInternalError` (the code's name)
    },
    "node-ws/client.log": {14: (AB, 1006), 24: (AB, 1006), 26: (RX, 1011)},
    "okhttp/client.log": {
        53: (RX, 1011),  # onClosing(code, reason)
        54: (CLOSED, 1011),  # onClosed(code, reason): the state, after the close
        57: (AB, None),  # java.io.EOFException: FIN without a close frame
        60: (AB, None),
        76: (RST, None),
        79: (RST, None),
    },
    "pino/client.log": {3: (AB, 1006), 5: (AB, 1006), 7: (RX, 1011), 9: (AB, 1006)},
    "python-json-logger/client.log": {
        58: (RX, 1011),  # < CLOSE 1011
        59: (TX, 1011),  # > CLOSE 1011 (the echo)
        64: (RX, 1011),  # ConnectionClosedError: received 1011 ...; then sent 1011
        102: (AB, None),  # no close frame received or sent
    },
}
# Lines the regex finds that are not about a close of the connection, and why.
NOT_CLOSE_LINES = {
    "deepgram-js-sdk/client.log": {67},  # `_closeCode: 1006,`: a field of the ws object dump
    # 168/170: fields of the exception's JSON dump under line 158; 180/199: send() after
    # the close failed, quoting it (events of kind error: the close itself is line 158)
    "deepgram-python-sdk/client.log": {168, 170, 180, 199},
}
SPEAKS_OF_A_CLOSE = re.compile(
    r"(?i)\bclos(?:e|ed|ing)\b[^\n]{0,40}\b[14]\d{3}\b|code[=:]\s*1\d{3}|CloseStatus|"
    r"received close frame|without completing the close|EOFException|connection reset|"
    r"no close frame|onClos|ConnectionClosed"
)


@pytest.mark.parametrize("rel", sorted(CLOSE_LINES))
def test_every_close_line_of_a_real_log_is_listed(rel: str) -> None:
    lines = (REAL / rel).read_text().splitlines()
    found = {n for n, text in enumerate(lines, 1) if SPEAKS_OF_A_CLOSE.search(text)}
    assert found == set(CLOSE_LINES[rel]) | NOT_CLOSE_LINES.get(rel, set())


@pytest.mark.parametrize("rel", sorted(CLOSE_LINES))
def test_every_close_line_of_a_real_log_is_a_close_event_with_its_code(rel: str) -> None:
    events = read_log(REAL / rel, PACKS).events
    wanted = CLOSE_LINES[rel]
    got = {
        row["line"]: (row["kind"], row["close_code"])
        for row in events.filter(pl.col("line").is_in(list(wanted))).iter_rows(named=True)
    }
    assert got == wanted


def _close_examples() -> list:
    return [
        pytest.param(pattern, ex.line, id=f"{pack.name}/{pattern.id}#{i}")
        for pack in PACKS
        for pattern in pack.patterns
        if pattern.kind in (RX, TX)
        for i, ex in enumerate(pattern.examples)
    ]


@pytest.mark.parametrize(("pattern", "line"), _close_examples())
def test_every_close_example_of_a_pack_gives_the_code_it_prints(
    pattern: LogPattern, line: str
) -> None:
    """A close frame's line names its code, as digits or (nhooyr) as the code's name."""
    events = match_lines(pl.DataFrame({"line": [1], "raw": [line]}), PACKS)
    [row] = events.rows(named=True)
    printed = {int(d) for d in re.findall(r"(?<!\d)([1-4]\d{3})(?!\d)", line)}
    printed |= {code for name, code in pattern.code_names.items() if name in line}
    assert row["kind"] == pattern.kind and row["close_code"] in printed, row


def test_close_lines_are_from_files_that_exist() -> None:
    assert all((REAL / rel).is_file() for rel in CLOSE_LINES)
    assert {p.relative_to(REAL).as_posix() for p in REAL.glob("*/*.log")} == set(CLOSE_LINES)
