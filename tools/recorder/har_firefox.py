"""Record a real Firefox HAR: Firefox ESR (DevTools HAR auto-export) -> the Deepgram emulator.

Why: ``har_chromium.py`` covers Chrome's HAR shape; a Firefox user's HAR looks different,
and the reader must be checked on a file Firefox itself wrote, not on a guess.

What it does (everything on 127.0.0.0/8, inside a private network namespace):
1. re-runs itself under ``unshare --net`` (a namespace holding only ``lo``), so nothing the
   browser tries can leave the host; the user.js below also turns Firefox's background
   network off (updates, telemetry, captive portal, safe browsing, remote settings, ...);
2. starts ``emulator.py`` on 127.0.0.21 (``--log server.log``, a short
   ``--inactivity-timeout``), ``python -m http.server`` on 127.0.0.21 serving two pages,
   and ``Xvfb`` (the DevTools toolbox needs a display: ``-headless`` opens none);
3. starts ``firefox-esr -no-remote -profile <tmp> -devtools http://127.0.0.21:P/`` with
   ``devtools.netmonitor.har.enableAutoExportToFile`` on. Firefox's ``HarAutomation``
   starts collecting at a top-level navigation and writes the HAR once the page has
   loaded and no network activity was seen for ``devtools.netmonitor.har.pageLoadedTimeout``
   ms; so the first page waits for the toolbox, then navigates to ``ws.html``;
4. ``ws.html`` opens ``ws://127.0.0.21:PORT/v1/listen?...`` with the browser auth form
   (subprotocols ``token, <fake key>``): connection A sends 1 s of 16-bit PCM in 100 ms
   binary chunks and goes silent (the emulator closes 1011 NET-0001); when A has closed,
   connection B sends 1 s of audio and a text ``{"type": "CloseStream"}`` (the emulator
   answers and closes 1000). What each ``onclose`` saw is reported by a GET of
   ``closed.txt?ws=..&code=..&reason=..`` (``page-server.log``), sent only well after
   Firefox has written the HAR, so the HAR holds nothing about the closes but what
   Firefox itself recorded;
5. waits for the HAR Firefox writes into the temporary log folder, copies it verbatim and
   checks it holds no ``closed.txt`` request.

Run (as root, for ``unshare``; from the repository root): ``.venv/bin/python -m
tools.recorder.har_firefox [--out DIR]`` (default ``sample_captures/browser-har/firefox``).
Writes ``session.har`` (Firefox's bytes, untouched), ``server.log``, ``page-server.log`` and
``record.log``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .har_chromium import (
    EMULATOR,
    FAKE_KEY,
    QUERY,
    SAMPLES,
    SERVER_ADDR,
    TONE_JS,
    free_port,
    wait_line,
)

DEFAULT_OUT = SAMPLES / "browser-har" / "firefox"
FIREFOX = "firefox-esr"
TOOLBOX_WAIT_MS = 8000  # first page -> ws.html: the toolbox must be up before navigating
PAGE_LOADED_TIMEOUT_MS = 10000  # HAR written this long after the last network activity
INACTIVITY_TIMEOUT = 3.0  # the emulator's NET-0001 window (default 10 s)
# Firefox's background network, all off; the network namespace is the real guarantee.
PREFS = {
    "devtools.netmonitor.har.enableAutoExportToFile": True,
    "devtools.netmonitor.har.defaultFileName": "session",
    "devtools.netmonitor.har.pageLoadedTimeout": PAGE_LOADED_TIMEOUT_MS,
    "devtools.netmonitor.har.includeResponseBodies": True,
    "devtools.toolbox.selectedTool": "netmonitor",
    "devtools.netmonitor.persistlog": False,
    "app.update.enabled": False,
    "app.update.auto": False,
    "app.update.staging.enabled": False,
    "app.normandy.enabled": False,
    "app.normandy.api_url": "",
    "app.shield.optoutstudies.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "browser.discovery.enabled": False,
    "browser.newtabpage.enabled": False,
    "browser.newtabpage.activity-stream.feeds.section.topstories": False,
    "browser.newtabpage.activity-stream.feeds.topsites": False,
    "browser.newtabpage.activity-stream.feeds.snippets": False,
    "browser.newtabpage.activity-stream.telemetry": False,
    "browser.ping-centre.telemetry": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.google.updateURL": "",
    "browser.search.geoip.url": "",
    "browser.search.update": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.startup.page": 0,
    "browser.topsites.contile.enabled": False,
    "browser.translations.enable": False,
    "browser.urlbar.suggest.quicksuggest.sponsored": False,
    "browser.urlbar.suggest.quicksuggest.nonsponsored": False,
    "captivedetect.canonicalURL": "",
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.usage.uploadEnabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.pocket.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "extensions.update.enabled": False,
    "geo.enabled": False,
    "identity.fxaccounts.enabled": False,
    "media.gmp-manager.url": "",
    "media.gmp-gmpopenh264.enabled": False,
    "messaging-system.rsexperimentloader.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.http.speculative-parallel-limit": 0,
    "network.prefetch-next": False,
    "network.proxy.type": 0,
    "network.trr.mode": 5,
    "security.OCSP.enabled": 0,
    "services.settings.server": "http://127.0.0.1:9/",  # remote settings: a closed port
    "toolkit.telemetry.archive.enabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "",
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
}
START = """<!doctype html><meta charset="utf-8"><title>waiting for the toolbox</title>
<script>setTimeout(() => { location.href = "ws.html"; }, %(wait)d);</script>
"""
PAGE = """<!doctype html><meta charset="utf-8"><title>recording</title>
<script>
const url = "ws://%(host)s:%(port)d/v1/listen?%(query)s";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
%(tone)sfunction open(name, last, next) {
  const ws = new WebSocket(url, ["token", "%(key)s"]);
  ws.binaryType = "arraybuffer";
  ws.onopen = async () => {
    for (let n = 0; n < 10; n++) { ws.send(chunk(n)); await sleep(100); }
    if (last) ws.send(JSON.stringify(last));  // none: silence until the server's window
  };
  ws.onclose = (e) => {
    seen.push({ws: name, code: e.code, reason: e.reason, clean: e.wasClean});
    next();
  };
}
// What each onclose saw, reported only once Firefox has written the HAR (so the HAR
// holds nothing about the closes but what Firefox itself recorded).
const seen = [];
const report = () => seen.forEach((c) => fetch("closed.txt?" + new URLSearchParams(c)));
open("A-idle", null, () => open("B-closestream", {type: "CloseStream"}, () => {
  document.title = "done";
  setTimeout(report, %(report_after)d);
}));
</script>
"""


def user_js(prefs: dict[str, object]) -> str:
    return "".join(f'user_pref("{k}", {json.dumps(v)});\n' for k, v in prefs.items())


def isolate_network() -> list[str]:
    """Inside the new namespace: bring `lo` up and prove only 127/8 and ::1 exist."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    state = {
        " ".join(argv): subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        for argv in (["ip", "-o", "addr"], ["ip", "route"], ["ip", "-6", "route"])
    }
    addrs = [line.split()[3] for line in state["ip -o addr"].splitlines() if " inet" in line]
    if state["ip route"].strip() or any(not a.startswith(("127.", "::1/")) for a in addrs):
        raise RuntimeError(f"network namespace is not loopback-only: {state}")
    lines = ["# network namespace (unshare --net), nothing but loopback:"]
    for command, out in state.items():
        lines += [f"# $ {command}"] + [f"#   {x}" for x in out.splitlines() or ["(none)"]]
    return lines


