"""Run one mutant through the real CLI and check wsdoctor's promises.

The promises (README, ../shared/contract.md):
- exit 0/1 with every requested output present (JSON parseable, with the contract's keys),
  or exit 2 with exactly one stderr line `wsdoctor: ...` naming the input file: no
  traceback, no `internal error` (`rules validate` may list several problems, each naming
  the file); any other stderr line is a `wsdoctor:` warning; no terminal control bytes;
- within a wall-clock limit, under an address-space limit (tshark inherits it);
- no marker secret planted in the input (Authorization, a `token=` query, HAR headers and
  cookies, each with `LEAK` after its first 4 characters) in any output, stdout or stderr,
  as long as the planted text survived the mutations intact;
- nothing executable in the HTML report, nor in the Markdown once rendered: no script or
  other active element, no `on*=` attribute, no link or source except the report's own
  anchors and the URLs the rule packs cite; the report's Content-Security-Policy in place.

A failure becomes a reproducer folder `fuzz-findings/<kind>-<hash>/` (the input and a
cmd.sh in the style of ../shared/crashers), one per failure signature, the smallest input
kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from . import seeds

TIMEOUT_S = float(os.environ.get("WSDOCTOR_FUZZ_TIMEOUT", "60"))
AS_LIMIT = int(os.environ.get("WSDOCTOR_FUZZ_AS_MB", "2048")) << 20
# the source tree whose `analyzer` runs (default: this checkout); relative paths resolve there
ENGINE = Path(os.environ.get("WSDOCTOR_FUZZ_ENGINE") or seeds.REPO).resolve()
FINDINGS = Path(os.environ.get("WSDOCTOR_FUZZ_FINDINGS") or seeds.REPO / "fuzz-findings")
REPORT_KEYS = {"schema", "tool", "inputs", "capture", "sessions", "findings"}
CSP = "default-src 'none'"
PWNED = Path("/tmp/wsdoctor-fuzz-PWNED")  # what the mutants' shell payloads would create


@dataclass
class Case:
    """One mutant: files to write into a fresh folder D, commands to run (with {D} and {O}
    for the input and output folders), the file an error must name."""

    kind: str
    files: dict[str, bytes]
    commands: list[list[str]]
    target: str
    seed: str
    ops: list = field(default_factory=list)
    secrets_intact: bool = False
    extra_urls: set[str] = field(default_factory=set)

    def __repr__(self) -> str:  # hypothesis prints it for a failing example: no bytes
        sizes = {k: len(v) for k, v in self.files.items()}
        return f"Case({self.kind!r}, seed={self.seed!r}, ops={self.ops!r}, sizes={sizes})"

    def size(self) -> int:
        return sum(len(v) for v in self.files.values())


@dataclass
class Run:
    argv: list[str]
    rc: int | None
    stdout: bytes
    stderr: bytes
    seconds: float
    maxrss_mb: float


class Failure(AssertionError):
    def __init__(self, signature: str, detail: str, folder: Path | None = None):
        self.signature, self.detail, self.folder = signature, detail, folder
        where = f"\nreproducer: {folder}" if folder else ""
        super().__init__(f"{signature}\n{detail}{where}")


# ---------------------------------------------------------------- running


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 30, 1 << 30))


def run_cli(args: list[str], cwd: Path) -> Run:
    """`python -m analyzer ARGS` in its own process group, killed whole at the timeout."""
    import subprocess

    argv = [sys.executable, "-m", "analyzer", *args]
    env = {k: v for k, v in os.environ.items() if k != "WSDOCTOR_DEBUG"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            preexec_fn=_limits,
            start_new_session=True,
        )
        status, usage = None, None
        while True:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, usage = st, ru
                break
            if time.monotonic() - t0 > TIMEOUT_S:
                os.killpg(proc.pid, signal.SIGKILL)
                _, st, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = 0  # reaped here; keep Popen from waiting again
        with contextlib.suppress(ProcessLookupError):  # tshark left behind by a killed parent
            os.killpg(proc.pid, signal.SIGKILL)
        seconds = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        rc = os.waitstatus_to_exitcode(status) if status is not None else None
        return Run(argv, rc, out.read(), err.read(), seconds, usage.ru_maxrss / 1024)


# ---------------------------------------------------------------- HTML


def _allowed_urls() -> set[str]:
    urls = set()
    for p in seeds.RULES.rglob("*.yaml"):
        urls.update(re.findall(r"https?://[^\s'\"<>)\]`]+", p.read_text(errors="replace")))
    return urls


ALLOWED_URLS = _allowed_urls()
ACTIVE_TAGS = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "base",
    "form",
    "input",
    "button",
    "link",
    "audio",
    "video",
    "source",
    "foreignobject",
    "animate",
    "set",
    "use",
    "image",
    "portal",
    "template",
    "noscript",
}
URL_ATTRS = {
    "href",
    "src",
    "xlink:href",
    "action",
    "formaction",
    "srcset",
    "poster",
    "background",
    "data",
    "ping",
    "cite",
}


class _Scan(HTMLParser):
    def __init__(self, allowed: set[str]):
        super().__init__(convert_charrefs=True)
        self.allowed, self.problems, self.csp = allowed, [], False
        self.style = False

    def _url_ok(self, url: str) -> bool:
        url = url.strip()
        if url.startswith("#"):
            return True
        return url in self.allowed or any(
            url.rstrip(".,;") == a.rstrip(".,;") for a in self.allowed
        )

    def handle_starttag(self, tag, attrs):
        tag = tag.lower()
        if tag in ACTIVE_TAGS:
            self.problems.append(f"active element <{tag}>")
        if tag == "style":
            self.style = True
        if tag == "meta":
            d = {k.lower(): v or "" for k, v in attrs}
            equiv = d.get("http-equiv", "").lower()
            if equiv == "content-security-policy" and CSP in d.get("content", ""):
                self.csp = True
            elif equiv:
                self.problems.append(f"<meta http-equiv={equiv}>")
        for name, value in attrs:
            name, value = name.lower(), value or ""
            if name.startswith("on"):
                self.problems.append(f"event handler attribute {name}= on <{tag}>")
            elif name in URL_ATTRS and not self._url_ok(value):
                self.problems.append(
                    f"<{tag} {name}={value[:80]!r}> not one of the report's own links"
                )
            elif name == "style" and re.search(r"url\(|expression\(|@import", value, re.I):
                self.problems.append(f"style attribute loading something: {value[:80]!r}")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "style":
            self.style = False

    def handle_data(self, data):
        if self.style and re.search(r"url\(\s*['\"]?(?!data:|#)|@import", data, re.I):
            self.problems.append("stylesheet loading something")


def html_problems(text: str, allowed: set[str], need_csp: bool = True) -> list[str]:
    scan = _Scan(allowed)
    scan.feed(text)
    scan.close()
    if need_csp and not scan.csp:
        scan.problems.append("no Content-Security-Policy meta")
    return scan.problems


def markdown_problems(text: str, allowed: set[str]) -> list[str]:
    from markdown_it import MarkdownIt

    return [
        f"markdown renders {p}"
        for p in html_problems(MarkdownIt("commonmark").render(text), allowed, need_csp=False)
    ]


# ---------------------------------------------------------------- the checks

CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


def _outputs(argv: list[str]) -> list[str]:
    """The files an analyze command was asked to write ('-' for stdout JSON)."""
    out = argv[argv.index("-o") + 1] if "-o" in argv else None
    fmts = argv[argv.index("--format") + 1].split(",") if "--format" in argv else ["html"]
    if out == "-":
        return ["-"]
    if argv[0] != "analyze":
        return []
    return [f"{out}.{'md' if f == 'md' else f}" for f in fmts]


def _norm(text: str) -> str:
    """A failure message without the numbers, paths and quoted values that vary."""
    text = re.sub(r"/\S+", "PATH", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "Q", text)
    return re.sub(r"\d+", "N", text)[:90]


def check_run(case: Case, run: Run, d: Path) -> list[tuple[str, str]]:
    """(signature, detail) for every broken promise of one command's run."""
    cmd = run.argv[3:]
    name = "rules validate" if cmd[:2] == ["rules", "validate"] else cmd[0]
    bad: list[tuple[str, str]] = []
    err = run.stderr.decode("utf-8", "replace")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if PWNED.exists():
        PWNED.unlink()
        bad.append((f"{name}: ran a command from the input", "created " + str(PWNED)))
    if run.rc is None:
        return [(f"{name}: timeout", f"killed after {run.seconds:.0f} s (limit {TIMEOUT_S:.0f} s)")]
    if run.rc < 0 or run.rc not in (0, 1, 2):
        first = lines[-1] if lines else ""
        return [
            (
                f"{name}: exit {run.rc}",
                f"exit {run.rc}; stderr: {err[-600:]}"
                + (" (address-space limit?)" if "Memory" in first or run.rc < 0 else ""),
            )
        ]
    if "Traceback" in err or "internal error" in err:
        m = re.search(r"internal error: (\w+)", err) or re.search(r"(\w+(Error|Exception))", err)
        kind = m.group(1) if m else "?"
        bad.append((f"{name}: internal error {kind}", err[-800:]))
    elif "MemoryError" in err:
        bad.append((f"{name}: MemoryError", err[-400:]))
    if CONTROL.search(run.stderr):
        bad.append((f"{name}: control bytes on stderr", repr(run.stderr[:300])))
    strays = [ln for ln in lines if not ln.startswith("wsdoctor:")]
    if strays and not bad:
        bad.append(
            (f"{name}: stderr line not from wsdoctor: {_norm(strays[0])}", "\n".join(strays[:5]))
        )
    if run.rc == 2:
        target = Path(case.target).name
        if name == "rules validate":  # every problem as file:line, then a count line
            problems = [ln for ln in lines if not re.search(r"\d+ problem\(s\) in the", ln)]
            naming = bool(problems) and all(target in ln for ln in problems)
        else:
            naming = len(lines) == 1
            if not naming:
                bad.append((f"{name}: exit 2 with {min(len(lines), 3)}+ stderr lines", err[-800:]))
            naming = bool(lines) and target in lines[-1]
        if not lines:
            bad.append((f"{name}: exit 2 and nothing on stderr", ""))
        elif not naming and not any("internal error" in s for s, _ in bad):
            bad.append((f"{name}: exit 2 without naming {target}: {_norm(lines[-1])}", err[-600:]))
        return bad
    # exit 0 / 1: the outputs
    texts: dict[str, bytes] = {}
    for out in _outputs(cmd):
        if out == "-":
            texts["stdout"] = run.stdout
            try:
                doc = json.loads(run.stdout)
            except ValueError as e:
                bad.append((f"{name}: stdout is not JSON", f"{e}: {run.stdout[:200]!r}"))
                continue
            if name == "analyze" and not set(doc) >= REPORT_KEYS:
                bad.append((f"{name}: JSON without {sorted(REPORT_KEYS - set(doc))}", ""))
            continue
        p = Path(out.replace("{O}", str(d / "out")))
        if not p.is_file() or p.stat().st_size == 0:
            bad.append((f"{name}: rc {run.rc} but no {p.suffix} report", err[-400:]))
            continue
        texts[p.name] = p.read_bytes()
        text = texts[p.name].decode("utf-8", "replace")
        allowed = ALLOWED_URLS | case.extra_urls
        if p.suffix == ".json":
            try:
                doc = json.loads(text)
                missing = REPORT_KEYS - set(doc)
                if missing:
                    bad.append((f"{name}: JSON report without {sorted(missing)}", ""))
                elif not isinstance(doc["sessions"], list) or not isinstance(doc["findings"], list):
                    bad.append((f"{name}: JSON sessions/findings not lists", ""))
            except ValueError as e:
                bad.append((f"{name}: JSON report does not parse", str(e)))
        elif p.suffix == ".html":
            for prob in html_problems(text, allowed)[:3]:
                bad.append((f"html: {_norm(prob)}", prob))
        elif p.suffix == ".md":
            for prob in markdown_problems(text, allowed)[:3]:
                bad.append((f"md: {_norm(prob)}", prob))
    if name in ("sessions", "frames") and "-" not in _outputs(cmd) and not run.stdout:
        bad.append((f"{name}: nothing on stdout", ""))
    texts["stdout"], texts["stderr"] = run.stdout, run.stderr
    if case.secrets_intact:
        for where, blob in texts.items():
            for m in re.finditer(rb"\w{0,12}LEAK\w*", blob):
                bad.append(
                    (
                        f"secret leaked into {where.split('.')[-1]}",
                        f"{m.group().decode(errors='replace')} in {where}",
                    )
                )
                break
    return bad


