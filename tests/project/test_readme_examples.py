"""Every example in the README runs (issue 14, item 6).

The README's shell examples name files the way a support engineer's folder does
(`capture.pcapng`, `client.log`, `keys.log`); this test builds such a folder from real
sample files and runs each example line through bash, with the checkout's `wsdoctor`
first on PATH. Its YAML config example becomes the folder's `wsdoctor.yaml`. A line that
does not run `wsdoctor` must be listed in NOT_RUN with the test that covers it instead, so
a new example cannot slip past unrun.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SAMPLES

README = REPO / "README.md"
# The folder a user runs the examples in: each name, the real sample file it stands for.
FILES = {
    "capture.pcapng": "ipv6-cooked/capture.pcapng",
    "capture.pcap": "nginx-read-timeout/capture.pcap",
    "client.log": "nginx-read-timeout/client.log",
    "nginx-error.log": "nginx-read-timeout/nginx-error.log",
    "cap.pcap": "idle-1011/capture.pcap",
    "wss.pcap": "wss-keylog/capture.pcap",
    "keys.log": "wss-keylog/keys.log",
    "sslkeys.log": "wss-keylog/keys.log",
    "wss-with-secrets.pcapng": "wss-keylog/capture-with-secrets.pcapng",
    "session.har": "browser-har/session.har",
    "app.log": "browser-har/server.log",
}
# An example that does not run wsdoctor itself, or needs machines a test may not reach
# -> what runs it instead.
NOT_RUN = {
    "bash scripts/test.sh": "CI runs it (.ci/run); it runs this test",
    "pipx install .": "tests/project/test_wheel.py installs the built wheel in a clean venv",
    "python -m build && pip install dist/wsdoctor-*.whl": "tests/project/test_wheel.py",
    "scripts/fuzz.sh --minutes 30": "tests/hostile/ run the fuzz campaign on a short budget",
    "scripts/fuzz.sh --minutes 5 --kinds har,log": "tests/hostile/ (same code, other kinds)",
    # A cluster of other machines: the test starts a real one on 127.0.0.1 instead.
    "dask scheduler --port 8786": "tests/ingest/test_dask_cluster.py",
    "dask worker tcp://scheduler-host:8786 --nthreads 1": "tests/ingest/test_dask_cluster.py",
    "wsdoctor analyze /shared/case-1234/ --scheduler tcp://scheduler-host:8786 "
    "--work-dir /shared/tmp": "tests/ingest/test_dask_cluster.py",
}
# Examples whose documented purpose is a non-zero exit.
MAY_FAIL_ON = re.compile(r"--fail-on\b")


def _blocks(lang: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


def _lines(block: str) -> list[str]:
    """Example lines with their comments cut and `\\` continuations joined."""
    joined = block.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        command = re.sub(r"\s+#\s.*$", "", line).strip()
        if command:
            out.append(re.sub(r"\s+", " ", command))
    return out


EXAMPLES = [line for block in _blocks("sh") for line in _lines(block)]


def _as_run(line: str) -> str:
    """A completion line sources the script into the user's shell: bash's is run in bash
    and must register the completion; zsh's and fish's scripts must parse in their shell
    when it is installed, and be produced either way."""
    shell = re.search(r"_WSDOCTOR_COMPLETE=(\w+)_source", line)
    if not shell:
        return line
    generate = f"_WSDOCTOR_COMPLETE={shell.group(1)}_source wsdoctor"
    if shell.group(1) == "bash":
        return f"{line}; complete -p wsdoctor"
    check = f"{shell.group(1)} -n" if shutil.which(shell.group(1)) else "grep -q wsdoctor"
    return f"{generate} > completion && {check} completion && cat completion"


def _runs_wsdoctor(line: str) -> bool:
    return bool(re.search(r"(^|[|;&(]\s*|\$\(|\s)(_WSDOCTOR_COMPLETE=\S+ )?wsdoctor\b", line))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder: the named files, the samples, a rule pack of their own and the
    README's config file."""
    home = tmp_path_factory.mktemp("readme")
    (home / ".git").mkdir()  # a repository root: the config search stops here
    for name, sample in FILES.items():
        shutil.copy(SAMPLES / sample, home / name)
    with (home / "capture.pcap.gz").open("wb") as out:
        out.write(gzip.compress((home / "capture.pcap").read_bytes()))
    (home / "sample_captures").symlink_to(SAMPLES, target_is_directory=True)
    for pack in ("my-rules", "team-rules"):
        (home / pack).mkdir()
        rule = (REPO / "rules/idle-timeout/idle-gap-near-miss.yaml").read_text()
        mine = re.sub(r"^id: .*$", f"id: {pack}-idle-gap", rule, count=1, flags=re.M)
        (home / pack / "idle-gap.yaml").write_text(mine)
    return home


def _run(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("NO_COLOR", None)
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", line],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_every_example_is_run_or_accounted_for() -> None:
    unrun = [line for line in EXAMPLES if not _runs_wsdoctor(line) and line not in NOT_RUN]
    # bash scripts/demo.sh is the README's first command: test_demo runs it.
    assert unrun == ["bash scripts/demo.sh"]
    stale = set(NOT_RUN) - set(EXAMPLES)
    assert not stale, f"NOT_RUN names lines the README no longer has: {stale}"


@pytest.mark.parametrize("line", [e for e in EXAMPLES if _runs_wsdoctor(e) and e not in NOT_RUN])
def test_example_runs(line: str, workspace: Path) -> None:
    if "wsdoctor.yaml" in line or "--config" in line:
        pytest.fail("a README example naming a config file needs a file here")
    config = workspace / "wsdoctor.yaml"
    config.unlink(missing_ok=True)  # the config example has its own test
    before = time.time()
    done = _run(_as_run(line), workspace)
    allowed = {0, 1} if MAY_FAIL_ON.search(line) else {0}
    assert done.returncode in allowed, f"{line}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert done.stdout or done.stderr or _written(workspace, before), f"{line}: no output"


def _written(folder: Path, since: float) -> list[Path]:
    """Files the run wrote (reports, with or without -o), not the linked samples."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and "sample_captures" not in p.parts and p.stat().st_mtime >= since
    ]


def test_config_example(workspace: Path) -> None:
    """The README's wsdoctor.yaml, as written, in the folder a run starts from."""
    (config,) = [b for b in _blocks("yaml") if "rules:" in b]
    (workspace / "wsdoctor.yaml").write_text(config)
    try:
        done = _run("wsdoctor analyze cap.pcap --format json -o -", workspace)
    finally:
        (workspace / "wsdoctor.yaml").unlink()
    assert done.returncode in (0, 1), done.stderr
    assert f"config: {workspace / 'wsdoctor.yaml'}" in done.stderr
    assert '"rule": "team-rules-idle-gap"' in done.stdout or '"id": "team-rules-idle-gap"' in (
        done.stdout
    )


def test_demo() -> None:
    """`bash scripts/demo.sh`, the README's first command, as a user runs it: in the
    checkout, where it writes report.html and report.md (both git-ignored)."""
    done = _run("bash scripts/demo.sh", REPO)
    assert done.returncode == 0, done.stderr
    assert "NET-0001" in (REPO / "report.md").read_text()
    assert (REPO / "report.html").stat().st_size > 0
