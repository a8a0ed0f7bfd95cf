"""The HTML report at 1, 44 and 1,000 sessions (issue 14, item 3), as a person reads it.

Three real reports, made by the CLI: one session (sample idle-1011), the samples merged
into one capture (mergecap of every Ethernet `*/capture.pcap`: ~50 sessions, proxied pairs
among them) and a fleet of ~1,000 sessions (benchmarks/make_fleet.py: the samples replayed
24 times plus a 40-session reconnect loop). Each is checked for what the issue asks: the
verdict and the incident table first, each incident's fix once; a sessions table sorted
by severity, healthy sessions collapsed, the two legs of a proxied connection one row,
symptoms folded under their root cause; a size of a few MB at most; in headless Chromium
no horizontal page scroll at 390 px (every row opened) and a printout that grows with the
failed connections, not the sessions. Screenshots (desktop and phone) are kept in
``$WSDOCTOR_ARTIFACTS`` or tests/artifacts/html-scale/ for a person to look at.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from html import escape, unescape
from pathlib import Path
from typing import Any

import pytest
from test_report_html import replicated

from analyzer.findings import RANK
from analyzer.report import html as html_report
from analyzer.report import html_incidents

from browser import FLAGS, Browser, _run, find_chromium, parse_dom
from conftest import REPO, SAMPLES, analysis_of, run_cli, sample

ARTIFACTS = Path(os.environ.get("WSDOCTOR_ARTIFACTS") or REPO / "tests" / "artifacts")
SHOTS = ARTIFACTS / "html-scale"
PHONE = 390
DESKTOP = 1100
# Size bounds: the "a few MB" for 1,000 sessions, with room below it.
MAX_BYTES = {"one": 100_000, "merged": 1_200_000, "fleet": 2_500_000}
FAILED_AT = RANK["medium"]


@dataclass(frozen=True)
class Report:
    """One `analyze --format html,json` run."""

    name: str
    html: Path
    json: Path

    @cached_property
    def text(self) -> str:
        return self.html.read_text(encoding="utf-8")

    @cached_property
    def data(self) -> dict[str, Any]:
        return json.loads(self.json.read_text(encoding="utf-8"))

    def section(self, name: str) -> str:
        start = self.text.index(f'<section id="{name}"')
        return self.text[start : self.text.index("</section>", start)]


def _merged(out: Path) -> Path:
    """Every Ethernet sample capture in one file (pcapng samples are other link types)."""
    captures = sorted(SAMPLES.glob("*/capture.pcap"))
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(out), *map(str, captures)], check=True)
    return out


def _fleet(out: Path) -> Path:
    script = REPO / "benchmarks" / "make_fleet.py"
    subprocess.run([sys.executable, str(script), "-o", str(out)], check=True, capture_output=True)
    return out


def _analyze(name: str, capture: Path, out: Path) -> Report:
    proc = run_cli("analyze", capture, "--format", "html,json", "-o", out / name)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return Report(name, out / f"{name}.html", out / f"{name}.json")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Report]:
    out = tmp_path_factory.mktemp("scale")
    inputs = {
        "one": SAMPLES / "idle-1011" / "capture.pcap",
        "merged": _merged(out / "merged.pcap"),
        "fleet": _fleet(out / "fleet.pcap"),
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = {n: pool.submit(_analyze, n, path, out) for n, path in inputs.items()}
        return {n: run.result() for n, run in runs.items()}


NAMES = ("one", "merged", "fleet")


def _failed(report: Report) -> set[str]:
    return {
        f["session"]
        for f in report.data["findings"]
        if f["session"] and RANK[f["severity"]] >= FAILED_AT
    }


def _partners(report: Report) -> dict[str, str]:
    """Session id -> its other leg, for legs that name each other (a proxied pair)."""
    named = {s["id"]: (s.get("tcp") or {}).get("other_leg") for s in report.data["sessions"]}
    return {a: b for a, b in named.items() if b and named.get(b) == a}


def _rows(report: Report) -> list[tuple[str, str, str]]:
    """(first session id, row class, severity badge) of every sessions-table row."""
    return re.findall(
        r'<(?:details|div) class="(conn[^"]*)" id="session-(s\d+)"[^>]*>\s*'
        r'<(?:summary|div) class="row"><span class="c-sev"><span class="badge ([a-z -]+)">',
        report.section("sessions"),
    )


# The page's order and its parts ---------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_verdict_then_incidents_each_with_one_fix(name: str, reports: dict[str, Report]) -> None:
    report = reports[name]
    assert report.html.stat().st_size <= MAX_BYTES[name], report.html.stat().st_size
    if name == "fleet":  # the size, or the bound above proves nothing
        sessions = report.data["sessions"]
        assert len(sessions) >= 1000 and len(_failed(report)) >= 500
        assert len(_partners(report)) >= 100  # proxied pairs, both legs
    text = report.text
    order = [text.index(f'<section id="{s}"') for s in ("verdict", "incidents", "sessions")]
    assert order == sorted(order), "verdict, then incidents, then sessions"
    incidents = report.data["incidents"]
    assert incidents, "every one of these captures has a failed session"
    table = report.section("incidents").split("</table>")[0]
    assert re.findall(r'<td><a class="iid" href="#incident-(i\d+)">', table) == [
        i["id"] for i in incidents
    ]
    # One fix per cause: an incident shows its rule's fix, or links to the incident
    # that already shows the same fix (one rule's incidents behind two proxies, say).
    cards = report.section("incidents").split("</table>")[1]
    opened = cards.count('<details class="fix" open>')
    carded = min(len(incidents), html_incidents.MAX_CARDS)
    assert cards.count('<article class="incident') == carded
    assert opened + cards.count("How to fix: as for") == carded
    assert opened <= len({i["fix"] for i in incidents})
    # The sessions' cards link to their incident's fix instead of repeating it.
    with_incident = sum(1 for f in report.data["findings"] if f["incident"])
    without = sum(1 for f in report.data["findings"] if not f["incident"])
    assert report.section("sessions").count('<details class="fix">') <= without
    assert 'see <a href="#incident-' in text or with_incident == 0


def _connections(report: Report) -> list[frozenset[str]]:
    """Every connection once: a session, with its other leg when it has one."""
    partners = _partners(report)
    ids = [s["id"] for s in report.data["sessions"]]
    return list(dict.fromkeys(frozenset({i, partners.get(i, i)}) for i in ids))


@pytest.mark.parametrize("name", NAMES)
def test_sessions_table_most_severe_first_healthy_collapsed(
    name: str, reports: dict[str, Report]
) -> None:
    """One row per connection, the failed ones first and most severe first; the healthy
    ones behind one closed `<details>` that says how many they are."""
    report = reports[name]
    anchors = re.findall(r'id="session-(s\d+)"', report.section("sessions"))
    assert sorted(anchors) == sorted(s["id"] for s in report.data["sessions"]), "each once"
    rows = _rows(report)
    failed_rows = [badge.split("sev-")[-1] for cls, _, badge in rows if "failed" in cls]
    ranks = [RANK[severity] for severity in failed_rows]
    assert ranks == sorted(ranks, reverse=True), "failed rows, most severe first"
    assert [cls for cls, _, _ in rows[: len(ranks)]] == ["conn failed"] * len(ranks)
    failed = _failed(report)
    conns = _connections(report)
    assert len(ranks) == sum(1 for c in conns if c & failed)
    kinds = {s["id"]: s["kind"] for s in report.data["sessions"]}
    healthy = [c for c in conns if not c & failed and "encrypted" not in {kinds[i] for i in c}]
    group = re.search(r'<details class="group">\s*<summary>([\d,]+) healthy sessions?', report.text)
    if healthy:
        assert group is not None, "healthy sessions collapsed under one summary"
        assert int(group[1].replace(",", "")) == sum(map(len, healthy))
    else:
        assert group is None
    assert '<details class="group" open' not in report.text


@pytest.mark.parametrize("name", ("merged", "fleet"))
def test_proxied_legs_are_one_row(name: str, reports: dict[str, Report]) -> None:
    """Both legs of a proxied connection in one row: the upstream leg's anchor sits in
    the downstream leg's row summary ("s1 ⇄ s2 via 127.0.0.31")."""
    report = reports[name]
    hops = {s["id"]: s["tcp"]["hop_leg"] for s in report.data["sessions"]}
    pairs = [(a, b) for a, b in _partners(report).items() if hops[a] == "downstream"]
    assert pairs, "the samples hold proxied pairs"
    summaries = dict(
        re.findall(
            r'id="session-(s\d+)"[^>]*>\s*<(?:summary|div) class="row">(.*?)</(?:summary|div)>',
            report.text,
            re.S,
        )
    )
    for down, up in pairs:
        assert f'id="session-{up}"' in summaries[down], (down, up)
        assert 'class="via">via ' in summaries[down]
    assert len(_rows(report)) == len(_connections(report))