# ---------------------------------------------------------------- one example


def execute(case: Case) -> list[Run]:
    """Write the case, run its commands; on a broken promise save a reproducer and raise
    Failure (the first broken promise names the failure)."""
    d = Path(tempfile.mkdtemp(prefix=f"wsdoctor-fuzz-{case.kind}-"))
    try:
        for rel, data in case.files.items():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            (d / rel).write_bytes(data)
        (d / "out").mkdir()
        runs = []
        for template in case.commands:
            args = [a.replace("{D}", str(d)).replace("{O}", str(d / "out")) for a in template]
            run = run_cli(args, cwd=ENGINE)
            runs.append(run)
            problems = check_run(case, run, d)
            if problems:
                signature = f"{case.kind}: {problems[0][0]}"
                detail = "\n".join(f"- {s}: {t}" for s, t in problems)
                folder = save_reproducer(case, template, run, signature, detail)
                raise Failure(signature, detail, folder)
            # a rule pack `rules validate` accepts must not break `analyze`
            if template[:2] == ["rules", "validate"] and run.rc == 2 and len(case.commands) > 1:
                break
        return runs
    finally:
        shutil.rmtree(d, ignore_errors=True)


def save_reproducer(case: Case, template: list[str], run: Run, signature: str, detail: str) -> Path:
    """fuzz-findings/<kind>-<hash of the signature>/: the input and cmd.sh; an existing
    folder of the same signature is replaced only by a smaller input."""
    h = hashlib.sha1(signature.encode()).hexdigest()[:10]
    folder = FINDINGS / f"{case.kind}-{h}"
    meta = folder / "meta.json"
    seen = 0
    if meta.exists():
        old = json.loads(meta.read_text())
        seen = old.get("seen", 0)
        if old.get("size", 1 << 62) <= case.size():
            old["seen"] = seen + 1
            meta.write_text(json.dumps(old, indent=1))
            return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for rel, data in case.files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    rel_folder = os.path.relpath(folder, seeds.REPO)
    args = [a.replace("{D}", "$D").replace("{O}", "$O") for a in template]
    shown = " ".join(a if "$" in a else shlex.quote(a) for a in args)
    err = run.stderr.decode("utf-8", "replace").strip().splitlines()
    lines = [
        f"W=wsdoctor; D={rel_folder}; O=/tmp/wsdoctor-out/{folder.name}; mkdir -p $O",
        f"# found by scripts/fuzz.sh: {signature}",
        f"# seed: {case.seed}",
        f"# mutations: {case.ops!r}"[:1500],
        f"timeout {int(TIMEOUT_S)} $W {shown}; echo rc=$?",
        f"# -> rc={run.rc} in {run.seconds:.1f} s, peak RSS {run.maxrss_mb:.0f} MB;"
        f" stderr: {' | '.join(err[-3:])[:600]}",
    ]
    lines += [f"# {ln}" for ln in detail.splitlines()[:12]]
    lines.append(
        "# expected: exit 0/1 with valid reports (no secret, nothing executable), "
        "or exit 2 with one line naming the file, within the time limit"
    )
    (folder / "cmd.sh").write_text("\n".join(ln.replace("\n", " ") for ln in lines) + "\n")
    meta.write_text(
        json.dumps(
            {"signature": signature, "size": case.size(), "seen": seen + 1, "kind": case.kind},
            indent=1,
        )
    )
    return folder
