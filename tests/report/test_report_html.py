"""The HTML report and its pieces (verdict, fix Markdown), on the real engine's output:
structure and order, self-containment (no script, no other origin), escaping of every
capture-derived string, and the size caps."""

from __future__ import annotations

import dataclasses
import functools
import re
from html.parser import HTMLParser

import polars as pl
import pytest

from analyzer.pipeline import describe_inputs
from analyzer.report import html, html_sessions, markup, verdict
from analyzer.schema import HEADER
from analyzer.sessions.dataset import Dataset

from conftest import EXTERNAL, SAMPLES, analysis_of, builtin_rules, loaded, sample

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)
EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'
# Issue 14, item 3: the verdict and the incidents first, then the sessions table.
SECTIONS = ("verdict", "incidents", "sessions", "capture", "provenance")
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr"}


@functools.cache
def report(name: str) -> str:
    return html.render(analysis_of(sample(name)))


class Inert(HTMLParser):
    """Every non-void element closed in order (the template and the SVG nest properly),
    and every real attribute checked: no event handler, no src, href only to an
    in-page anchor or (on <a>) an http(s) reference link."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._check(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def _check(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "img", "link", "base", "form"):
            self.errors.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or name in ("src", "srcset", "action", "poster", "style"):
                self.errors.append(f"<{tag} {name}>")
            if name in ("href", "xlink:href"):
                link = tag == "a" and re.match(r"https?://", value)
                if not (value.startswith("#") or link):
                    self.errors.append(f"<{tag} href={value!r}>")


def assert_inert(text: str) -> None:
    """No script, a strict CSP, and nothing loaded from anywhere: only <a href> leaves."""
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in text
    assert not re.search(r"<script|@import|url\(", text, re.I)
    checker = Inert()
    checker.feed(text)
    checker.close()
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)


SAMPLE_NAMES = sorted(
    p.parent.name for p in SAMPLES.glob("*/capture.pcap*") if p.parent.name != "not-websocket"
)


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_sample_renders_an_inert_ordered_report(name: str) -> None:
    text = report(name)
    assert_inert(text)
    positions = [text.index(f'<section id="{s}"') for s in SECTIONS]
    assert positions == sorted(positions), "verdict, incidents, sessions, capture, inputs"
    assert "@media print" in text and "@media (max-width" in text
    assert len(text.encode()) < 300_000


def test_idle_1011_report_content() -> None:
    text = report("idle-1011")
    data = sample("idle-1011")
    verdict_html = text[text.index('id="verdict"') : text.index('id="incidents"')]
    assert "1 of 1 session failed" in verdict_html
    assert "10.0 s" in verdict_html and "1011" in verdict_html  # the incident, one line
    assert "silent for 10.0 s" in text[text.index('id="sessions"') :]  # the session's row
    assert "The client went silent and the server closed with 1011" in text
    assert 'class="badge sev-high"' in text and "high confidence" in text
    assert "#48" in text and "#52" in text and "2026-11-21 20:26:01.516 UTC" in text
    assert '<pre><code class="language-python">async def keepalive(ws):' in text
    assert '<a href="https://developers.deepgram.com/docs/audio-keep-alive"' in text
    assert text.count("<svg") == 1 and 'id="session-s1"' in text
    assert "ad3994ac-426c-4a35-8673-2cb4b3b4d521" in text  # dg-request-id
    assert "Token dg_t…redacted" in text and "dg_test_0123" not in text
    assert describe_inputs(data)[0]["sha256"] in text
    assert "inactivity_window_s=10" in text and f"{len(builtin_rules())} rules in effect" in text


def test_healthy_and_rejected_sessions() -> None:
    clean = report("clean-close")
    assert "looks healthy" in clean and "closed normally (1000 both ways)" in clean
    assert "No rule fired" in clean
    rejected = report("handshake-401")
    assert "401 Unauthorized" in rejected and "Invalid credentials." in rejected
    assert "INVALID_AUTH" in rejected, "the response body preview is shown"


def hostile(data: Dataset) -> Dataset:
    """A real dataset whose capture-derived strings carry markup (a pure-function test)."""
    evil_headers = pl.lit([{"name": "X-Evil" + EVIL, "value": EVIL_ATTR}], dtype=HEADER)
    sessions = data.sessions.with_columns(
        close_client_reason=pl.lit(EVIL),
        close_server_reason=pl.lit(EVIL),
        uri=pl.lit("/v1/listen?q=" + EVIL_ATTR),
        server_software=pl.lit(EVIL),
        user_agent=pl.lit(EVIL_ATTR),
        dg_error=pl.lit(EVIL),
        request_headers=evil_headers,
        response_headers=evil_headers,
        client=pl.lit("127.0.0.11:1<b>"),
    )
    frames = data.frames.with_columns(
        close_reason=pl.when(pl.col("opcode") == "close").then(pl.lit(EVIL)),
        text_preview=pl.lit(EVIL),
    )
    return dataclasses.replace(data, sessions=sessions, frames=frames, warnings=[EVIL])


@pytest.mark.parametrize("name", ["idle-1011", "handshake-401", "forged-rst"])
def test_capture_derived_text_is_escaped_everywhere(name: str) -> None:
    result = analysis_of(hostile(sample(name)))
    if name == "idle-1011":  # the close reason is quoted in the summary and evidence
        assert any(EVIL in markup.plain(f["summary"]) for f in result.findings)
    text = html.render(result)
    assert_inert(text)
    assert EVIL not in text and "<img src=x" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_recorded_hostile_text_sample() -> None:
    text = report("hostile-text")
    assert_inert(text)
    assert "<svg onload" not in text and "&lt;svg onload=alert(1)&gt;" in text
    # escaped exactly once: a reader sees the reason as sent, not as entity soup
    assert "&amp;lt;" not in text and "&amp;quot;" not in text and "&amp;#34;" not in text


def replicated(data: Dataset, copies: int) -> Dataset:
    """The sessions of a sample repeated under new ids: a many-session capture."""

    def tag(df: pl.DataFrame, column: str, k: int) -> pl.DataFrame:
        return df.with_columns(pl.col(column) + f"x{k}")

    def legs(df: pl.DataFrame, k: int) -> pl.DataFrame:
        return tag(tag(df, "id", k), "other_leg", k)  # a proxied pair stays a pair

    return dataclasses.replace(
        data,
        sessions=pl.concat([legs(data.sessions, k) for k in range(copies)]),
        frames=pl.concat([tag(data.frames, "session", k) for k in range(copies)]),
        tcp_events=pl.concat([tag(data.tcp_events, "session", k) for k in range(copies)]),
    )


def test_many_sessions_are_capped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    result = analysis_of(replicated(sample("nginx-read-timeout"), 400))
    assert len(result.findings) == 1600
    text = html.render(result)
    assert_inert(text)
    assert len(text.encode()) <= 2_000_000, len(text.encode())
    # Timelines for at most MAX_DETAILED connections (two legs each), the rest one line.
    assert text.count("<svg") <= 2 * html_sessions.MAX_DETAILED
    assert "Timelines and facts are drawn for the" in text
    assert text.count('<article class="finding') <= 2 * html_sessions.MAX_DETAILED + 1
    assert "800 of 800 sessions failed, in 400 of 400 connections" in text
    monkeypatch.setattr(html, "MAX_ROWS", 300)
    assert "100 more connection(s), the least severe, are left out" in html.render(result)


def test_oversized_capture_text_cannot_blow_the_size_bound() -> None:
    """Worst case per session: many long headers, a long URI, IPv6 endpoints."""
    data = replicated(sample("nginx-read-timeout"), 300)
    big = pl.lit([{"name": f"X-{i}" + "n" * 100, "value": "v" * 2000} for i in range(80)])
    sessions = data.sessions.with_columns(
        request_headers=big.cast(HEADER),
        response_headers=big.cast(HEADER),
        uri=pl.lit("/v1/listen?" + "q" * 5000),
        client=pl.lit("[2001:db8:1234:5678:9abc:def0:1234:5678]:65535"),
    )
    result = analysis_of(dataclasses.replace(data, sessions=sessions, warnings=["w" * 999] * 500))
    text = html.render(result)
    assert len(text.encode()) <= 2_000_000, len(text.encode())
    assert "450 more" in text  # warnings beyond the cap are counted


def test_verdict_states_the_measured_numbers() -> None:
    def lines(name: str) -> list[str]:
        return [s.sentence for s in verdict.build(analysis_of(sample(name))).sessions]

    assert "after the client had been silent for 10.0 s" in lines("idle-1011")[0]
    assert "after 60.0 s of two-way silence" in lines("nginx-read-timeout")[0]
    assert "9 KeepAlive messages went out as binary frames" in lines("keepalive-binary")[0]
    assert "its TTL is 17 hops off" in lines("forged-rst")[0]
    assert "reset TCP 0.6 ms later" in lines("close-and-drop")[0]
    assert "refused the CONNECT to api.deepgram.test:9443 with 403" in lines("squid-connect")[2]
    assert lines("clean-close")[0].endswith("closed normally (1000 both ways) after 12.1 s.")
    head = verdict.build(analysis_of(sample("squid-connect"))).headline
    assert head.startswith("1 of 3 sessions failed: an explicit forward proxy refused the CONNECT")


# markup.py ---------------------------------------------------------------------------


def test_markup_escapes_before_adding_tags() -> None:
    out = str(markup.render(f"Hi {EVIL} **b** *e* `<i>` & done"))
    assert EVIL not in out and "&lt;script&gt;" in out
    assert "<strong>b</strong>" in out and "<em>e</em>" in out and "<code>&lt;i&gt;</code>" in out
    assert "&amp; done" in out


def test_markup_code_fences_keep_language_and_indentation() -> None:
    text = "Python:\n```python\ndef f():\n    return '<x>'\n```\n- item\n  ```yaml\n  a: 1\n  ```\n"
    out = str(markup.render(text))
    assert (
        "<pre><code class=\"language-python\">def f():\n    return '&lt;x&gt;'</code></pre>" in out
    )
    assert '<li>item<pre><code class="language-yaml">a: 1</code></pre></li>' in out
    assert str(markup.render("```\nno lang\n```")) == "<pre><code>no lang</code></pre>"


def test_markup_lists_paragraphs_and_numbering() -> None:
    out = str(markup.render("one\ntwo\n\n- a\n  continued\n- b\n\n3. c\n4. d"))
    out = re.sub(r"\n(?=<)|(?<=>)\n", "", out).replace("\n", " ")  # layout newlines
    assert out == (
        "<p>one two</p><ul><li>a continued</li><li>b</li></ul>"
        '<ol start="3"><li>c</li><li>d</li></ol>'
    )


def test_markup_links_only_http_and_https() -> None:
    ok = str(markup.render("see [docs](https://example.com/a?b=1&c=2)"))
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" rel="noreferrer noopener" '
        'target="_blank">docs</a>' in ok
    )
    for bad in ("javascript:alert(1)", "data:text/html,x", "/relative", "JAVASCRIPT:x"):
        out = str(markup.render(f"[x]({bad})"))
        assert "<a" not in out and "href" not in out, out
    assert "<a" not in str(markup.render('[x](https://e.com/"onmouseover=alert(1))'))
    assert not markup.safe_url("javascript:alert(1)") and markup.safe_url("http://e.com")


def test_markup_renders_every_builtin_fix_inertly() -> None:
    for name in ("idle-1011", "nginx-read-timeout", "nginx-no-upgrade", "client-killed"):
        for finding in analysis_of(sample(name)).findings:
            out = str(markup.render(finding["fix"]))
            assert "```" not in out, "every fence is closed and rendered"
            assert "<script" not in out
            checker = Inert()
            checker.feed(out)
            assert not checker.errors and not checker.stack


def test_a_lone_101_says_its_request_was_not_captured() -> None:
    """PcapPlusPlus's server-to-client capture holds a 101 (frame 475) without its request:
    the session shows the response and says the request is not in the capture."""
    page = html.render(analysis_of(loaded(EXTERNAL / "pcapplusplus-650HttpResponses.pcap")))
    assert "<dt>Request</dt><dd>not in the capture: only the response was seen</dd>" in page
    assert "<dt>Response</dt><dd>101 Switching Protocols</dd>" in page