def test_symptoms_fold_under_their_root_cause(reports: dict[str, Report]) -> None:
    """A finding explained by another is listed inside its root's card, never a card
    of its own: one card per cause per connection."""
    report = reports["merged"]
    found = report.data["findings"]
    cards = dict(
        re.findall(
            r'<article class="finding [^"]*" id="finding-(\d+)">\s*<h4>(.*?)</h4>', report.text
        )
    )
    folded = set(re.findall(r'<(?:li|span) id="finding-(\d+)">', report.text))
    symptoms = {str(i + 1) for i, f in enumerate(found) if f["explained_by"]}
    assert symptoms, "the merged samples have symptoms (a missing close a proxy explains)"
    assert symptoms <= folded and not symptoms & set(cards)
    for n, title in cards.items():  # the JSON's order is the page's numbering
        assert found[int(n) - 1]["title"] == unescape(title)


# In Chromium -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    binary = find_chromium()
    if binary is None:
        pytest.fail("no chromium (scripts/test.sh installs it, or set WSDOCTOR_CHROMIUM)")
    return Browser(binary, tmp_path_factory.mktemp("chromium"))


def _from_sessions(report: Report, out: Path) -> Path:
    """The page with verdict and incidents cut out: a screenshot of the sessions table."""
    text = report.text
    cut = text[: text.index('<section id="verdict"')] + text[text.index('<section id="sessions"') :]
    return _write(out / f"{report.name}-sessions.html", cut)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _probe(report: Report, out: Path) -> Path:
    """The report, every `<details>` opened, in a 390 px iframe, and a script that
    records the iframe page's scroll width on <body>. The report runs no script (its
    CSP forbids one), and headless Chromium lays a window out at 500 px at least, so
    the probe is this page around it (srcdoc: same origin, so readable)."""
    text = re.sub(r"<details(?![^>]*\bopen\b)", "<details open", report.text)
    page = (
        f'<!doctype html><html><body style="margin:0"><iframe id="f" width="{PHONE}" '
        f'height="1800" style="border:0" srcdoc="{escape(text, quote=True)}"></iframe>'
        "<script>var f = document.getElementById('f');"
        "f.addEventListener('load', function () { var root = f.contentDocument.documentElement;"
        " document.body.setAttribute('data-scroll-width', root.scrollWidth);"
        " document.body.setAttribute('data-client-width', root.clientWidth); });</script>"
        "</body></html>"
    )
    return _write(out / f"{report.name}-probe.html", page)


