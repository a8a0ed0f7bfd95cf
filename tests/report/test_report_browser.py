"""The HTML report, opened in real headless Chromium (tests/browser.py drives it).

A report is read in a browser, and most of what it shows came off the wire, written by
whoever controlled the client, the server or a proxy. So besides "does it render", the
questions are the browser's: does any script run that the report did not mean to run,
does the page touch the network, does the console complain (errors, CSP violations), and
do the verdict and every finding's title actually reach the rendered page?

First the harness proves it can fail (negative controls on tiny pages: a console error, an
external image, fetch/WebSocket/preconnect traffic, a script and an ``onerror`` handler
that mark ``<body>``, a CSP block). Then every sample capture of
``sample_captures/*/expected.yaml`` (with its key log) is analyzed with the real CLI into
HTML and JSON in one run, and the HTML is loaded: no console output, no network request,
a verdict section, each finding title of the JSON report present in the page. Finally
``hostile-text``, whose capture carries markup in text frames and close reasons and a fake
40-hex key in the Authorization header, subprotocol and a text frame: nothing runs, the
markup shows as text, the key appears in neither report.

The CLI runs (the slow part: one tshark pass each) start in background threads as soon as
the module starts, for exactly the tests that were selected; Chromium loads run one at a
time on a shared profile. Screenshots of two reports are kept in tests/artifacts/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from analyzer import redact

from browser import (
    Browser,
    Element,
    HarnessError,
    PageLoad,
    find_chromium,
    normalize,
    parse_dom,
    visible_text,
)
from conftest import REPO, SAMPLES, run_cli

ARTIFACTS = REPO / "tests" / "artifacts"
SCREENSHOT_SAMPLES = ("idle-1011", "nginx-read-timeout")

# What sample_captures/hostile-text carries (recorder/scenarios_basic.py, HOSTILE_*).
HOSTILE = "hostile-text"
HOSTILE_KEY = "0badc0de" * 5
HOSTILE_CLOSE_REASON = "<svg onload=alert(1)>"
# The payloads as raw markup: none of these may occur unescaped in the HTML file.
HOSTILE_MARKUP = ("<script>document.body", "<img src=x", "<svg onload")
# Anything a payload would leave behind if it ran or became an element.
PWNED_MARKERS = ("data-pwned", "alert(1)")


@dataclass(frozen=True)
class Case:
    """One reading of a sample: capture file and its key log, as expected.yaml lists it."""

    id: str
    folder: str
    capture: Path
    keylog: Path | None


def _cases() -> list[Case]:
    cases = []
    for spec_path in sorted(SAMPLES.glob("*/expected.yaml")):
        spec = yaml.safe_load(spec_path.read_text())
        folder = spec_path.parent
        for cap in spec["captures"]:
            keylog = folder / cap["keylog"] if "keylog" in cap else None
            case_id = f"{folder.name}/{cap['path']}"
            cases.append(Case(case_id, folder.name, folder / cap["path"], keylog))
    return cases


CASES = _cases()
BY_ID = {case.id: case for case in CASES}
HOSTILE_ID = f"{HOSTILE}/capture.pcap"


@dataclass(frozen=True)
class Rendered:
    """One CLI run: `analyze CAPTURE --format html,json -o DIR/report`."""

    case: Case
    proc: CompletedProcess[str]
    html: Path
    json: Path

    def check(self) -> Rendered:
        """Fail the test with the CLI's own words when it did not write both reports."""
        if self.proc.returncode != 0 or not (self.html.is_file() and self.json.is_file()):
            tail = "\n".join(self.proc.stderr.strip().splitlines()[-12:])
            pytest.fail(
                f"wsdoctor analyze {self.case.capture.relative_to(REPO)} --format html,json "
                f"exited {self.proc.returncode}; html written: {self.html.is_file()}, json "
                f"written: {self.json.is_file()}\n{tail}",
                pytrace=False,
            )
        return self

    def report(self) -> dict[str, Any]:
        return json.loads(self.json.read_text(encoding="utf-8"))


class RenderPool:
    """CLI runs in worker threads, submitted up front for the selected tests only.

    A run is a subprocess (tshark, polars), so threads overlap them on every core while
    the test thread drives Chromium; a test waits only for its own capture.
    """

    def __init__(self, workdir: Path, wanted: list[str]) -> None:
        self.workdir = workdir
        self.executor = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
        self.futures: dict[str, Future[Rendered]] = {}
        for case_id in wanted:
            self.submit(case_id)

    def submit(self, case_id: str) -> Future[Rendered]:
        if case_id not in self.futures:
            self.futures[case_id] = self.executor.submit(self._render, BY_ID[case_id])
        return self.futures[case_id]

    def get(self, case_id: str) -> Rendered:
        if case_id not in BY_ID:
            pytest.fail(f"no sample {case_id} under {SAMPLES}", pytrace=False)
        return self.submit(case_id).result().check()

    def _render(self, case: Case) -> Rendered:
        out = self.workdir / case.id.replace("/", "__")
        out.mkdir(parents=True, exist_ok=True)
        keylog = ("--keylog", case.keylog) if case.keylog else ()
        proc = run_cli(
            "analyze", case.capture, *keylog, "--format", "html,json", "-o", out / "report"
        )
        return Rendered(case, proc, out / "report.html", out / "report.json")

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


