"""`--format md`: a summary short enough for a ticket comment (at most 60 lines).

What a reader of a ticket needs at a glance: the verdict, one line per failed session,
the top findings with the first thing to change, and what to attach next time so the
next capture answers the remaining questions. Capture-derived text (close reasons,
endpoints) is escaped here so it cannot inject Markdown or HTML into the tracker that
renders the comment; findings' summaries and fixes are already Markdown whose capture
values the rule templates escaped, so they keep their markup and are not escaped twice.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from analyzer import __version__
from analyzer.pipeline import Analysis
from analyzer.report import markup, verdict
from analyzer.report.json_report import capture_facts
from analyzer.sessions.correlate import host

MAX_LINES = 60
MAX_SESSION_LINES = 8  # failed sessions listed one line each
MAX_TOP_FINDINGS = 3  # distinct rules shown with their fix
MAX_CODE_LINES = 8  # lines of a fix's code block
MAX_PARAGRAPH = 320  # characters of a fix's first paragraph
MAX_ATTACH = 4
MAX_WARNINGS = 3  # capture-quality warnings quoted (each cut to 200 characters)
MAX_TLS_LINES = 3  # server names of TLS connections without keys, one line each
SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
# One optional language word between the fence and the end; no two adjacent `\s*` around
# an optional group, which backtracks quadratically on a long run of spaces.
FENCE = re.compile(r"^\s*(`{3,}|~{3,})(?:[ \t]*([\w+#.-]+))?[ \t]*$")
# A backslash escape (kept as is), or what a tracker would take as raw HTML or a table.
RAW = re.compile(r"(\\.)|([<>|])", re.S)
PROXIES = re.compile(r"nginx|haproxy|envoy|squid|traefik|istio|cloudflare|awselb", re.I)
# Where a sentence of rule prose ends: after . ! ? and before a capital, a digit or code.
SENTENCE_END = re.compile(r"(?<=[.!?])\s(?=[A-Z0-9`(])")


def escape(text: Any) -> str:
    """Markdown-significant characters backslash-escaped; newlines folded."""
    flat = " ".join(str(text or "").split())
    return SPECIAL.sub(r"\\\1", flat)


def render(result: Analysis) -> str:
    judged = verdict.build(result)
    head = _header(result, judged)
    attach = _attach(result)
    sessions = _sessions(judged)
    room = MAX_LINES - len(head) - len(sessions) - len(attach)
    lines = head + sessions + _top_findings(result.findings, room) + attach
    if len(lines) > MAX_LINES:  # cannot happen with the caps above; kept as the guarantee
        lines = [*lines[: MAX_LINES - 1], "… (cut to 60 lines)"]
    return "\n".join(lines).rstrip() + "\n"


def _volume(result: Analysis, facts: dict) -> str:
    """Packets when there is a capture; else how many sessions the logs and HARs gave."""
    if result.data.captures:
        return f"{facts['packets']:,} packets"
    return f"no capture, {result.data.sessions.height} session(s) from logs/HAR files"


def _header(result: Analysis, judged: verdict.Verdict) -> list[str]:
    facts = capture_facts(result.data.captures)
    names = ", ".join(escape(i["path"].rsplit("/", 1)[-1]) for i in result.inputs[:3])
    when = ""
    if facts["start"] and facts["end"]:
        when = f" · {facts['start'][:19].replace('T', ' ')} → {facts['end'][11:19]} UTC"
    lines = [
        f"### wsdoctor: {escape(judged.headline)}",
        "",
        f"{names} · {_volume(result, facts)}{when} · wsdoctor {__version__}",
        "",
    ]
    warnings = result.data.warnings
    for w in warnings[:MAX_WARNINGS]:
        lines.append(f"> ⚠ {escape(w if len(w) <= 200 else w[:199] + '…')}")
    if len(warnings) > MAX_WARNINGS:
        lines.append(f"> … and {len(warnings) - MAX_WARNINGS} more warnings")
    return [*lines, ""] if warnings else lines


def _sessions(judged: verdict.Verdict) -> list[str]:
    failed = judged.failed
    lines = [
        f"- **{escape(s.session)}** {escape(s.sentence[len(s.session) + 1 :])}" for s in failed
    ]
    if len(lines) > MAX_SESSION_LINES:
        rest = len(lines) - MAX_SESSION_LINES + 1
        lines = [*lines[: MAX_SESSION_LINES - 1], f"- … and {rest} more failed sessions"]
    healthy = [s.session for s in judged.seen if not s.failed]
    if not failed and len(healthy) <= 3:  # nothing failed: say how each one ended
        lines = [
            f"- **{escape(s.session)}** {escape(s.sentence[len(s.session) + 1 :])}"
            for s in judged.seen
        ]
    elif healthy:
        named = ", ".join(healthy[:8]) + (f" +{len(healthy) - 8} more" if len(healthy) > 8 else "")
        lines.append(f"- healthy: {escape(named)}")
    lines += _tls(judged)
    return [*lines, ""] if lines else []


def _tls(judged: verdict.Verdict) -> list[str]:
    """TLS connections without keys, apart from the sessions: one line per server name."""
    groups = judged.tls
    if not groups:
        return []
    k = sum(len(g.sessions) for g in groups)
    lines = [f"- **TLS connections (possibly wss)**: {k} not decrypted (pass `--keylog`)"]
    for g in groups[:MAX_TLS_LINES]:
        ids = ", ".join(g.sessions[:6]) + (
            f" +{len(g.sessions) - 6} more" if len(g.sessions) > 6 else ""
        )
        name = f"SNI {g.sni}" if g.sni else "no SNI"
        lines.append(f"  - {escape(name)}: {len(g.sessions)} ({escape(ids)})")
    if len(groups) > MAX_TLS_LINES:
        lines.append(f"  - … and {len(groups) - MAX_TLS_LINES} more server names")
    return lines


def _top_findings(findings: list[dict[str, Any]], room: int) -> list[str]:
    """One block per distinct rule, most severe first, while the line budget lasts."""
    if not findings:
        return ["No findings: no rule fired.", ""] if room >= 2 else []
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_rule.setdefault(f["rule"], []).append(f)
    lines = ["**Top findings**", ""]
    whys = []  # (index of a block's summary line, why line)
    for group in list(by_rule.values())[:MAX_TOP_FINDINGS]:
        block = _finding(group, room - len(lines) - 1)
        if not block:
            break
        whys.append((len(lines) + 2, _why(group[0].get("rationale") or "")))
        lines += [*block, ""]
    if len(by_rule) > MAX_TOP_FINDINGS:
        more = sum(len(g) for g in list(by_rule.values())[MAX_TOP_FINDINGS:])
        lines += [f"… and {more} more finding(s); the HTML report has every fix.", ""]
    if len(lines) > room:
        return lines[: max(0, room)]
    # In the lines left over, each block's "why" under its summary, first blocks first.
    spare = (room - len(lines)) // 2
    chosen = [(at, why) for at, why in whys if why][:spare]
    for at, why in reversed(chosen):
        lines[at + 1 : at + 1] = ["", why]
    return lines


def _why(rationale: str) -> str:
    """The first sentence of the rule's rationale (its first paragraph, cut), as one line:
    why the evidence means what the title says."""
    para = " ".join(rationale.strip().split("\n\n", 1)[0].split())
    spans = markup.code_spans(para)
    ends = (m.start() for m in SENTENCE_END.finditer(para))
    end = next((e for e in ends if not any(a < e < z for a, z in spans)), len(para))
    sentence = _cut_markdown(para[:end], MAX_PARAGRAPH)
    return f"_Why we think so:_ {_escape_outside_code(sentence)}" if sentence else ""


def _finding(group: list[dict[str, Any]], room: int) -> list[str]:
    f = group[0]
    sessions = ", ".join(dict.fromkeys(str(g["session"] or "capture") for g in group))
    head = f"**{f['severity'].upper()}** {escape(f['title'])} (`{f['rule']}`; {escape(sessions)})"
    block = [head, "", _escape_outside_code(" ".join(f["summary"].split()))]
    fix = _fix_excerpt(f.get("fix") or "", max(0, room - len(block) - 2))
    if fix and len(block) + 1 + len(fix) <= room:
        return [*block, "", *fix]
    return block if len(block) <= room else []


def _fix_excerpt(fix: str, room: int) -> list[str]:
    """The fix's first code block (trimmed to fit), else its first paragraph."""
    code = _first_code(fix)
    if code is not None and room >= 3:
        lang, body = code
        keep = body[: min(MAX_CODE_LINES, room - 2)]
        if len(keep) < len(body):
            keep = [*keep[:-1], "# …"] if keep else []
        ticks = "`" * max(
            3, 1 + max((len(r) for r in re.findall(r"`+", "\n".join(keep))), default=0)
        )
        return [f"{ticks}{lang}", *keep, ticks]
    para = _first_paragraph(fix)
    return [para] if para and room >= 1 else []


