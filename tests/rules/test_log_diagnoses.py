"""Logs alone, and logs with their capture: what wsdoctor concludes, and why.

The corpus client logs were written by the real clients while each sample was recorded.
A log states what the application saw (the close code and reason it received, a refused
upgrade, a ping timeout, 1006), not what the wire did: where the capture's diagnosis rests
on wire facts a log cannot hold, the log-only diagnosis is narrower, and says so here.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest

from analyzer.inputs import classify
from analyzer.pipeline import load
from analyzer.rules.engine import evaluate
from analyzer.rules.model import SEVERITIES

from conftest import SAMPLES, builtin_rules, loaded, loaded_together

SAME_AS_CAPTURE = {
    "idle-1011": {"idle-timeout": "high"},
    "node-idle-1011": {"idle-timeout": "high"},
    "nginx-idle-1011": {"idle-timeout": "high"},
    "client-ping-timeout": {"ping-timeout": "high"},
    "close-and-drop": {"missing-close": "medium"},
    "data-error-1008": {"protocol-error": "high"},
    "message-too-big-1009": {"protocol-error": "high"},
    "handshake-401": {"handshake-failure": "high"},
    "handshake-400": {"handshake-failure": "high"},
    # Through Envoy: the server's 1011 is relayed; a server RST reaches the client as 1006.
    "envoy-idle-1011": {"idle-timeout": "high"},
    "envoy-server-reset": {"missing-close": "high"},
    "envoy-h2-server-reset": {"missing-close": "high"},
}
NARROWER = {
    # The log sees 1006; only the wire shows the RST's foreign TTL (proxy-interference).
    "forged-rst": {"missing-close": "high"},
    # The client log sees 1006; the proxy's own log (next test) or the capture's 60 s /
    # 30 s two-way silence shows who cut it.
    "nginx-read-timeout": {"missing-close": "high"},
    "haproxy-tunnel-timeout": {"missing-close": "high"},
    # The 426 is in the log; that nginx relayed it (Server header) only on the wire.
    "nginx-no-upgrade": {"handshake-failure": "high"},
    # The client sees Envoy's 403 / 503 and the 300 s teardown as 1006; that Envoy itself
    # answered or timed out is in Envoy's access log (next tests) and on the wire.
    "envoy-no-upgrade": {"handshake-failure": "high"},
    "envoy-no-upstream": {"handshake-failure": "high"},
    "envoy-stream-idle": {"missing-close": "high"},
    # A killed client logs nothing about its end.
    "client-killed": {},
    "node-client-killed": {},
    "envoy-client-killed": {},
    # The binary KeepAlive / empty binary frame is in the DEBUG frame lines, which no
    # rule reads yet; the log alone shows a 1011 NET-0000 / a normal 1000 close.
    "keepalive-binary": {},
    "empty-binary": {},
    # The client sees no close frame (1006); that the hop closed both legs after the same
    # 17 s silence (Apache), or stopped intercepting (mitmproxy), is only on the wire.
    "apache-idle-17s": {"missing-close": "high"},
    "apache-idle-17s-client-leg": {"missing-close": "high"},
    "mitmproxy-intercept-stop": {"missing-close": "high"},
    # The client received close 1001 and echoed it: a clean close as far as it can tell;
    # that Caddy, not the origin, sent it shows only on the wire (proxy-sent-close).
    "caddy-stop-1001": {},
    "caddy-stop-1001-client-leg": {},
    # The client sent close 1000 and its library gave up after 3 s with no close frame
    # back (websocket-client's trace and the lab script's line): as the capture says.
    "close-unanswered": {"missing-close": "medium"},
    # The path died silently: the client's log ends with the connection still open.
    "silent-path-death": {},
    # The log states the NET-0001 close the truncated capture cannot read; the capture
    # alone says only that it is truncated.
    "snaplen-truncated": {"idle-timeout": "high"},
}
HEALTHY = ["clean-close", "deflate-stream", "ipv6-cooked", "lossy-stream", "vlan-tagged"]
HEALTHY += ["wss-keylog", "hostile-text", "mid-session"]
# The client's own session is healthy; the refused connection in the capture is another
# client's (a raw malformed request to Envoy, a CONNECT Squid denies: client-denied.log).
HEALTHY += ["envoy-bad-request", "squid-connect"]
HEALTHY += ["tinyproxy-connect-ws"]  # through an HTTP CONNECT tunnel, KeepAlives, close 1000


def _categories(findings: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in findings:
        out[f["category"]] = max(
            out.get(f["category"], "info"), f["severity"], key=SEVERITIES.index
        )
    return out


def _diagnose(data: Any) -> list[dict[str, Any]]:
    tables = {"frames": data.frames, "anomalies": data.anomalies}
    return evaluate(builtin_rules(), data.sessions, tables)


EXPECTED = {**SAME_AS_CAPTURE, **NARROWER, **{name: {} for name in HEALTHY}}


def test_every_corpus_client_log_has_an_expected_diagnosis() -> None:
    """A new scenario cannot skip this file: every client log of the corpus is listed."""
    logs = {p.parent.name for p in SAMPLES.glob("*/client.log")}
    assert logs - {"not-websocket"} == set(EXPECTED)  # not-websocket: a curl trace


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_client_log_alone(name: str) -> None:
    data = loaded(SAMPLES / name / "client.log")
    assert data.sessions.height == 1 and data.sessions["source"].to_list() == ["log"]
    findings = _diagnose(data)
    assert _categories(findings) == EXPECTED[name], [(f["rule"], f["summary"]) for f in findings]
    for f in findings:  # every log-based finding cites its line
        assert any(
            e.get("log", "").startswith(str(SAMPLES / name / "client.log")) for e in f["evidence"]
        )


@pytest.mark.parametrize("name", sorted(SAME_AS_CAPTURE))
def test_log_only_categories_match_the_capture(name: str) -> None:
    capture = next(p for p in (SAMPLES / name).glob("capture.pcap*"))
    first = _categories([f for f in _diagnose(loaded(capture)) if f["session"] == "s1"])
    assert first == SAME_AS_CAPTURE[name]


@pytest.mark.parametrize(
    ("name", "proxy_log"),
    [
        ("nginx-read-timeout", "nginx-error.log"),
        ("haproxy-tunnel-timeout", "haproxy.log"),
        ("envoy-stream-idle", "envoy-access.log"),
        ("envoy-no-upgrade", "envoy-access.log"),
        ("envoy-no-upstream", "envoy-access.log"),
        ("squid-connect", "squid-access.log"),
    ],
)
def test_proxy_log_names_the_proxy(name: str, proxy_log: str) -> None:
    data = loaded(SAMPLES / name / proxy_log)
    assert "proxy-interference" in _categories(_diagnose(data))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_capture_and_log_make_one_session_per_connection(name: str) -> None:
    """Every corpus client log with its capture: no extra session, every event attached,
    the clock offset stated (one machine's clock: ~0), findings cite the log's lines."""
    folder = SAMPLES / name
    capture = next(folder.glob("capture.pcap*"))
    keys = folder / "keys.log"
    keylog = keys if keys.exists() else None
    alone = loaded(capture, keylog)
    both = loaded_together(capture, folder / "client.log", keylog=keylog)
    assert both.sessions.height == alone.sessions.height
    assert set(both.sessions["source"]) == {"capture"}
    [facts] = both.logs
    assert facts["offset_s"] is not None and abs(facts["offset_s"]) < 0.5
    assert facts["matched"] == facts["events"] > 0
    found = _diagnose(both)
    cited = [e for f in found for e in f["evidence"] if "log" in e]
    assert all(e["log"].startswith(str(folder / "client.log") + ":") for e in cited)
    # Whose log, when the pack can tell (a bare exception line may not say).
    assert all(e["text"].startswith(("The client's log", "The log")) for e in cited)
    # Every finding about a connection the log also describes cites the log's line.
    told = set(both.sessions.filter(pl.col("log_events") > 0)["id"])
    assert told and all(
        any("log" in e for e in f["evidence"]) for f in found if f["session"] in told
    )


def test_report_draws_log_events_and_cites_lines() -> None:
    from analyzer.pipeline import Analysis, describe_inputs, diagnose
    from analyzer.report import html

    folder = SAMPLES / "nginx-read-timeout"
    data = load(
        classify(
            [folder / "capture.pcap", folder / "client.log"], {"log": [folder / "nginx-error.log"]}
        )
    )
    rules = builtin_rules()
    text = html.render(Analysis(data, rules, diagnose(rules, data), describe_inputs(data)))
    tips = re.findall(r'class="tl-log"><title>([^<]*)</title>', text)
    assert any("nginx-error.log:7 " in t and "proxy timeout" in t for t in tips)
    assert any("client.log:42 " in t and "abnormal close" in t for t in tips)
    assert f"{folder / 'nginx-error.log'}:7" in text  # cited as evidence of a finding
    assert "Clock offset vs capture" in text and "zone assumed" in text  # nginx logs no zone


@pytest.mark.parametrize("name", ["haproxy-tunnel-timeout"])
def test_client_and_proxy_logs_tell_one_connection(name: str) -> None:
    """The client's log (1006) and the proxy's (timeout, client port named) merge into one
    log session whose diagnosis equals the capture's for that leg."""
    folder = SAMPLES / name
    data = loaded_together(folder / "client.log", folder / "haproxy.log")
    assert data.sessions.height == 1
    capture = _categories(
        [f for f in _diagnose(loaded(folder / "capture.pcap")) if f["session"] == "s1"]
    )
    assert (
        _categories(_diagnose(data))
        == capture
        == {"proxy-interference": "high", "missing-close": "high"}
    )