def _wanted(items: list[pytest.Item]) -> list[str]:
    """Case ids the selected tests of this module will ask for, in run order."""
    wanted: list[str] = []
    for item in items:
        if item.path != Path(__file__):
            continue
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "case" in callspec.params:
            wanted.append(callspec.params["case"].id)
        elif getattr(item, "originalname", "").startswith("test_hostile"):
            wanted.append(HOSTILE_ID)
    return list(dict.fromkeys(case_id for case_id in wanted if case_id in BY_ID))


@pytest.fixture(scope="module", autouse=True)
def rendered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RenderPool]:
    """Started with the module (autouse), so the CLI works while the controls run."""
    pool = RenderPool(tmp_path_factory.mktemp("reports"), _wanted(request.session.items))
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    binary = find_chromium()
    if binary is None:
        pytest.fail(
            "no chromium: scripts/test.sh installs Debian's `chromium` "
            "(apt-get install --no-install-recommends chromium), or set WSDOCTOR_CHROMIUM",
            pytrace=False,
        )
    return Browser(binary, tmp_path_factory.mktemp("chromium"))


Pages = dict[str, PageLoad | HarnessError]


@pytest.fixture(scope="module")
def pages() -> Pages:
    """One browser load per sample report for the module (the hostile tests reuse it,
    a failed one too: a page that hangs the browser should cost the timeout once)."""
    return {}


def _load(
    case_id: str, rendered: RenderPool, browser: Browser, pages: Pages
) -> tuple[Rendered, PageLoad]:
    """(rendered reports, page load) of a sample; the first load of the two kept samples
    also writes their screenshot to tests/artifacts/."""
    result = rendered.get(case_id)
    if case_id not in pages:
        case = BY_ID[case_id]
        shot = None
        if case.folder in SCREENSHOT_SAMPLES and case.capture.name == "capture.pcap":
            shot = ARTIFACTS / f"report-{case.folder}.png"
        try:
            pages[case_id] = browser.load(result.html, screenshot=shot)
        except HarnessError as exc:
            pages[case_id] = exc
    load = pages[case_id]
    if isinstance(load, HarnessError):
        pytest.fail(f"{case_id}: {load}", pytrace=False)
    return result, load


# Negative controls: the harness must see what it is there to catch ---------------------


def _page(tmp_path: Path, name: str, body: str, head: str = "") -> Path:
    path = tmp_path / name
    path.write_text(
        f"<!doctype html><html><head><meta charset=utf-8><title>{name}</title>{head}</head>"
        f"<body>{body}</body></html>",
        encoding="utf-8",
    )
    return path


def test_harness_clean_page_is_clean(browser: Browser, tmp_path: Path) -> None:
    """Chromium's own background requests (update checks) are not blamed on the page."""
    load = browser.load(_page(tmp_path, "clean.html", "<p>nothing here</p>"))
    assert load.problems() == []
    assert "nothing here" in visible_text(parse_dom(load.dom))


def test_harness_reports_requests_and_console_errors(browser: Browser, tmp_path: Path) -> None:
    """An external image, fetch, a WebSocket, an IP literal, preconnect: all are caught
    (and fail locally: the resolver map answers NOTFOUND), as is console.error."""
    body = (
        "<img src='https://example.invalid/x.png'>"
        "<img src='https://192.0.2.1/ip.png'>"
        "<script>console.error('x');"
        "fetch('https://fetch.example.invalid/f').catch(function () {});"
        "try { new WebSocket('wss://ws.example.invalid/socket'); } catch (e) {}</script>"
    )
    head = "<link rel='preconnect' href='https://preconnect.example.invalid'>"
    load = browser.load(_page(tmp_path, "noisy.html", body, head))
    for url in (
        "https://example.invalid/x.png",
        "https://192.0.2.1/ip.png",
        "https://fetch.example.invalid/f",
        "wss://ws.example.invalid/socket",
    ):
        assert url in load.requests, (url, load.requests)
    assert any(r.startswith("speculative DNS lookup") for r in load.requests), load.requests
    assert any(m.text == "x" for m in load.console), load.console
    assert load.problems()


def test_harness_sees_scripts_and_handlers_run(browser: Browser, tmp_path: Path) -> None:
    """If injected markup ran, the dumped DOM would show it: an inline script and an
    ``onerror`` handler (which only fires after the image fails, asynchronously)."""
    script = "<script>document.body.setAttribute('data-pwned','1')</script>"
    load = browser.load(_page(tmp_path, "script.html", script))
    body = next(e for e in parse_dom(load.dom) if e.tag == "body")
    assert body.attrs.get("data-pwned") == "1"

    handler = "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">"
    load = browser.load(_page(tmp_path, "handler.html", handler))
    body = next(e for e in parse_dom(load.dom) if e.tag == "body")
    assert body.attrs.get("data-pwned") == "2"

    load = browser.load(_page(tmp_path, "uncaught.html", "<script>notDefined();</script>"))
    assert any("Uncaught ReferenceError" in m.text for m in load.console), load.console