def _first_code(fix: str) -> tuple[str, list[str]] | None:
    lines = fix.splitlines()
    for i, line in enumerate(lines):
        if m := FENCE.match(line):
            indent = len(line) - len(line.lstrip())
            body = []
            for inner in lines[i + 1 :]:
                if inner.strip().startswith(m[1]):
                    return m[2] or "", body
                body.append(inner[indent:] if not inner[:indent].strip() else inner.lstrip())
            return m[2] or "", body
    return None


def _first_paragraph(fix: str) -> str:
    para = " ".join(fix.strip().split("\n\n", 1)[0].split())
    return _escape_outside_code(_cut_markdown(para, MAX_PARAGRAPH))


def _cut_markdown(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters at a space, never inside a code span: an
    unclosed span would turn the quoted capture text in it back into live Markdown."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    cut = limit - 1 if cut <= 0 else cut
    for a, z in markup.code_spans(text):
        if a < cut < z:
            cut = a
            break
    # A trailing backslash would escape the space before the ellipsis and show itself.
    return text[:cut].rstrip().rstrip("\\") + " …"


def _escape_outside_code(text: str) -> str:
    """Rule Markdown keeps its code spans, escapes and emphasis; raw HTML and table pipes
    do not. Backslash escapes are kept whole, so `\\<` is never turned into `\\\\<`."""
    out, last = [], 0
    for a, z in [*markup.code_spans(text), (len(text), len(text))]:
        out.append(RAW.sub(lambda m: m[1] or "\\" + m[2], text[last:a]))
        out.append(text[a:z])
        last = z
    return "".join(out)


# What to attach next time ------------------------------------------------------------


def _attach(result: Analysis) -> list[str]:
    items = _attach_items(result)[:MAX_ATTACH]
    return ["**Attach next time**", "", *(f"- {i}" for i in items)] if items else []


def _attach_items(result: Analysis) -> list[str]:
    """What the next capture or log would settle, from what this one could not show."""
    s = result.data.sessions
    cats = {f["category"] for f in result.findings}
    facts = capture_facts(result.data.captures)
    have = set(result.data.log_events["side"].to_list())  # whose logs are already here
    items = []
    if s.is_empty():
        items.append(
            "a capture that contains the WebSocket connection: started before the client "
            "connects, on the client host, with no port filter that misses a proxy's port"
        )
    if facts["encrypted_sessions"] or "encrypted" in s["kind"].to_list():
        items.append(
            "a TLS key log (`SSLKEYLOGFILE=keys.log` in the client's environment, then "
            "`--keylog keys.log`): encrypted sessions hide their frames"
        )
    if facts["recovered_sessions"] or not all(s["syn_seen"].to_list()):
        items.append("a capture started before the client connects, so it includes the handshake")
    if "proxy-interference" in cats or _proxied(s):
        items += _proxy_items(s, have)
    if facts["lost_segments"] or facts["truncated_packets"]:
        items.append(
            "a capture on the client host itself with `-s 0 -B 16384`: this one lost "
            f"{facts['lost_segments']} segment(s), {facts['truncated_packets']} packet(s) truncated"
        )
    if cats & {"handshake-failure"} and not have & {"server", "proxy"}:
        items.append("the server/proxy access log line for the refused upgrade (status, reason)")
    if cats & {"idle-timeout", "keepalive-misuse", "missing-close", "ping-timeout"} and (
        "client" not in have
    ):
        items.append("the client application's log for the same minutes (SDK debug logging on)")
    if cats & {"server-error", "idle-timeout", "protocol-error"}:
        items += _request_id_items(s)
    if items or have:
        return items  # with logs already here, nothing more to ask for is a real answer
    return ["client and server logs (UTC timestamps) covering the capture's minutes"]


def _proxy_items(sessions: Any, have: set[str]) -> list[str]:
    """What a proxied session still lacks: the proxy's upstream leg, the proxy's logs."""
    wanted = [] if _both_legs(sessions) else ["a capture of the proxy ↔ server leg (same minutes)"]
    wanted += [] if "proxy" in have else [_proxy_logs(sessions)]
    return [" and ".join(wanted)] if wanted else []


def _request_id_items(sessions: Any) -> list[str]:
    """The request id Deepgram support asks for, when a session carries one."""
    column = sessions["dg_request_id"].to_list() if "dg_request_id" in sessions.columns else []
    ids = [i for i in column if i]
    if not ids:
        return []
    return [f"the `dg-request-id` (e.g. {escape(ids[0])}) when you contact Deepgram support"]


def _software(sessions: Any) -> list[str]:
    return [v for v in sessions["server_software"].to_list() + sessions["via"].to_list() if v]


def _both_legs(sessions: Any) -> bool:
    """The capture holds a proxy's upstream leg too: a session starts at a host that is
    another session's server (the proxy dialling on)."""
    hosts = sessions.select(
        host(pl.col("client")).alias("c"), host(pl.col("server")).alias("s")
    ).drop_nulls()
    return bool(set(hosts["c"]) & set(hosts["s"]))


def _proxied(sessions: Any) -> bool:
    found = any(PROXIES.search(v) for v in _software(sessions))
    return found or "CONNECT" in sessions["method"].to_list()


PROXY_LOGS = {
    "nginx": "nginx's `error.log` at `info` level",
    "haproxy": "HAProxy's log (its termination state says who closed)",
    "squid": "Squid's `access.log`",
    "envoy": "Envoy's access log (response flags)",
}


def _proxy_logs(sessions: Any) -> str:
    seen = " ".join(_software(sessions)).lower()
    named = [hint for name, hint in PROXY_LOGS.items() if name in seen]
    return " and ".join(named) if named else "the proxy's logs for the same minutes"
