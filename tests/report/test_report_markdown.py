"""`--format md`: the ticket comment on every real sample: within its line budget, the
verdict first, the measured numbers, what to attach next time, and capture-derived text
escaped. The Markdown's well-formedness and its whole fixes are in
test_report_markdown_ticket.py."""

from __future__ import annotations

import dataclasses
import functools
import re

import polars as pl
import pytest

from analyzer.report import markdown, markup

from conftest import SAMPLES, analysis_of, loaded_together, sample

EVIL = "<script>alert(1)</script> | `tick` *x* [a](https://evil.example)"


@functools.cache
def summary(name: str, keys: bool = True) -> str:
    return markdown.render(analysis_of(sample(name, keys)))


ALL = sorted(p.parent.name for p in SAMPLES.glob("*/capture.pcap*"))


@pytest.mark.parametrize("name", ALL)
def test_every_sample_fits_a_ticket_comment(name: str) -> None:
    text = summary(name)
    lines = text.splitlines()
    assert len(lines) <= markdown.MAX_LINES, len(lines)
    assert lines[0].startswith("### wsdoctor: ")
    assert text.count("```") % 2 == 0, "every code fence is closed"
    assert "#### Attach next time" in text
    assert "<script" not in text.lower()


def test_idle_1011_summary() -> None:
    text = summary("idle-1011")
    assert text.startswith("### wsdoctor: 1 of 1 session failed: the client went silent")
    assert "- **s1** 127.0.0.11:37477 → 127.0.0.21:8080: the server closed with 1011" in text
    assert "silent for 10.0 s" in text
    assert "**HIGH** The client went silent and the server closed with 1011" in text
    assert "```python\nasync def keepalive(ws):\n    while True:" in text, "the fix's code"
    assert "ad3994ac-426c-4a35-8673-2cb4b3b4d521" in text, "dg-request-id for support"


def test_findings_of_one_rule_are_grouped() -> None:
    text = summary("nginx-read-timeout")
    assert text.count("(`proxy-idle-teardown`; s1, s2)") == 1
    assert "after 60.0 s of two-way silence" in text
    assert "nginx's `error.log`" in text
    assert "proxy ↔ server leg" not in text  # the capture holds both legs already


@pytest.mark.parametrize(
    ("name", "keys", "expected"),
    [
        ("wss-keylog", False, "TLS key log"),
        ("mid-session", True, "includes the handshake"),
        ("lossy-stream", True, "on the client host itself"),
        ("handshake-401", True, "access log line for the refused upgrade"),
        ("squid-connect", True, "Squid's `access.log`"),
        ("not-websocket", True, "a capture that contains the WebSocket connection"),
    ],
)
def test_attach_next_time_follows_what_was_missing(name: str, keys: bool, expected: str) -> None:
    text = summary(name, keys)
    attach = text[text.index("#### Attach next time") :]
    assert expected in attach, attach


def test_capture_text_is_escaped() -> None:
    data = sample("idle-1011")
    sessions = data.sessions.with_columns(
        close_server_reason=pl.lit(EVIL),
        close_client_reason=pl.lit(EVIL),
        client=pl.lit("10.0.0.1:1|`x`"),
    )
    frames = data.frames.with_columns(
        close_reason=pl.when(pl.col("opcode") == "close").then(pl.lit(EVIL))
    )
    result = analysis_of(dataclasses.replace(data, sessions=sessions, frames=frames))
    assert any(EVIL in markup.plain(f["summary"]) for f in result.findings)
    text = markdown.render(result)
    assert "<script>" not in text and "\\<script\\>" in text
    assert "10.0.0.1:1\\|\\`x\\`" in text
    assert "[a](https://evil.example)" not in text
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    assert not re.search(r"(?<!\\)\|", outside_code), "every pipe outside code is escaped"


def test_escape_helper() -> None:
    assert markdown.escape("a|b`c<d>e*f_g[h]i\\j\nk") == "a\\|b\\`c\\<d\\>e\\*f_g\\[h\\]i\\\\j k"
    bare = "only an underscore inside a word is bare"
    assert markdown.escape("_a b_ c_") == "\\_a b\\_ c\\_", bare


def test_many_sessions_still_fit() -> None:
    """40 copies of a proxied connection (two legs each): 40 failed connections, one line
    each while the budget lasts; the legs of a copy stay paired."""
    data = sample("nginx-read-timeout")
    copies = [
        data.sessions.with_columns(pl.col("id") + f"x{k}", pl.col("other_leg") + f"x{k}")
        for k in range(40)
    ]
    frames = [data.frames.with_columns(pl.col("session") + f"x{k}") for k in range(40)]
    events = [data.tcp_events.with_columns(pl.col("session") + f"x{k}") for k in range(40)]
    many = dataclasses.replace(
        data, sessions=pl.concat(copies), frames=pl.concat(frames), tcp_events=pl.concat(events)
    )
    text = markdown.render(analysis_of(many))
    assert len(text.splitlines()) <= markdown.MAX_LINES
    assert "- **s1x0 ⇄ s2x0** 127.0.0.11:56413 → 127.0.0.31:8080: " in text
    assert "… and 33 more failed connections" in text
    assert "(`proxy-idle-teardown`; s1x0, s1x1, s1x2, s1x3, s1x4, s1x5 +74 more)" in text
    assert text.startswith("### wsdoctor: 80 of 80 sessions failed")


def test_attach_next_time_does_not_ask_for_what_is_attached() -> None:
    from analyzer.report import markdown

    folder = SAMPLES / "envoy-stream-idle"
    alone = markdown.render(analysis_of(loaded_together(folder / "capture.pcap")))
    assert "Envoy's access log" in alone and "client application's log" in alone
    assert "proxy ↔ server leg" not in alone  # the capture holds both legs
    logs = [folder / "client.log", folder / "envoy-access.log"]
    both = markdown.render(analysis_of(loaded_together(folder / "capture.pcap", *logs)))
    assert "Attach next time" not in both