@pytest.mark.parametrize("name", NAMES)
def test_phone_width_never_scrolls_the_page(
    name: str, reports: dict[str, Report], browser: Browser, tmp_path: Path
) -> None:
    """At 390 px, with every row and section opened, nothing is wider than the screen:
    wide tables and timelines scroll inside their own box. Screenshots, desktop and
    phone, of the top and of the sessions table are kept for a person to look at; each
    load must be quiet (no console, no network), as every report must."""
    load = browser.load(_probe(reports[name], tmp_path), window=(DESKTOP, 1800))
    body = next(e for e in parse_dom(load.dom) if e.tag == "body")
    assert int(body.attrs["data-client-width"]) == PHONE, "the probe's frame is a phone"
    report = reports[name]
    shots = {
        f"{name}-desktop.png": (report.html, DESKTOP),
        f"{name}-phone.png": (report.html, PHONE),
        f"{name}-sessions-desktop.png": (_from_sessions(report, tmp_path), DESKTOP),
        f"{name}-sessions-phone.png": (_from_sessions(report, tmp_path), PHONE),
    }
    for shot, (page, width) in shots.items():
        shown = browser.load(page, screenshot=SHOTS / shot, window=(width, 1800))
        assert shown.problems() == [], (shot, shown.problems())
        head = (SHOTS / shot).read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(head[16:20]) == width
    assert int(body.attrs["data-scroll-width"]) == PHONE


def _pdf_pages(page: Path, out: Path) -> int:
    """Pages of Chromium's print of `page` (A4/Letter default, the print stylesheet)."""
    pdf = out / (page.stem + ".pdf")
    binary = find_chromium()
    assert binary is not None
    argv = [binary, *FLAGS, f"--user-data-dir={out / 'pdf-profile'}", f"--print-to-pdf={pdf}"]
    proc = _run([*argv, page.resolve().as_uri()], 120)
    assert pdf.is_file(), proc.stderr[-2000:]
    return len(re.findall(rb"/Type\s*/Page\b", pdf.read_bytes()))


def test_print_grows_with_failures_not_sessions(reports: dict[str, Report], tmp_path: Path) -> None:
    """1,000 healthy sessions print on a few pages (they stay collapsed); the fleet's
    printout is bounded by its failed connections: a row each, plus their incidents'
    cards (fewer than the connections), at most a page per five."""
    healthy = tmp_path / "healthy.html"
    healthy.write_text(html_report.render(analysis_of(replicated(sample("clean-close"), 1000))))
    assert _pdf_pages(healthy, tmp_path) <= 3
    fleet = reports["fleet"]
    failed = sum(1 for c in _connections(fleet) if c & _failed(fleet))
    pages = _pdf_pages(fleet.html, tmp_path)
    (SHOTS / "pages.txt").write_text(
        "".join(f"{n}: {_pdf_pages(reports[n].html, tmp_path)} pages\n" for n in ("one", "merged"))
        + f"fleet: {pages} pages, {failed} failed connections\n"
    )
    assert pages <= failed / 5, (pages, failed)