def start_xvfb() -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """Xvfb on a free display; `-displayfd` prints the display number once it is ready."""
    read, write = os.pipe()
    argv = ["Xvfb", "-displayfd", str(write), "-nolisten", "tcp", "-screen", "0", "1280x900x24"]
    proc = subprocess.Popen(
        argv, pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    if not display:
        proc.kill()
        raise RuntimeError("Xvfb did not start")
    return proc, f":{display}", argv


def wait_har(folder: Path, timeout: float) -> Path:
    """The HAR file Firefox writes, once it holds complete JSON (written in one go)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in sorted(glob.glob(str(folder / "*.har"))):
            try:
                doc = json.loads(Path(name).read_text())
            except (OSError, ValueError):
                continue
            if any("/v1/listen" in e["request"]["url"] for e in doc["log"]["entries"]):
                return Path(name)
        time.sleep(0.5)
    raise RuntimeError(f"Firefox wrote no HAR with the WebSocket into {folder}")


def wait_reports(page_log: Path, count: int, timeout: float) -> None:
    """Until the page has reported `count` closes (GETs of closed.txt) to the page server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page_log.read_text().count("GET /closed.txt?") >= count:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the page did not report its {count} closes")


def record(out: Path, inactivity: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lines = isolate_network()
    work = Path(tempfile.mkdtemp(prefix="wsdoctor-firefox-"))
    site, profile, hars = work / "site", work / "profile", work / "har"
    for folder in (site, profile, hars):
        folder.mkdir()
    ws_port, http_port = free_port(SERVER_ADDR), free_port(SERVER_ADDR)
    values = {"host": SERVER_ADDR, "port": ws_port, "query": QUERY, "key": FAKE_KEY,
              "tone": TONE_JS, "report_after": PAGE_LOADED_TIMEOUT_MS + 5000}  # fmt: skip
    (site / "index.html").write_text(START % {"wait": TOOLBOX_WAIT_MS})
    (site / "ws.html").write_text(PAGE % values)
    (site / "closed.txt").write_text("ok\n")
    prefs = PREFS | {"devtools.netmonitor.har.defaultLogDir": str(hars)}
    (profile / "user.js").write_text(user_js(prefs))
    emulator = [*EMULATOR, "--host", SERVER_ADDR,
                "--port", str(ws_port), "--inactivity-timeout", str(inactivity),
                "--log", str(out / "server.log")]  # fmt: skip
    pages = [sys.executable, "-m", "http.server", "--bind", SERVER_ADDR,
             "--directory", str(site), str(http_port)]  # fmt: skip
    firefox = [shutil.which(FIREFOX) or FIREFOX, "-no-remote", "-profile", str(profile),
               "-devtools", f"http://{SERVER_ADDR}:{http_port}/"]  # fmt: skip
    version = subprocess.run([FIREFOX, "--version"], capture_output=True, text=True).stdout
    procs: list[subprocess.Popen[bytes] | subprocess.Popen[str]] = []
    page_log = (out / "page-server.log").open("w")
    firefox_log = (work / "firefox.log").open("w")  # printed if the recording fails
    try:
        server = subprocess.Popen(emulator, stdout=subprocess.PIPE, text=True)
        procs.append(server)
        wait_line(server, "listening on")
        procs.append(subprocess.Popen(pages, stdout=page_log, stderr=subprocess.STDOUT))
        xvfb, display, xvfb_argv = start_xvfb()
        procs.append(xvfb)
        env = os.environ | {"DISPLAY": display, "HOME": str(work), "MOZ_CRASHREPORTER_DISABLE": "1"}
        procs.append(subprocess.Popen(firefox, env=env, stdout=firefox_log, stderr=firefox_log))
        har = wait_har(hars, 90.0)
        shutil.copyfile(har, out / "session.har")
        wait_reports(out / "page-server.log", 2, PAGE_LOADED_TIMEOUT_MS / 1000 + 30)
        urls = [e["request"]["url"] for e in json.loads(har.read_text())["log"]["entries"]]
        if any("/closed.txt" in url for url in urls):
            raise RuntimeError("the HAR was written after the page reported its closes")
    except BaseException:
        firefox_log.flush()
        print((work / "firefox.log").read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        page_log.close()
        firefox_log.close()
        shutil.rmtree(work, ignore_errors=True)
    commands = [emulator, pages, xvfb_argv, firefox]
    lines += [f"# {version.strip()}", f"# user.js:\n{user_js(prefs).rstrip()}"]
    lines += [" ".join(c) for c in commands] + [f"# Firefox wrote {har.name} -> session.har"]
    (out / "record.log").write_text("\n".join(lines) + "\n")
    print(f"{version.strip()}: {har.name} -> {out / 'session.har'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--inactivity-timeout", type=float, default=INACTIVITY_TIMEOUT)
    parser.add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_namespace:
        record(args.out.resolve(), args.inactivity_timeout)
        return
    argv = [sys.executable, "-m", __spec__.name, "--out", str(args.out.resolve()),
            "--inactivity-timeout", str(args.inactivity_timeout), "--in-namespace"]  # fmt: skip
    sys.exit(subprocess.run(["unshare", "--net", "--", *argv]).returncode)


if __name__ == "__main__":
    main()
