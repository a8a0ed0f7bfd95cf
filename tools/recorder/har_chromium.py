"""Record a real browser HAR: headless Chromium -> the Deepgram emulator, idle-1011 case.

Why: support engineers often get a HAR exported from Chrome DevTools instead of a packet
capture. This script produces one from a real browser so the HAR ingestion is tested on
what Chromium actually reports, not on a hand-written file.

What it does (everything on 127.0.0.0/8):
1. starts ``emulator.py`` on 127.0.0.21 (``--log server.log``) and ``python -m http.server``
   on 127.0.0.21 serving a one-file page (a ``file://`` page may not open ws://);
2. starts ``chromium --headless --remote-debugging-port`` on 127.0.0.1 and drives the page
   over the DevTools protocol (CDP) with the ``websockets`` client, ``Network`` enabled;
3. the page opens ``ws://127.0.0.21:PORT/v1/listen?...`` with the browser auth form
   (subprotocols ``token, <fake key>``), streams 1.5 s of 16-bit PCM in 100 ms binary
   chunks, sends one text ``{"type": "KeepAlive"}`` and goes silent; the emulator closes
   1011 NET-0001 ~10 s later;
4. the ``Network.webSocket*`` events are turned into a HAR 1.2 entry the way Chrome
   DevTools exports WebSockets (``_resourceType: "websocket"``, ``_webSocketMessages``
   ``[{type, time, opcode, data}]``, binary data base64, ``time`` in epoch seconds).

Run (from the repository root): ``.venv/bin/python -m tools.recorder.har_chromium [--out DIR]
[--capture]`` (default ``sample_captures/browser-har``). Writes ``session.har``, ``server.log``,
``cdp-events.json`` (the raw CDP events, for checking the conversion, plus the page's own
``onclose`` code and reason as ``page.onclose``) and ``record.log``. ``--capture`` (root)
also records the same connection with tcpdump on ``lo`` into ``capture.pcap`` (filter:
the emulator's host and port), so HAR and capture of one connection can be read together.

Chromium's CDP reports data frames only: there is no event for a close frame (nor for
pings/pongs), and ``Network.webSocketClosed`` carries just a timestamp. So, exactly like a
DevTools export, the HAR written here holds no close message even though the server sent
close 1011; the close code/reason the page saw is kept in ``cdp-events.json`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

RECORDER_DIR = Path(__file__).resolve().parent
SAMPLES = RECORDER_DIR.parents[1] / "sample_captures"
DEFAULT_OUT = SAMPLES / "browser-har"
# The emulator runs as a module of this package: the repository root must be on the path
# (run the recorder from there).
EMULATOR = (sys.executable, "-m", f"{__package__}.emulator")
SERVER_ADDR = "127.0.0.21"
CDP_ADDR = "127.0.0.1"
QUERY = "encoding=linear16&sample_rate=16000&channels=1&model=nova-3"
FAKE_KEY = "FAKEKEYdeadbeef0123456789abcdef012345678"  # obviously fake, 40 word chars
WS_EVENTS = (
    "Network.webSocketCreated",
    "Network.webSocketWillSendHandshakeRequest",
    "Network.webSocketHandshakeResponseReceived",
    "Network.webSocketFrameSent",
    "Network.webSocketFrameReceived",
    "Network.webSocketFrameError",
    "Network.webSocketClosed",
)
# The page's audio source, shared with har_firefox.py's page.
TONE_JS = """\
function chunk(n) {  // 100 ms of a 440 Hz tone, 16 kHz linear16 (audio-like bytes)
  const pcm = new Int16Array(1600);
  for (let i = 0; i < pcm.length; i++)
    pcm[i] = Math.round(8000 * Math.sin(2 * Math.PI * 440 * (n * 1600 + i) / 16000));
  return pcm.buffer;
}
"""
PAGE = """<!doctype html><meta charset="utf-8"><title>recording</title>
<script>
const url = "ws://%(host)s:%(port)d/v1/listen?%(query)s";
const ws = new WebSocket(url, ["token", "%(key)s"]);
ws.binaryType = "arraybuffer";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
%(tone)sws.onopen = async () => {
  for (let n = 0; n < 15; n++) { ws.send(chunk(n)); await sleep(100); }
  ws.send(JSON.stringify({type: "KeepAlive"}));
  // then silence: the server's inactivity window (10 s) runs out
};
ws.onclose = (e) => { document.title = "closed " + e.code + " " + e.reason; };
</script>
"""


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_line(proc: subprocess.Popen[str], needle: str, timeout: float = 10.0) -> None:
    """Block until a child prints its readiness line (the emulator's 'listening on')."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if needle in line:
            return
        if not line and proc.poll() is not None:
            break
    raise RuntimeError(f"child did not print {needle!r}")


def page_target(port: int, timeout: float = 15.0) -> str:
    """The page's CDP WebSocket URL, once Chromium's debugging endpoint answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{CDP_ADDR}:{port}/json/list", timeout=2) as r:
                targets = json.load(r)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("Chromium's DevTools endpoint did not come up")


async def drive(cdp_url: str, page_url: str, limit: float) -> list[dict[str, Any]]:
    """Navigate with Network enabled; collect WebSocket events until webSocketClosed."""
    events: list[dict[str, Any]] = []
    async with connect(cdp_url, max_size=None) as cdp:
        await cdp.send(json.dumps({"id": 1, "method": "Network.enable"}))
        while json.loads(await asyncio.wait_for(cdp.recv(), 10)).get("id") != 1:
            pass  # navigate only once Network is on, or webSocketCreated may be missed
        await cdp.send(
            json.dumps({"id": 2, "method": "Page.navigate", "params": {"url": page_url}})
        )
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                raw = await asyncio.wait_for(cdp.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            msg = json.loads(raw)
            if msg.get("method") in WS_EVENTS:
                events.append(msg)
                if msg["method"] == "Network.webSocketClosed":
                    break
        events.append(await _page_close(cdp))
    return events


async def _page_close(cdp: Any) -> dict[str, Any]:
    """What the page's `onclose` saw (code and reason): CDP reports no close frames, so
    this is the only browser-side record of them. Kept beside the HAR, never inside it."""
    expr = {"expression": "document.title", "returnByValue": True}
    await cdp.send(json.dumps({"id": 3, "method": "Runtime.evaluate", "params": expr}))
    while True:
        msg = json.loads(await asyncio.wait_for(cdp.recv(), 10))
        if msg.get("id") == 3:
            title = msg["result"]["result"].get("value", "")
            return {"method": "page.onclose", "params": {"document.title": title}}


def _headers(mapping: dict[str, str]) -> list[dict[str, str]]:
    """CDP gives headers as an object (repeated ones joined by newlines); HAR wants a list."""
    return [{"name": k, "value": v} for k, vs in mapping.items() for v in str(vs).split("\n")]


def _iso(epoch: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{stamp}.{int(epoch % 1 * 1000):03d}Z"


def har_from_events(events: list[dict[str, Any]], version: str) -> dict[str, Any]:
    """One HAR entry per WebSocket, shaped like a Chrome DevTools export."""
    by_id: dict[str, dict[str, Any]] = {}
    for ev in events:
        if "requestId" not in ev["params"]:
            continue
        by_id.setdefault(ev["params"]["requestId"], {}).setdefault(ev["method"], []).append(
            ev["params"]
        )
    entries = [_entry(ws) for ws in by_id.values() if "Network.webSocketCreated" in ws]
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "wsdoctor har_chromium.py (CDP)", "version": "1"},
            "browser": {"name": "Chromium", "version": version},
            "pages": [],
            "entries": entries,
        }
    }


def _entry(ws: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    created = ws["Network.webSocketCreated"][0]
    will = ws["Network.webSocketWillSendHandshakeRequest"][0]
    resp = ws.get("Network.webSocketHandshakeResponseReceived", [{}])[0].get("response", {})
    # CDP timestamps are monotonic seconds; wallTime pins them to the epoch (as DevTools does).
    offset = will["wallTime"] - will["timestamp"]
    url = created["url"]
    closed = ws.get("Network.webSocketClosed", [{}])[0].get("timestamp")
    return {
        "startedDateTime": _iso(will["wallTime"]),
        # request -> webSocketClosed in ms, as DevTools' request duration
        "time": round((closed - will["timestamp"]) * 1000, 3) if closed else 0,
        "request": {
            "method": "GET",
            "url": url,
            "httpVersion": "HTTP/1.1",
            "headers": _headers(resp.get("requestHeaders") or will["request"]["headers"]),
            "queryString": [
                {"name": k, "value": v}
                for k, _, v in (p.partition("=") for p in url.partition("?")[2].split("&") if p)
            ],
            "cookies": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": resp.get("status", 0),
            "statusText": resp.get("statusText", ""),
            "httpVersion": "HTTP/1.1",
            "headers": _headers(resp.get("headers", {})),
            "cookies": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": 0,
        },
        "cache": {},
        "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0, "wait": 0, "receive": 0},
        "_resourceType": "websocket",
        "_webSocketMessages": _messages(ws, offset),
    }


def _messages(ws: dict[str, list[dict[str, Any]]], offset: float) -> list[dict[str, Any]]:
    """Every frame CDP reported, in time order, exactly as received (no close invented)."""
    out = [
        {
            "type": kind,
            "time": ev["timestamp"] + offset,
            "opcode": ev["response"]["opcode"],
            "data": ev["response"]["payloadData"],
        }
        for method, kind in (
            ("Network.webSocketFrameSent", "send"),
            ("Network.webSocketFrameReceived", "receive"),
        )
        for ev in ws.get(method, [])
    ]
    return sorted(out, key=lambda m: m["time"])


@contextmanager
def browser_on_page(host: str, html: str) -> Iterator[tuple[str, str, int, list[list[str]]]]:
    """Serve `html` from `host` and start headless Chromium with DevTools on CDP_ADDR.

    Yields (page's CDP WebSocket URL, page URL, CDP port, the commands started); stops
    both and deletes their temporary folders on the way out.
    """
    http_port, cdp_port = free_port(host), free_port(CDP_ADDR)
    site = Path(tempfile.mkdtemp(prefix="wsdoctor-site-"))
    profile = Path(tempfile.mkdtemp(prefix="wsdoctor-profile-"))
    (site / "index.html").write_text(html)
    chromium = shutil.which("chromium") or "chromium"
    commands = [
        [sys.executable, "-m", "http.server", "--bind", host, "--directory", str(site),
         str(http_port)],
        [chromium, "--headless", "--no-sandbox", f"--remote-debugging-port={cdp_port}",
         f"--remote-debugging-address={CDP_ADDR}", f"--user-data-dir={profile}", "about:blank"],
    ]  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for argv in commands:
            procs.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        yield page_target(cdp_port), f"http://{host}:{http_port}/", cdp_port, commands
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(site, ignore_errors=True)


@contextmanager
def packet_capture(pcap: Path | None, bpf: str) -> Iterator[list[str]]:
    """tcpdump on lo while the block runs (nothing when `pcap` is None).

    Yields the command; waits for tcpdump's "listening on" so the SYN is not missed, and
    stops it with SIGINT so it flushes the file.
    """
    if pcap is None:
        yield []
        return
    argv = ["tcpdump", "-i", "lo", "-U", "-Z", "root", "-w", str(pcap), bpf]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    if "listening on" not in proc.stderr.readline():
        proc.kill()
        raise RuntimeError(f"tcpdump did not start: {' '.join(argv)}")
    time.sleep(0.3)
    try:
        yield argv
    finally:
        time.sleep(2.0)  # the kernel hands packets over in blocks (1 s timeout): let it
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def record(out: Path, capture: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ws_port = free_port(SERVER_ADDR)
    page = PAGE % {
        "host": SERVER_ADDR,
        "port": ws_port,
        "query": QUERY,
        "key": FAKE_KEY,
        "tone": TONE_JS,
    }
    emulator = [*EMULATOR, "--host", SERVER_ADDR,
                "--port", str(ws_port), "--log", str(out / "server.log")]  # fmt: skip
    pcap = out / "capture.pcap" if capture else None
    bpf = f"host {SERVER_ADDR} and tcp port {ws_port}"
    with packet_capture(pcap, bpf) as tcpdump:
        server = subprocess.Popen(emulator, stdout=subprocess.PIPE, text=True)
        try:
            wait_line(server, "listening on")
            with browser_on_page(SERVER_ADDR, page) as (cdp_url, page_url, cdp_port, commands):
                events = asyncio.run(drive(cdp_url, page_url, 40.0))
                version = _browser_version(cdp_port)
        finally:
            server.terminate()
            server.wait(timeout=10)
    commands = [emulator, *commands] + ([tcpdump] if tcpdump else [])
    (out / "cdp-events.json").write_text(json.dumps(events, indent=1) + "\n")
    (out / "session.har").write_text(json.dumps(har_from_events(events, version), indent=2) + "\n")
    (out / "record.log").write_text("\n".join(" ".join(c) for c in commands) + "\n")
    print(f"{len(events)} CDP WebSocket events -> {out / 'session.har'}")


def _browser_version(port: int) -> str:
    with urllib.request.urlopen(f"http://{CDP_ADDR}:{port}/json/version", timeout=2) as r:
        return json.load(r).get("Browser", "").partition("/")[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--capture", action="store_true", help="also tcpdump it (root)")
    args = parser.parse_args()
    record(args.out, args.capture)


if __name__ == "__main__":
    main()
