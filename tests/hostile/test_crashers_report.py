"""Regression tests for the HTML/Markdown report crashers (issue 11), read in place from
../shared/crashers: the real CLI on each reproducer, then the renderers with hostile text.

Each CLI test failed before the fix: an IndexError on a log with more than 40 marked pixel
columns, a TypeError on a log line without a timestamp, minutes of cubic regex work on a
Server header of backticks, and a live link and image made from a Server header.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from analyzer.report import markdown_text, markup
from analyzer.rules.templates import ENV, markdown_escape

from conftest import CRASHERS, run_cli

EVIL_LINK = "[Re-authenticate here](https://evil.example/login)"


def _analyze(tmp_path: Path, source: Path, *args: str) -> tuple[int, str]:
    out = tmp_path / "report.html"
    proc = run_cli("analyze", source, "-o", out, *args)
    assert "Traceback" not in proc.stderr
    return proc.returncode, out.read_text() if out.exists() else ""


# D-html-log-marks-indexerror ---------------------------------------------------------


@pytest.mark.parametrize("name", ["pyws-60-frames.log", "m50.log"])
def test_log_with_many_marked_columns_renders(tmp_path: Path, name: str) -> None:
    rc, html = _analyze(tmp_path, CRASHERS / "D-html-log-marks-indexerror" / name)
    assert rc == 0 and "<svg" in html
    marks = html.count('class="tl-log')
    assert 0 < marks <= 40, "every log event in some diamond, at most 40 diamonds"


# D-html-log-no-timestamp -------------------------------------------------------------


@pytest.mark.parametrize("name", ["notime.log", "notime2.log", "one-1.log"])
def test_log_session_without_time_says_so(tmp_path: Path, name: str) -> None:
    log = CRASHERS / "D-html-log-no-timestamp" / name
    # --log: a text file without one timed event is taken for a log only when forced
    rc, html = _analyze(tmp_path, log, "--log", str(log))
    assert rc == 0 and 'id="session-s1"' in html
    assert "Time unknown" in html
    assert 'class="tl-axis"' not in html and 'class="tl-tick"' not in html, "no invented axis"


# D-html-backtick-cubic ---------------------------------------------------------------


def test_server_header_of_20k_backticks_renders_as_fast_as_json(tmp_path: Path) -> None:
    pcap = CRASHERS / "D-html-backtick-cubic" / "server-backticks-20k.pcap"
    began = time.monotonic()
    run_cli("analyze", pcap, "--format", "json", "-o", tmp_path / "r.json", check=True)
    json_s = time.monotonic() - began
    began = time.monotonic()
    proc = run_cli("analyze", pcap, "--format", "html,md", "-o", tmp_path / "r", check=True)
    html_s = time.monotonic() - began
    assert proc.returncode == 0 and (tmp_path / "r.md").exists()
    assert html_s < json_s + 10, f"HTML+MD took {html_s:.1f} s, JSON {json_s:.1f} s"
    assert "`" * 20000 in (tmp_path / "r.html").read_text(), "the header is shown whole"


# D-link-injection --------------------------------------------------------------------


def test_capture_text_never_becomes_a_link_or_image(tmp_path: Path) -> None:
    pcap = CRASHERS / "D-link-injection" / "hostile.pcap"
    run_cli("analyze", pcap, "--format", "html,md", "-o", tmp_path / "r", check=True)
    html = (tmp_path / "r.html").read_text()
    assert '<a href="https://evil' not in html and "<img" not in html
    assert "Re-authenticate here" in html, "the header is still shown, as text"
    assert '<a href="https://developers.deepgram.com/' in html, "rule authors' links work"
    md = (tmp_path / "r.md").read_text()
    # A tracker renders the comment: with raw HTML allowed, still no link and no image.
    rendered = MarkdownIt("commonmark", {"html": True}).render(md)
    assert '<a href="https://evil' not in rendered and "<img" not in rendered
    assert EVIL_LINK in rendered, "the header's text is shown as it was sent, as text"
    outside_code = _outside_code_spans(md)
    assert EVIL_LINK not in outside_code and "![px](" not in outside_code


def _outside_code_spans(text: str) -> str:
    kept, last = [], 0
    for a, z in markup.code_spans(text):
        kept.append(text[last:a])
        last = z
    return "".join(kept) + text[last:]


# The renderers and the template filters, with hostile text ---------------------------

NASTY = [
    "x` [Re-authenticate here](https://evil.example/login) ![px](http://127.0.0.1/i) `",
    "[x](javascript:alert(1)) [[nested](https://evil.example)](https://evil.example)",
    "<script>alert(1)</script> <img src=x onerror=alert(1)> <https://evil.example>",
    "``` ` `` **b** _i_ \\[esc\\] &amp; | ~ # - 1. > end\\",
    "`" * 20000,
]


@pytest.mark.parametrize("value", NASTY)
def test_an_escaped_value_renders_as_itself(value: str) -> None:
    text = markdown_escape(value)
    html = str(markup.render(f"Server {text} here"))
    assert "<a " not in html and "<img" not in html and "<script" not in html
    assert "<code>" not in html and "<strong>" not in html and "<em>" not in html
    assert markup.plain(text) == " ".join(value.split())


@pytest.mark.parametrize("value", NASTY)
def test_code_filter_quotes_any_value_in_one_span(value: str) -> None:
    span = ENV.from_string("{{ v | code }}").render(v=value)
    html = str(markup.inline(f"Server {span} here"))
    assert html.count("<code>") == 1 and "<a " not in html and "<img" not in html
    assert markup.plain(span) == " ".join(value.split())


def test_templates_escape_values_but_not_their_own_filters() -> None:
    out = ENV.from_string("{{ v }} after {{ t | secs }} at {{ f | frame }}").render(
        v="a_b [x](https://evil.example)", t=10.0, f=48
    )
    assert out == "a\\_b \\[x\\](https://evil.example) after 10.0 s at #48"
    assert markup.plain(out) == "a_b [x](https://evil.example) after 10.0 s at #48"
    assert ENV.from_string("location {{ p | in_fence }} {").render(p="/a_b\n/c") == (
        "location /a_b /c {"
    )


def test_links_only_for_http_urls_and_images_stay_text() -> None:
    html = str(
        markup.render("[docs](https://e.com/a) [js](javascript:alert(1)) ![i](https://e.com/i.png)")
    )
    assert '<a href="https://e.com/a" rel="noreferrer noopener" target="_blank">docs</a>' in html
    assert "javascript" not in html.split("<a", 2)[-1].split(">")[0]
    assert "<img" not in html and "![i](https://e.com/i.png)" in html
    assert "<a" not in str(markup.render("[x](https://e.com/%22onmouseover=alert(1))"))


def test_markdown_report_never_splits_a_code_span_or_doubles_an_escape() -> None:
    span = ENV.from_string("{{ v | code }}").render(v=EVIL_LINK * 20)
    cut = markdown_text.first_paragraph(f"Find the hop ({span}) and fix it.")
    assert EVIL_LINK not in _outside_code_spans(cut)
    assert markdown_text.escape_outside_code("a \\<b\\> <c> `<d>`") == "a \\<b\\> \\<c\\> `<d>`"
