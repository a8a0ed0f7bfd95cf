"""Headless Chromium as a test instrument for the HTML report, with no Python dependency.

The report is a file a support engineer opens in a browser, full of text that came off
the wire (close reasons, headers, text frames): the questions worth testing are what a
real browser does with it. Does any script run that the report did not mean to run? Does
the page reach out to the network (a CDN font, a tracking pixel, an injected `<img>`)?
Does the console show an error, or a Content-Security-Policy violation? Does the text a
reader needs actually end up in the rendered page?

Chromium answers all of that from its command line, so no driver library is needed:

- ``--dump-dom`` prints the DOM after the page has loaded and ``--virtual-time-budget``
  has let its timers and event handlers (an ``onerror`` on a broken image) run;
- ``--enable-logging=stderr`` puts every console message on stderr as
  ``…:INFO:CONSOLE:LINE] "message", source: URL (LINE)``; the level is not printed, so
  :class:`PageLoad` keeps them all (a report has no reason to log anything), and CSP
  violations and uncaught exceptions arrive the same way;
- ``--log-net-log`` writes every network event as JSON; requests are told apart by their
  initiator: the page's own (``initiator`` ``null``, the opaque origin of a file:// page)
  versus the browser's background chatter (update checks, account lookups:
  ``not an origin``), which ``--disable-background-networking`` does not fully silence.
  Speculative DNS lookups keyed to the page (``dns-prefetch``, ``preconnect``) count as
  page traffic too;
- ``--screenshot`` keeps a PNG for a human to look at.

Nothing can leave the machine: ``--host-resolver-rules=MAP * ~NOTFOUND`` fails every host
name lookup (IP literals included) and ``--no-proxy-server`` ignores proxy variables from
the environment, so a request the page attempts is logged and fails locally. Pages are
loaded from file:// URLs only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Schemes that never touch the network; anything else a page asks for is a finding.
LOCAL_SCHEMES = frozenset({"file", "data", "about", "chrome", "blob"})
BROWSER_INITIATOR = "not an origin"  # net-log initiator of Chromium's own requests
VIRTUAL_TIME_MS = 5000  # timers and load/error handlers get this much (virtual) time
# A report loads in about a second. A page that opens a JavaScript dialog (alert(1), the
# classic injected payload) blocks a headless load for good: that is what a timeout means.
TIMEOUT_S = 30.0

FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in CI containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-breakpad",
    "--no-proxy-server",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    f"--virtual-time-budget={VIRTUAL_TIME_MS}",
)

# One stderr record: "[pid:tid:MMDD/HHMMSS.micros:LEVEL:file(line)] text"; a console message
# may contain newlines, so a record runs until the next line that opens a new one.
RECORD_START = re.compile(r"^\[\d+:\d+:\d{4}/\d{6}\.\d+:", re.M)
CONSOLE = re.compile(
    r":CONSOLE[:(](?P<line>\d+)\)?\] \"(?P<text>.*)\", source: (?P<source>.*) \(\d+\)\s*$",
    re.S,
)
# Lines that mean a script error or a CSP block even if the console format ever changes.
ERROR_HINTS = ("Uncaught", "Refused to", "Content Security Policy")


class HarnessError(RuntimeError):
    """The browser did not produce what the harness needs to judge the page."""


@dataclass(frozen=True)
class ConsoleMessage:
    text: str
    source: str
    line: int


@dataclass
class PageLoad:
    """Everything one headless load of a page showed."""

    page: Path
    dom: str  # the serialized DOM after load, timers and handlers
    console: list[ConsoleMessage]
    requests: list[str]  # non-local URLs (and DNS lookups) the page itself attempted
    browser_requests: list[str]  # Chromium's own background requests (not the page's)
    stderr: str
    screenshot: Path | None = None

    def problems(self) -> list[str]:
        """Console output and page network traffic, one readable line each."""
        out = [f"console: {m.text!r} ({m.source}:{m.line})" for m in self.console]
        return out + [f"network: {url}" for url in self.requests]


def find_chromium() -> str | None:
    """``WSDOCTOR_CHROMIUM``, else Debian's ``chromium`` (scripts/test.sh installs it)."""
    explicit = os.environ.get("WSDOCTOR_CHROMIUM")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class Browser:
    """Loads local pages one at a time in headless Chromium, reusing one profile dir.

    A fresh profile costs a second per start (first-run setup), so one is reused for a
    whole test module; loads are sequential because a profile cannot be shared by two
    running browsers.
    """

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.profile = workdir / "profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        self.loads = 0

    def load(
        self,
        page: Path,
        screenshot: Path | None = None,
        window: tuple[int, int] = (1280, 2400),
        timeout: float = TIMEOUT_S,
    ) -> PageLoad:
        """Open ``page`` (a local file) once; DOM, console, network and optional PNG."""
        self.loads += 1
        netlog = self.workdir / f"netlog-{self.loads}.json"
        argv = [
            self.binary,
            *FLAGS,
            f"--user-data-dir={self.profile}",
            f"--log-net-log={netlog}",
            f"--window-size={window[0]},{window[1]}",
        ]
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.unlink(missing_ok=True)
            argv.append(f"--screenshot={screenshot}")
        argv += ["--dump-dom", page.resolve().as_uri()]
        proc = _run(argv, timeout)
        if proc.returncode != 0 or "<html" not in proc.stdout.lower():
            raise HarnessError(
                f"chromium exited {proc.returncode} without a DOM for {page}:\n"
                + _tail(proc.stderr)
            )
        if screenshot is not None and not screenshot.is_file():
            raise HarnessError(f"chromium wrote no screenshot {screenshot}:\n{_tail(proc.stderr)}")
        page_requests, browser_requests = network_requests(read_netlog(netlog))
        return PageLoad(
            page=page,
            dom=proc.stdout,
            console=console_messages(proc.stderr),
            requests=page_requests,
            browser_requests=browser_requests,
            stderr=proc.stderr,
            screenshot=screenshot,
        )


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run Chromium in its own process group, so a hang takes its helpers down with it."""
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this Popen created, nothing else
            out, err = proc.communicate()
            raise HarnessError(
                f"chromium did not finish within {timeout}s; a JavaScript dialog (alert, "
                f"confirm, prompt) blocks a headless load: did the page run a script?\n"
                + _tail(err)
            ) from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _tail(text: str, lines: int = 25) -> str:
    kept = [line for line in text.splitlines() if "dbus" not in line]  # containers lack D-Bus
    return "\n".join(kept[-lines:])


def console_messages(stderr: str) -> list[ConsoleMessage]:
    """Every console message (log, warning, error, uncaught exception, CSP violation)."""
    starts = [m.start() for m in RECORD_START.finditer(stderr)]
    records = [stderr[a:b] for a, b in zip(starts, [*starts[1:], len(stderr)], strict=True)]
    out: list[ConsoleMessage] = []
    for record in records:
        if m := CONSOLE.search(record):
            out.append(ConsoleMessage(m["text"], m["source"], int(m["line"])))
        elif any(hint in record for hint in ERROR_HINTS):
            out.append(ConsoleMessage(record.strip(), "stderr", 0))
    return out


def read_netlog(path: Path) -> dict[str, Any]:
    """The net-log JSON; one cut short (browser killed mid-write) is closed and read."""
    if not path.is_file():
        raise HarnessError(f"chromium wrote no net-log {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return json.loads(text.rstrip().rstrip(",") + "]}")
        except json.JSONDecodeError as exc:
            raise HarnessError(f"unreadable net-log {path}: {exc}") from None


def network_requests(netlog: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(the page's non-local requests and DNS lookups, the browser's own requests).

    URL requests are read from ``URL_REQUEST_START_JOB`` (its ``initiator`` says whose it
    is); a speculative host lookup keyed to the file:// page (dns-prefetch, preconnect)
    has no URL request, only a ``HOST_RESOLVER_MANAGER_REQUEST``. Its host is the mapped
    ``~notfound``, so it is listed by that plus the kind of lookup.
    """
    constants = netlog["constants"]
    event_types = constants["logEventTypes"]
    begin = constants["logEventPhase"]["PHASE_BEGIN"]
    start_job = event_types["URL_REQUEST_START_JOB"]
    resolve = event_types["HOST_RESOLVER_MANAGER_REQUEST"]
    page: list[str] = []
    browser: list[str] = []
    for event in netlog.get("events", []):
        params = event.get("params") or {}
        if event.get("phase") != begin:
            continue
        if event["type"] == start_job:
            url = params.get("url", "")
            if urlsplit(url).scheme.lower() in LOCAL_SCHEMES:
                continue
            (browser if params.get("initiator") == BROWSER_INITIATOR else page).append(url)
        elif event["type"] == resolve and _speculative_for_page(params):
            page.append(f"speculative DNS lookup by the page ({params.get('host')})")
    return page, browser