def test_harness_fails_on_a_dialog(browser: Browser, tmp_path: Path) -> None:
    """alert() blocks a headless load; the harness turns that into an error, not a hang."""
    with pytest.raises(HarnessError, match="JavaScript dialog"):
        browser.load(_page(tmp_path, "alert.html", "<svg onload=alert(1)>"), timeout=3)


def test_harness_reports_csp_violations(browser: Browser, tmp_path: Path) -> None:
    """A CSP block is console output too (and the blocked script did not run)."""
    csp = "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'\">"
    script = "<script>document.body.setAttribute('data-pwned','1')</script>"
    load = browser.load(_page(tmp_path, "csp.html", script, csp))
    assert any("Content Security Policy" in m.text for m in load.console), load.console
    body = next(e for e in parse_dom(load.dom) if e.tag == "body")
    assert "data-pwned" not in body.attrs


# Every sample's report --------------------------------------------------------------------


def _verdict(elements: list[Element]) -> Element | None:
    """The verdict section: the first element whose id or a class names it."""
    for element in elements:
        names = [element.attrs.get("id", ""), *element.classes]
        if any("verdict" in name.lower() for name in names):
            return element
    return None


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_report_loads_clean_and_shows_the_diagnosis(
    case: Case,
    rendered: RenderPool,
    browser: Browser,
    pages: Pages,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No console output, no network, a verdict, and every finding title on the page."""
    result, load = _load(case.id, rendered, browser, pages)
    assert load.problems() == [], f"{case.id}: the report is not quiet in a browser"

    elements = parse_dom(load.dom)
    verdict = _verdict(elements)
    assert verdict is not None, f"{case.id}: no element with id/class 'verdict' in the report"
    assert verdict.text, f"{case.id}: the verdict section is empty"

    text = visible_text(elements)
    titles = [finding["title"] for finding in result.report()["findings"]]
    missing = [title for title in dict.fromkeys(titles) if normalize(title) not in text]
    assert not missing, f"{case.id}: finding titles not on the page: {missing}"

    if load.screenshot is not None:
        with capsys.disabled():
            print(f"\n  screenshot of the {case.folder} report: {load.screenshot}")


# The hostile sample ----------------------------------------------------------------------


def test_hostile_capture_carries_the_key() -> None:
    """The redaction tests below mean something only if the key really is on the wire
    (cleartext in the upgrade request: Authorization and Sec-WebSocket-Protocol)."""
    raw = (SAMPLES / HOSTILE / "capture.pcap").read_bytes()
    assert raw.count(f"Token {HOSTILE_KEY}".encode()) == 1
    assert raw.count(f"token, {HOSTILE_KEY}".encode()) == 1


def test_hostile_markup_is_shown_as_text_never_run(
    rendered: RenderPool, browser: Browser, pages: Pages
) -> None:
    """Markup from the capture is escaped: nothing runs, no element is created from it,
    and the close reason (in the JSON too) is visible as literal text."""
    result, load = _load(HOSTILE_ID, rendered, browser, pages)
    assert load.problems() == []

    elements = parse_dom(load.dom)
    planted = [
        (e.tag, name, value)
        for e in elements
        for name, value in e.attrs.items()
        if name == "data-pwned" or any(marker in value for marker in PWNED_MARKERS)
    ]
    assert not planted, f"hostile markup became attributes: {planted}"
    scripts = [e.text for e in elements if e.tag == "script" and "data-pwned" in e.text]
    assert not scripts, f"hostile markup became a script: {scripts}"
    assert not [e for e in elements if e.tag == "svg" and "onload" in e.attrs]
    assert not [e for e in elements if e.tag == "img" and e.attrs.get("src") == "x"]

    html = result.html.read_text(encoding="utf-8")
    raw = [markup for markup in HOSTILE_MARKUP if markup in html]
    assert not raw, f"unescaped hostile markup in the HTML file: {raw}"

    closes = result.report()["sessions"][0]["close"]
    assert closes["close_server_reason"] == HOSTILE_CLOSE_REASON  # so the next line can fail
    assert HOSTILE_CLOSE_REASON in visible_text(elements), "close reason not shown as text"


def test_hostile_key_is_in_neither_report(rendered: RenderPool) -> None:
    """The fake key is redacted everywhere: header, subprotocol, text frame, close reason.
    Redaction keeps 4 characters, so no longer piece of the key may survive either."""
    result = rendered.get(HOSTILE_ID)
    pieces = (HOSTILE_KEY, HOSTILE_KEY[4:], HOSTILE_KEY[4:20])
    for path in (result.html, result.json):
        text = path.read_text(encoding="utf-8")
        leaked = [piece for piece in pieces if piece in text]
        assert not leaked, f"{path.name} contains the key: {leaked}"
    headers = result.report()["sessions"][0]["handshake"]["request_headers"]
    auth = [h["value"] for h in headers if h["name"].lower() == "authorization"]
    assert auth == [f"Token {redact.mask(HOSTILE_KEY)}"]  # it was there, and was redacted
