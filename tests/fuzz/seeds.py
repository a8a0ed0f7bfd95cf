"""The real files the mutators start from. Small ones only: every mutant runs the whole CLI.

Files under ../shared are read in place, never copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_captures"
RULES = REPO / "rules"
SHARED = REPO.parent / "shared"

_CAPTURES = [
    "sample_captures/data-error-1008/capture.pcap",
    "sample_captures/deflate-stream/capture.pcap",
    "sample_captures/handshake-400/capture.pcap",
    "sample_captures/handshake-401/capture.pcap",
    "sample_captures/envoy-no-upgrade/capture.pcap",
    "sample_captures/nginx-no-upgrade/capture.pcap",
    "sample_captures/idle-1011/capture.pcap",
    "sample_captures/ipv6-cooked/capture.pcapng",
    "../shared/zeek-traces/oversized-close-frame.pcapng",
    "../shared/zeek-traces/two-binary-fragments.pcap",
    "../shared/zeek-traces/reply-ping-coalesced.pcap",
    "../shared/zeek-traces/message-too-big-status.pcap",
    "../shared/zeek-traces/wrong-accept-header.pcap",
    "../shared/zeek-traces/broker-websocket.pcap",
    "../shared/zeek-traces/wstunnel-http.pcap",
    "../shared/external-captures/sv-websocket-compressed.pcap",
    "../shared/external-captures/sv-websocket-control-frag.pcap",
    "../shared/external-captures/ndpi-websocket-midstream.pcap",
    "../shared/external-captures/arkime-websocket.pcap",
    "../shared/external-captures/zeek-http-websocket.pcap",
    "../shared/external-captures/ndpi-false_positives.pcapng",
]

_LOGS = [
    "sample_captures/data-error-1008/client.log",
    "sample_captures/data-error-1008/server.log",
    "sample_captures/deflate-stream/client.log",
    "sample_captures/close-and-drop/client.log",
    "sample_captures/envoy-bad-request/envoy-access.log",
    "sample_captures/envoy-no-upstream/envoy-access.log",
    "sample_captures/envoy-bad-request/proxy.log",
]

_HARS = [
    "sample_captures/browser-har/session.har",
    "sample_captures/browser-har/firefox/session.har",
    "sample_captures/browser-har-capture/session.har",
]


def _existing(names: list[str]) -> list[Path]:
    """The seeds that exist, as REPO-based paths: `../shared` may be a symlink, so they
    are normalised (no `..`) but not resolved, and `display` can name them."""
    return [p for p in (Path(os.path.normpath(REPO / n)) for n in names) if p.is_file()]


def captures() -> list[Path]:
    return _existing(_CAPTURES)


def logs() -> list[Path]:
    found = _existing(_LOGS)
    # every log pack's own example lines are real lines of that tool: a seed per pack
    return found


def hars() -> list[Path]:
    return _existing(_HARS)


def rule_files() -> list[Path]:
    return sorted(p for p in RULES.glob("*/*.yaml") if p.parent.name != "logs")


def log_packs() -> list[Path]:
    return sorted((RULES / "logs").glob("*.yaml"))


def display(path: Path) -> str:
    """A seed's name relative to the repository (../shared/... for shared files)."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return "../" + str(path.relative_to(REPO.parent))