def _speculative_for_page(params: dict[str, Any]) -> bool:
    """A dns-prefetch/preconnect lookup on behalf of a file:// page."""
    key = str(params.get("network_anonymization_key", ""))
    return bool(params.get("is_speculative")) and key.startswith("file://")


@dataclass
class Element:
    """One element of a parsed DOM: tag, attributes and its whole text content."""

    tag: str
    attrs: dict[str, str]
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return normalize("".join(self.text_parts))

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
    | {"track", "wbr", "param"}
)
HIDDEN = frozenset({"script", "style", "template", "noscript"})


class _DomParser(HTMLParser):
    """Flat element list with text content, from Chromium's serialized DOM (well formed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.stack: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        # Script/style source is the text of that element only, not of its ancestors: an
        # element's text is what a reader sees (a <script> inside <p> adds nothing to it).
        hidden = [i for i, e in enumerate(self.stack) if e.tag in HIDDEN]
        for element in self.stack[hidden[-1] if hidden else 0 :]:
            element.text_parts.append(data)


def parse_dom(dom: str) -> list[Element]:
    """Every element of ``dom`` in document order (``html`` first, so [0] is the root)."""
    parser = _DomParser()
    parser.feed(dom)
    parser.close()
    return parser.elements


def visible_text(elements: list[Element]) -> str:
    """The body's text as a reader sees it (no script/style source), whitespace-normalized."""
    body = next((e for e in elements if e.tag == "body"), None)
    return body.text if body is not None else ""


def normalize(text: str) -> str:
    return " ".join(text.split())
