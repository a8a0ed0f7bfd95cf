"""`--format md` as a ticket comment (issue 14, item 5): the proxy's whole fix and the
evidence rows for the proxied samples, and on every sample Markdown a tracker renders as
meant: fences balanced, no backslash showing inside code, every input file named, nothing
from a capture or a log turned into HTML."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from analyzer.errors import InputError
from analyzer.report import markdown, markdown_findings, markdown_text, markup

from conftest import REPO, SAMPLES, analysis_of, loaded_together

RULES = REPO / "rules"
OPEN = re.compile(r"^(`{3,}|~{3,})")


@functools.cache
def analysed(name: str, keys: bool = True, logs: bool = False) -> Any:
    """A sample's first capture (with its key log when asked and present), and its
    `client.log` when asked: the inputs a ticket would carry."""
    folder = SAMPLES / name
    capture = sorted(folder.glob("capture.pcap*"))[0]
    extra = [folder / "client.log"] if logs and (folder / "client.log").exists() else []
    keylog = folder / "keys.log"
    key = keylog if keys and keylog.exists() else None
    try:
        return analysis_of(loaded_together(capture, *extra, keylog=key))
    except InputError:  # a client.log no log pack reads (not-websocket's): the capture alone
        return analysis_of(loaded_together(capture, keylog=key))


def fix_section(rule: Path, marker: str) -> list[str]:
    """The literal text of one section of a rule's fix template: the lines after the one
    holding `marker`, up to the next Jinja control line, each cut before any Jinja."""
    lines = yaml.safe_load(rule.read_text())["fix"].splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    out = []
    for line in lines[start + 1 :]:
        if line.lstrip().startswith("{%"):
            break
        literal = re.split(r"\{[{%]", line, maxsplit=1)[0].strip()
        if len(literal) >= 3:
            out.append(literal)
    assert out, f"{rule.name}: nothing literal after {marker!r}"
    return out


PROXIED = [
    # sample, keys, logs, rule whose fix holds the proxy's config, marker of that section
    ("nginx-read-timeout", True, True, "proxy-interference/proxy-idle-teardown", "```nginx"),
    ("envoy-stream-idle", True, False, "proxy-interference/proxy-idle-teardown", "'envoy' in sw"),
    ("squid-connect", True, False, "proxy-interference/proxy-connect-refused", ":443') %}"),
    ("squid-connect", False, False, "proxy-interference/proxy-connect-refused", ":443') %}"),
]


@pytest.mark.parametrize(("name", "keys", "logs", "rule", "marker"), PROXIED)
def test_proxied_samples_carry_the_proxy_fix_and_the_evidence(
    name: str, keys: bool, logs: bool, rule: str, marker: str
) -> None:
    result = analysed(name, keys, logs)
    text = markdown.render(result)
    for literal in fix_section(RULES / f"{rule}.yaml", marker):
        assert literal in text, literal
    rule_id = rule.rsplit("/", 1)[1]
    found = [f for f in result.findings if f["rule"] == rule_id]
    assert found, rule_id
    rows = [line for line in text.splitlines() if line.startswith("- `")]
    for f in found[: markdown_findings.MAX_EVIDENCE_SESSIONS]:
        for e in f["evidence"]:
            where = f"frame #{e['frame']}" if e["frame"] is not None else None
            where = where or (f"`{e['log'].rsplit('/', 1)[1]}`" if e.get("log") else "—")
            start = f"- `{e['time'][11:23]}` · {where} · "
            shown = [markup.plain(r[len(start) :]) for r in rows if r.startswith(start)]
            assert markup.plain(e["text"]) in shown, (start, e["text"])


def test_the_top_finding_is_the_cause_and_keeps_its_whole_fix() -> None:
    """nginx-read-timeout: the proxy's teardown (the cause) comes before the missing close
    it leaves behind, and its fix goes on past its first code block to the nginx config."""
    text = markdown.render(analysed("nginx-read-timeout", logs=True))
    findings = text[text.index("#### Findings") :]
    assert findings.index("`proxy-idle-teardown`") < findings.index("`no-close-after-idle`")
    assert findings.index("```python") < findings.index("proxy_read_timeout  3600s;")


SAMPLE_NAMES = sorted(p.parent.name for p in SAMPLES.glob("*/capture.pcap*"))
EVERY = [
    *((n, True) for n in SAMPLE_NAMES),
    *((n, False) for n in SAMPLE_NAMES if (SAMPLES / n / "keys.log").exists()),
]
HTML_ON = MarkdownIt("commonmark", {"html": True})  # a tracker that lets raw HTML through


def fences_and_prose(text: str) -> tuple[list[list[str]], list[str]]:
    """(the bodies of the fenced blocks, the lines outside them); a fence left open at
    the end is a test failure."""
    bodies: list[list[str]] = []
    prose: list[str] = []
    fence = None
    for line in text.splitlines():
        m = OPEN.match(line)
        if fence is None and m:
            fence = m[1]
            bodies.append([])
        elif fence is not None and line.strip() and line.strip() == fence[0] * len(line.strip()):
            if len(line.strip()) >= len(fence):
                fence = None
            else:
                bodies[-1].append(line)
        elif fence is not None:
            bodies[-1].append(line)
        else:
            prose.append(line)
    assert fence is None, "a code fence is left open"
    return bodies, prose


@pytest.mark.parametrize(("name", "keys"), EVERY)
def test_every_sample_renders_well_formed_ticket_markdown(name: str, keys: bool) -> None:
    result = analysed(name, keys, logs=True)
    text = markdown.render(result)
    bodies, prose = fences_and_prose(text)
    flat = "\n".join(prose)
    spans = [flat[a:z] for a, z in markup.code_spans(flat)]
    assert not [s for s in spans if "\\_" in s], "a backslash would show inside code"
    assert not [b for b in bodies if "\\_" in "\n".join(b)]
    assert not re.search(r"(?<=[A-Za-z0-9])\\_(?=[A-Za-z0-9])", flat), "needless \\_"
    for given in result.inputs:
        assert f"- `{given['path']}` (" in text, given["path"]
    outside = flat
    for s in sorted(spans, key=len, reverse=True):
        outside = outside.replace(s, "")
    assert not re.search(r"(?<!\\)<", outside), "a raw angle bracket outside code"
    tokens = HTML_ON.parse(text)
    inline = [c for t in tokens for c in (t.children or [])]
    assert not [t for t in [*tokens, *inline] if t.type.startswith("html")], "raw HTML"


def test_a_seen_proxy_leaves_out_the_other_proxies_settings() -> None:
    """nginx-read-timeout's nginx answered as `Server: nginx`: its 60 s also matches an
    AWS ALB, whose settings the rule renders too; the ticket keeps nginx's and says that
    the ALB's are left out. haproxy-tunnel-timeout's HAProxy names itself in no header:
    its fix stays whole."""
    rule = RULES / "proxy-interference/proxy-idle-teardown.yaml"
    nginx = markdown.render(analysed("nginx-read-timeout", logs=True))
    block = nginx[: nginx.index("#### Attach next time")]
    assert all(line in block for line in fix_section(rule, "'nginx' in sw or m == 60"))
    assert not any(line in block for line in fix_section(rule, "{% if m == 60 %}"))
    assert "(Settings for AWS ALB, which this capture does not show" in block
    haproxy = markdown.render(analysed("haproxy-tunnel-timeout"))
    assert all(line in haproxy for line in fix_section(rule, "'haproxy' in sw %}"))
    assert "which this capture does not show" not in haproxy


def test_a_proxy_item_keeps_its_code_block_whole() -> None:
    fix = [
        "**Raise the timeout.**",
        "Envoy: set the route's timeout:",
        "```yaml",
        "- match: {prefix: /}",
        "  route: {idle_timeout: 0s}",
        "```",
        "- HAProxy: `timeout tunnel 1h`.",
        "",
        "Either way, reconnect.",
    ]
    kept = markdown_text.for_proxies(fix, {"envoy"})
    assert kept[:6] == fix[:6] and "Either way, reconnect." in kept
    assert "- HAProxy: `timeout tunnel 1h`." not in kept
    assert markdown_text.for_proxies(fix, {"haproxy"})[:4] == [fix[0], *fix[6:]], "block and all"
    assert markdown_text.for_proxies(fix, {"squid"}) == fix, "nothing for squid: all of it"


def test_a_short_budget_cuts_the_lesser_findings_not_the_top_fix() -> None:
    """Two blocks: nginx-read-timeout's findings unfolded (the budget, not the folding)."""
    found = [
        {**f, "explained_by": None, "incident": None}
        for f in analysed("nginx-read-timeout").findings
    ]
    whole = markdown_findings.top_findings(found, markdown.MAX_LINES)
    top_end = whole.index(next(x for x in whole if "`no-close-after-idle`" in x))
    short = markdown_findings.top_findings(found, top_end + 25)
    assert short[:top_end] == whole[:top_end], "the top finding keeps its whole fix"
    assert short[-2].startswith("Fix (first part; the HTML report has it whole): Something")
    tight = markdown_findings.top_findings(found, top_end)
    assert tight[-2] == "… and 2 more finding(s); the HTML report has every fix."
