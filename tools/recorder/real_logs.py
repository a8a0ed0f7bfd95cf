"""Record REAL client log lines (browser, Node, Deepgram SDKs, Go, OkHttp, Mono) vs the emulator.

Why: the log pattern packs in ``rules/logs/`` were first written from strings copied out of
docs. This script runs the real clients against ``emulator.py`` on 127.0.0.21 and keeps
exactly what they print, so the packs' ``examples:`` and the tests replay real lines.

Three cases per tool where the tool allows (everything on 127.0.0.0/8):

* ``401``: an upgrade without usable credentials -> the emulator's 401 INVALID_AUTH;
* ``refused``: a connection to a closed port on 127.0.0.21 (nothing listens there);
* ``idle-1011``: a valid upgrade, 1 s of audio, then silence -> close 1011 NET-0001;
* ``abrupt`` and ``reset`` (okhttp, dotnet): a valid upgrade and audio, then another
  emulator (``--stall-after``, then stopped) drops the TCP connection without a close frame:
  a FIN after 1 s of audio (``abrupt``), a RST while 4 s of audio still flow (``reset``;
  ``real_logs_common.abrupt_emulator``).

Tools:

* ``browser``: headless Debian ``chromium`` driven over CDP with ``websockets`` (as
  ``har_chromium.py``); ``Runtime.consoleAPICalled`` and ``Log.entryAdded`` are kept raw
  (``cdp-console.json``) and rendered one line each (``console.log``) the way the DevTools
  console shows them, prefixed with the event's own timestamp (ISO 8601, UTC);
* ``node-ws``: ``ws`` from npm (installed into WORKDIR, never globally), a tiny client that
  prints what a typical app prints (``console.error(err)`` with Node's own formatting);
* ``deepgram-python-sdk``: ``deepgram-sdk==3.*`` in a throwaway venv under WORKDIR, its
  ``LiveClient`` with ``verbose=DEBUG``; its stdout/stderr are the log;
* ``deepgram-js-sdk``: ``@deepgram/sdk@4`` from npm into WORKDIR, its live client;
* ``go``: one Go program on ``github.com/gorilla/websocket`` and ``nhooyr.io/websocket``
  (coder/websocket's former import path), built in GOPATH mode from Debian's packaged
  sources (``golang-go``, ``golang-github-gorilla-websocket-dev``,
  ``golang-nhooyr-websocket-dev``; apt-installed when missing, as root), because the Go
  module proxy is not reachable here; errors go through ``log.Printf`` (Go's default
  ``2026/11/22 00:40:01`` timestamp);
* ``okhttp``: a Java 17 app on Debian's OkHttp 3.13.1 (``real_logs_jvm.py``);
* ``dotnet``: a C# app on Mono 6.8's ``ClientWebSocket`` (corefx's managed implementation;
  Debian's Mono, not Microsoft .NET) (``real_logs_dotnet.py``);
* ``pino`` and ``python-json-logger``: JSON-lines logs from those two JSON loggers (a ``ws``
  app logging with pino 9; ``websockets``' own loggers through python-json-logger's
  ``JsonFormatter``), for the ``jsonl`` pack (``real_logs_jsonl.py``).

Run (from the repository root): ``.venv/bin/python -m tools.recorder.real_logs [--out DIR]
[--workdir DIR] [--only TOOL ...]``. Default out ``sample_captures/real-logs``, workdir
``/tmp/wsdoctor-real-logs`` (npm/pip installs happen there when missing; a tool whose
install fails is skipped with a message).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from .har_chromium import SAMPLES, browser_on_page, free_port
from .real_logs_common import (
    FAKE_KEY,
    HOST,
    IDLE,
    QUERY,
    abrupt_emulator,
    apt_install,
    build,
    deb_version,
    emulator,
    npm_install,
    run_logged,
    venv_python,
)
from .real_logs_dotnet import record_dotnet
from .real_logs_jsonl import record_pino, record_python_json_logger
from .real_logs_jvm import record_okhttp

DEFAULT_OUT = SAMPLES / "real-logs"
DEFAULT_WORK = Path("/tmp/wsdoctor-real-logs")
TOOLS = (
    "browser",
    "node-ws",
    "deepgram-python-sdk",
    "deepgram-js-sdk",
    "go",
    "okhttp",
    "dotnet",
    "pino",
    "python-json-logger",
)

PAGE = """<!doctype html><meta charset="utf-8"><title>recording</title>
<script>
const base = "ws://%(host)s:%(port)d/v1/listen?%(query)s";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function watch(name, ws) {
  ws.onerror = (e) => console.log(name, "error", e.type);
  return new Promise((done) => {
    ws.onclose = (e) => {
      console.log("close", e.code, e.reason, e.wasClean);
      console.log(e);
      done();
    };
  });
}
async function run() {
  // 1. no credentials -> 401
  await watch("401", new WebSocket(base));
  // 2. a closed port -> connection refused
  await watch("refused", new WebSocket("ws://%(host)s:%(closed)d/v1/listen?%(query)s"));
  // 3. browser auth form, 1 s of audio, then silence -> close 1011 NET-0001
  const ws = new WebSocket(base, ["token", "%(key)s"]);
  ws.binaryType = "arraybuffer";
  ws.onopen = async () => {
    for (let n = 0; n < 10; n++) { ws.send(new Int16Array(1600).buffer); await sleep(100); }
  };
  await watch("idle", ws);
  document.title = "done";
}
run();
</script>
"""

NODE_WS_CLIENT = r"""
// A tiny app on `ws`: logs what a typical Node app logs for each case.
const WebSocket = require('ws');
const [host, port, closed, key] = process.argv.slice(2);
const url = (p) => `ws://${host}:${p}/v1/listen?%(query)s`;
const stamp = () => new Date().toISOString();
function run(name, p, headers, audio) {
  return new Promise((done) => {
    const ws = new WebSocket(url(p), { headers });
    ws.on('open', async () => {
      console.log(`${stamp()} ${name} open`);
      for (let n = 0; n < audio; n++) {
        ws.send(Buffer.alloc(3200));
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    ws.on('error', (err) => {
      console.log(`${stamp()} ${name} error: ${err}`);
      console.error(err);
    });
    ws.on('close', (code, reason) => {
      console.log(`${stamp()} ${name} close ${code} ${reason.toString()}`);
      done();
    });
  });
}
(async () => {
  console.log(`${stamp()} node ${process.version}, ws ${require('ws/package.json').version}`);
  await run('401', port, {}, 0);
  await run('refused', closed, {}, 0);
  await run('idle', port, { Authorization: `Token ${key}` }, 10);
})();
"""

DG_PY_CLIENT = r"""
import logging, sys, time
from importlib.metadata import version
from deepgram import DeepgramClient, DeepgramClientOptions, LiveOptions, LiveTranscriptionEvents

host, port, key = sys.argv[1], sys.argv[2], sys.argv[3]
print(f"deepgram-sdk {version('deepgram-sdk')}, websockets {version('websockets')}", flush=True)
opts = dict(model="nova-3", encoding="linear16", sample_rate=16000, channels=1)


def session(name, headers, audio):
    print(f"--- {name}", flush=True)
    config = DeepgramClientOptions(
        url=f"http://{host}:{port}", verbose=logging.DEBUG, options={"keepalive": "false"},
    )
    conn = DeepgramClient(key, config).listen.websocket.v("1")
    conn.on(LiveTranscriptionEvents.Close, lambda _c, close, **kw: print("on close", close))
    conn.on(LiveTranscriptionEvents.Error, lambda _c, error, **kw: print("on error", error))
    if not conn.start(LiveOptions(**opts), headers=headers):
        print("start failed", flush=True)
        return
    for _ in range(audio):
        conn.send(bytes(3200))
        time.sleep(0.1)
    time.sleep(%(idle)s + 2)
    conn.send(bytes(3200))  # after the server's close: the send() failure line
    conn.finish()


session("401", {"Authorization": "Basic none"}, 0)
session("idle", None, 10)
"""

DG_JS_CLIENT = r"""
const { createClient, LiveTranscriptionEvents } = require('@deepgram/sdk');
const [host, port, key] = process.argv.slice(2);
const stamp = () => new Date().toISOString();
const sdk = require('@deepgram/sdk/package.json').version;
console.log(`${stamp()} node ${process.version}, @deepgram/sdk ${sdk}`);
function session(name, headers, audio) {
  return new Promise((done) => {
    const websocket = { options: { url: `ws://${host}:${port}` } };
    if (headers) websocket.options._nodeOnlyHeaders = headers;
    const dg = createClient(key, { global: { websocket } });
    const opts = { model: 'nova-3', encoding: 'linear16', sample_rate: 16000, channels: 1 };
    const live = dg.listen.live(opts);
    live.on(LiveTranscriptionEvents.Open, async () => {
      console.log(`${stamp()} ${name} open`);
      for (let n = 0; n < audio; n++) {
        live.send(Buffer.alloc(3200));
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    live.on(LiveTranscriptionEvents.Error, (err) => {
      console.log(`${stamp()} ${name} error: ${err && err.message ? err.message : err}`);
      console.error(err);
    });
    live.on(LiveTranscriptionEvents.Close, (e) => {
      console.log(`${stamp()} ${name} close ${e.code} ${e.reason}`);
      done();
    });
  });
}
(async () => {
  await session('401', { Authorization: 'Basic none' }, 0);
  await session('idle', null, 10);
})();
"""


GO_CLIENT = r"""
// A tiny app on gorilla/websocket and nhooyr.io/websocket (coder/websocket's former path):
// logs what a typical Go app logs for each case, with the standard log package.
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"
	nhooyr "nhooyr.io/websocket"
)

const query = "encoding=linear16&sample_rate=16000&channels=1&model=nova-3"

func url(host, port string) string { return "ws://" + host + ":" + port + "/v1/listen?" + query }

func gorilla(name, u string, hdr http.Header, audio int) {
	c, resp, err := websocket.DefaultDialer.Dial(u, hdr)
	if err != nil {
		log.Printf("gorilla %s: dial: %v", name, err)
		if resp != nil {
			log.Printf("gorilla %s: handshake response: %s", name, resp.Status)
		}
		return
	}
	defer c.Close()
	log.Printf("gorilla %s: connected", name)
	for n := 0; n < audio; n++ {
		if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 3200)); err != nil {
			log.Printf("gorilla %s: write: %v", name, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			log.Printf("gorilla %s: read: %v", name, err)
			return
		}
	}
}

func coder(name, u string, hdr http.Header, audio int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := nhooyr.Dial(ctx, u, &nhooyr.DialOptions{HTTPHeader: hdr})
	if err != nil {
		log.Printf("nhooyr %s: %v", name, err)
		return
	}
	defer c.Close(nhooyr.StatusNormalClosure, "")
	log.Printf("nhooyr %s: connected", name)
	for n := 0; n < audio; n++ {
		if err := c.Write(ctx, nhooyr.MessageBinary, make([]byte, 3200)); err != nil {
			log.Printf("nhooyr %s: write: %v", name, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if _, _, err := c.Read(ctx); err != nil {
			log.Printf("nhooyr %s: %v", name, err)
			return
		}
	}
}

func main() {
	host, port, closed, key := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	log.Printf("%s", os.Args[5])
	auth := http.Header{"Authorization": {"Token " + key}}
	gorilla("401", url(host, port), nil, 0)
	gorilla("refused", url(host, closed), nil, 0)
	gorilla("idle", url(host, port), auth, 10)
	coder("401", url(host, port), nil, 0)
	coder("refused", url(host, closed), nil, 0)
	coder("idle", url(host, port), auth, 10)
}
"""

GO_DEBS = ("golang-go", "golang-github-gorilla-websocket-dev", "golang-nhooyr-websocket-dev")
GOCODE = "/usr/share/gocode"


# --- browser -------------------------------------------------------------------------------


async def _drive(cdp_url: str, page_url: str, limit: float) -> list[dict[str, Any]]:
    """Collect console events until the page's title says it is done."""
    events: list[dict[str, Any]] = []
    async with connect(cdp_url, max_size=None) as cdp:
        for i, method in enumerate(("Runtime.enable", "Log.enable")):
            await cdp.send(json.dumps({"id": i + 1, "method": method}))
        nav = {"id": 9, "method": "Page.navigate", "params": {"url": page_url}}
        await cdp.send(json.dumps(nav))
        deadline = time.monotonic() + limit
        closes = 0
        while time.monotonic() < deadline and closes < 3:
            try:
                raw = await asyncio.wait_for(cdp.recv(), deadline - time.monotonic())
            except TimeoutError:
                break
            msg = json.loads(raw)
            if msg.get("method") in ("Runtime.consoleAPICalled", "Log.entryAdded"):
                events.append(msg)
                args = msg["params"].get("args", [])
                if args and args[0].get("value") == "close":
                    closes += 1
        await asyncio.sleep(0.5)  # the CloseEvent object logged right after
        while True:
            try:
                msg = json.loads(await asyncio.wait_for(cdp.recv(), 0.5))
            except TimeoutError:
                break
            if msg.get("method") in ("Runtime.consoleAPICalled", "Log.entryAdded"):
                events.append(msg)
    return events


def _render_arg(arg: dict[str, Any]) -> str:
    """One console argument as the DevTools console prints it."""
    if arg.get("type") in ("string",):
        return str(arg.get("value"))
    if "value" in arg:
        return json.dumps(arg["value"]) if arg["value"] is None else str(arg["value"]).lower()
    preview = arg.get("preview")
    if preview:
        props = []
        for p in preview.get("properties", []):
            v = p.get("value", "")
            props.append(f"{p['name']}: " + (f"'{v}'" if p.get("type") == "string" else v))
        more = ", …" if preview.get("overflow") else ""
        return f"{arg.get('description', arg.get('className', ''))} {{{', '.join(props)}{more}}}"
    return str(arg.get("description", arg.get("type")))


def render_console(events: list[dict[str, Any]]) -> list[str]:
    """`<ISO time> <level> <source>: <text>`, one line per console event."""
    lines = []
    for ev in events:
        p = ev["params"]
        if ev["method"] == "Log.entryAdded":
            e = p["entry"]
            when, level, source, text = e["timestamp"], e["level"], e["source"], e["text"]
        else:
            when, level, source = p["timestamp"], p["type"], "console-api"
            text = " ".join(_render_arg(a) for a in p.get("args", []))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when / 1000))
        lines.append(f"{stamp}.{int(when % 1000):03d}Z {level} {source}: {text}")
    return lines


def record_browser(out: Path, port: int, closed: int) -> dict[str, str]:
    args = {"host": HOST, "port": port, "closed": closed, "query": QUERY, "key": FAKE_KEY}
    chromium = shutil.which("chromium") or "chromium"
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout
    with browser_on_page(HOST, PAGE % args) as (cdp_url, page_url, _, _):
        events = asyncio.run(_drive(cdp_url, page_url, 30))
    (out / "cdp-console.json").write_text(json.dumps(events, indent=1) + "\n")
    (out / "console.log").write_text("\n".join(render_console(events)) + "\n")
    return {"chromium": version.strip()}


# --- Node ws and the SDKs --------------------------------------------------------------------


def record_node_ws(out: Path, work: Path, port: int, closed: int) -> dict[str, str]:
    node_dir = work / "node-ws"
    if not npm_install(node_dir, "ws@8"):
        return {}
    (node_dir / "client.cjs").write_text(NODE_WS_CLIENT % {"query": QUERY})
    argv = ["node", "client.cjs", HOST, str(port), str(closed), FAKE_KEY]
    run_logged(argv, out / "client.log", node_dir, 60)
    return {"command": " ".join(argv)}


def record_dg_python(out: Path, work: Path, port: int) -> dict[str, str]:
    py = venv_python(work / "dg-venv", "deepgram", ["deepgram-sdk==3.*"])
    if py is None:
        return {}
    (work / "dg_client.py").write_text(DG_PY_CLIENT % {"idle": IDLE})
    argv = [str(py), "dg_client.py", HOST, str(port), FAKE_KEY]
    run_logged(argv, out / "client.log", work, 90)
    return {"command": " ".join(argv)}


def record_dg_js(out: Path, work: Path, port: int) -> dict[str, str]:
    js_dir = work / "dg-js"
    if not npm_install(js_dir, "@deepgram/sdk@4"):
        return {}
    (js_dir / "client.cjs").write_text(DG_JS_CLIENT)
    argv = ["node", "client.cjs", HOST, str(port), FAKE_KEY]
    run_logged(argv, out / "client.log", js_dir, 60)
    return {"command": " ".join(argv)}


def record_go(out: Path, work: Path, port: int, closed: int) -> dict[str, str]:
    if not apt_install(GO_DEBS):
        return {}
    go_dir = work / "go"
    go_dir.mkdir(parents=True, exist_ok=True)
    (go_dir / "client.go").write_text(GO_CLIENT)
    # GOPATH mode: the libraries come from Debian's /usr/share/gocode, no module proxy.
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": GOCODE}
    env.setdefault("GOCACHE", str(work / "go-cache"))
    if not build(["go", "build", "-o", "client", "client.go"], go_dir, env):
        return {}
    go_version = subprocess.run(["go", "version"], capture_output=True, text=True).stdout
    versions = ", ".join([go_version.strip()] + [f"{p} {deb_version(p)}" for p in GO_DEBS[1:]])
    argv = ["./client", HOST, str(port), str(closed), FAKE_KEY, versions]
    run_logged(argv, out / "client.log", go_dir, 60)
    return {"command": " ".join(argv[:-1]), "versions": versions}


def record(out: Path, work: Path, only: list[str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    port, closed = free_port(HOST), free_port(HOST)  # `closed`: bound once, never listened
    server = emulator(port, work / "emulator.log")
    try:
        for tool in only:
            dest = out / tool
            dest.mkdir(parents=True, exist_ok=True)
            print(f"recording {tool} -> {dest}")
            if tool == "browser":
                info = record_browser(dest, port, closed)
            elif tool == "node-ws":
                info = record_node_ws(dest, work, port, closed)
            elif tool == "go":
                info = record_go(dest, work, port, closed)
            elif tool == "deepgram-python-sdk":
                info = record_dg_python(dest, work, port)
            elif tool in ("okhttp", "dotnet"):
                rec = record_okhttp if tool == "okhttp" else record_dotnet
                with abrupt_emulator(work, "abrupt") as fin, abrupt_emulator(work, "reset") as rst:
                    info = rec(dest, work, port, closed, fin, rst)
            elif tool in ("pino", "python-json-logger"):
                json_rec = record_pino if tool == "pino" else record_python_json_logger
                with abrupt_emulator(work, "abrupt") as fin:
                    info = json_rec(dest, work, port, closed, fin)
            else:
                info = record_dg_js(dest, work, port)
            print(f"  {info or 'skipped'}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--only", nargs="+", choices=TOOLS, default=list(TOOLS))
    args = parser.parse_args()
    os.environ.pop("DEEPGRAM_API_KEY", None)  # never a real key
    record(args.out, args.workdir, args.only)


if __name__ == "__main__":
    main()
